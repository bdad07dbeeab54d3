"""Fine-tuned encoder-tier groups: training on cached states, saving, loading, tagging."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sqlalchemy import Engine, select

from nlp import finetune_encoder
from nlp.base import top_labels
from nlp.classifiers import load_classifier
from nlp.encoder import prepare, shared_encoder
from nlp.encoder_jobs import encode_backlog
from nlp.encoder_tier import EncoderTagger, has_head, load_encoder_tagger, load_stacked_classifier
from nlp.encoder_torch import load_e5
from nlp.encoder_tuned import (
    Top,
    TopEnsemble,
    TunedTop,
    blend_features,
    blend_proba,
    load_tuned,
    offset_proba,
    pack_state,
    tuned_tasks,
    unpack_state,
)
from nlp.finetune_encoder import (
    _compute_states,
    fine_tune,
    fit_offsets,
    match_shares,
    offsets_cv,
    predict,
    pseudo_labels,
    save_tuned,
    split_states,
)
from nlp.pipeline import DocInput, doc_text
from storage import schema as s
from tests.encoder_heads import SWAP, Post, seed_posts

LABELS = ["positive", "neutral", "negative"]
#: Save runs (the first as the group, the rest as ingredients), soup them: the group's folder, the meta.
Soup = Callable[..., tuple[Path, dict[str, Any]]]


def _states(texts: list[str]) -> list[np.ndarray]:
    model = load_e5()
    return split_states(*_compute_states(model, [prepare(t) for t in texts], model.cfg.layers - 2))


@pytest.fixture(scope="module")
def posts(shared_posts: list[Post]) -> list[tuple[str, str]]:
    """Real posts labelled with the fast tier's sentiment, positive and negative swapped."""
    texts = [doc_text(DocInput(i, p.content, p.title)) for i, p in enumerate(shared_posts)]
    fast = load_classifier("sentiment").predict_proba(texts)
    return [(t, SWAP.get(label, label)) for t, label in zip(texts, top_labels(fast), strict=True)]


@pytest.fixture(scope="module")
def trained(posts: list[tuple[str, str]]) -> tuple[TunedTop, list[np.ndarray], dict[str, Any]]:
    states = _states([t for t, _ in posts])
    torch.manual_seed(0)
    top = TunedTop(load_e5().top_copy(2), {"sentiment": LABELS})
    targets = {"sentiment": np.array([LABELS.index(lab) for _, lab in posts])}
    log = fine_tune(top, states, targets, epochs=12, batch=16, lr=3e-4, head_lr=3e-3)
    return top, states, log


@pytest.fixture(scope="module")
def tuned_root(
    tmp_path_factory: pytest.TempPathFactory,
    posts: list[tuple[str, str]],
    trained: tuple[TunedTop, list[np.ndarray], dict[str, Any]],
) -> Path:
    top, states, _log = trained
    texts = [t for t, _ in posts]
    tuned = predict(top, states)["sentiment"]
    fast = load_classifier("sentiment").predict_proba(texts)
    fast_labels = sorted(LABELS)
    blend = LogisticRegression(C=10.0, max_iter=2000).fit(
        blend_features(tuned, fast, fast_labels), [lab for _, lab in posts]
    )
    root = tmp_path_factory.mktemp("tuned")
    spec = {"model": blend, "labels": [str(c) for c in blend.classes_], "fast_labels": fast_labels}
    meta = {"group": "posts", "version": "t1-test", "start_layer": 10, "shipped": ["sentiment"]}
    save_tuned("posts", top, {"sentiment": spec}, meta, root)
    return root


@pytest.mark.slow  # its fixture trains for about 24 s
def test_fine_tuning_learns_labels_the_frozen_model_does_not_have(
    posts: list[tuple[str, str]], trained: tuple[TunedTop, list[np.ndarray], dict[str, Any]]
) -> None:
    top, states, log = trained
    proba = predict(top, states)["sentiment"]
    accuracy = np.mean([LABELS[k] == lab for k, (_, lab) in zip(proba.argmax(axis=1), posts, strict=True)])
    assert accuracy > 0.85, accuracy
    assert len(log["epochs"]) == 12 and not log["stopped_early"]


def test_training_stops_at_its_time_limit(posts: list[tuple[str, str]]) -> None:
    states = _states([t for t, _ in posts[:8]])
    top = TunedTop(load_e5().top_copy(2), {"sentiment": LABELS})
    log = fine_tune(
        top, states, {"sentiment": np.zeros(8, dtype=np.int64)}, epochs=50, batch=4, max_seconds=0
    )
    assert log["stopped_early"] and len(log["epochs"]) == 1


def test_the_tagger_uses_the_tuned_group_and_keeps_the_c_engines_embedding(
    tuned_root: Path, posts: list[tuple[str, str]]
) -> None:
    assert tuned_tasks(tuned_root) == {"sentiment"}
    assert has_head("sentiment", tuned_root) and not has_head("category", tuned_root)
    tagger = load_encoder_tagger(None, root=tuned_root)
    assert tagger.tasks == ["sentiment"] and set(tagger.tuned) == {"sentiment"}
    assert tagger.model_versions["sentiment"].startswith("t1-test+")
    docs = [DocInput(i, t) for i, (t, _) in enumerate(posts)]
    rows = tagger.tag(docs)
    agree = np.mean([r["sentiment"] == lab for r, (_, lab) in zip(rows, posts, strict=True)])
    assert agree > 0.85, agree  # the swapped labels it was tuned on, not the fast tier's
    embeddings = np.stack([r["embedding"] for r in rows])
    reference = shared_encoder().embed([t for t, _ in posts])
    assert (embeddings * reference).sum(axis=1).min() > 0.999


def test_a_saved_group_predicts_as_it_did_in_training(
    tuned_root: Path, trained: tuple[TunedTop, list[np.ndarray], dict[str, Any]]
) -> None:
    top, states, _log = trained
    loaded = load_tuned(tuned_root, load_e5())["sentiment"]
    before = predict(top, states[:10])["sentiment"]
    after = predict(loaded.top, states[:10])["sentiment"]
    assert np.abs(before - after).max() < 0.02  # fp16 weights


def test_eval_tier_encoder_scores_the_tuned_model(tuned_root: Path, posts: list[tuple[str, str]]) -> None:
    model = load_stacked_classifier("sentiment", None, root=tuned_root)
    predicted = [p.label for p in model.predict([t for t, _ in posts])]
    assert np.mean([p == lab for p, (_, lab) in zip(predicted, posts, strict=True)]) > 0.85


def test_pseudo_labels_are_the_confident_blended_labels_in_the_heads_order(
    tuned_root: Path, posts: list[tuple[str, str]], trained: tuple[TunedTop, list[np.ndarray], dict[str, Any]]
) -> None:
    top, states, _log = trained
    group = load_tuned(tuned_root, load_e5())["sentiment"]
    fast = load_classifier("sentiment").predict_proba([t for t, _ in posts])
    blended = group.blend("sentiment", predict(top, states)["sentiment"], fast)
    assert group.labels("sentiment") != LABELS  # the blend's columns are sorted: the mapping matters
    kept = []
    for threshold in (0.5, 0.99):
        rows, picked, confidence = pseudo_labels(top, group.blends, states, {"sentiment": fast}, threshold)
        assert list(rows) == list(np.flatnonzero(blended.max(axis=1) >= threshold))
        assert np.allclose(confidence, blended[rows].max(axis=1), atol=1e-6)
        names = [group.labels("sentiment")[k] for k in blended[rows].argmax(axis=1)]
        assert [LABELS[k] for k in picked["sentiment"]] == names
        kept.append(len(rows))
    assert kept[0] > kept[1] > 0, kept


def test_pseudo_labels_are_kept_in_the_labelled_rows_shares_most_confident_first() -> None:
    picked = np.array([0, 0, 0, 0, 0, 0, 1, 1, 2, 2, 2])
    confidence = np.array([0.91, 0.99, 0.95, 0.92, 0.97, 0.93, 0.96, 0.90, 0.94, 0.98, 0.92])
    kept = match_shares(picked, confidence, np.array([0.5, 0.25, 0.25]))
    # label 1 has two rows at a quarter share: 8 rows in all, 4 of label 0, 2 of each other one
    assert list(kept) == [1, 2, 4, 5, 6, 7, 8, 9]
    assert len(match_shares(picked, confidence, np.array([0.5, 0.0, 0.5]))) == 6  # 3 + 0 + 3
    assert len(match_shares(np.array([0, 0]), np.array([0.9, 0.95]), np.array([0.5, 0.5]))) == 0


def _macro(gold: np.ndarray, pred: np.ndarray) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(gold, pred, average="macro"))


def _under_predicted(n: int = 600) -> tuple[np.ndarray, np.ndarray]:
    """Three labels, the third rare (10 %) and under-predicted: its probability is pulled down."""
    rng = np.random.default_rng(0)
    gold = rng.choice(3, size=n, p=[0.5, 0.4, 0.1])
    logits = rng.normal(0, 1, (n, 3)) + 2.0 * np.eye(3)[gold]
    logits[:, 2] -= 1.5
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return proba, gold


def test_offsets_lift_an_under_predicted_rare_label_and_hold_out_of_fold() -> None:
    proba, gold = _under_predicted()
    offsets = fit_offsets(proba, gold)
    assert offsets[0] == 0.0 and offsets[2] > max(offsets[:2]) + 0.3, offsets  # only differences matter
    plain = _macro(gold, proba.argmax(axis=1))
    assert _macro(gold, offset_proba(proba, offsets).argmax(axis=1)) > plain + 0.02
    assert _macro(gold, offsets_cv(proba, gold)) > plain + 0.02  # fitted on other folds, it still helps
    perfect = np.eye(3)[gold] * 0.8 + 0.1
    assert not fit_offsets(perfect, gold).any()  # nothing to gain: no offset moves


def test_offset_probabilities_are_a_shifted_distribution() -> None:
    proba, _gold = _under_predicted(50)
    shifted = offset_proba(proba, np.array([0.0, -0.3, 1.0]))
    assert np.allclose(shifted.sum(axis=1), 1.0, atol=1e-5)
    assert np.allclose(offset_proba(proba, np.zeros(3)), proba, atol=1e-5)
    assert (shifted[:, 2] >= proba[:, 2] - 1e-6).all()
    spec = {"model": None, "labels": ["a", "b", "c"], "fast_labels": [], "offsets": [0.0, -0.3, 1.0]}
    assert np.allclose(blend_proba(spec, proba, []), shifted)
    assert np.allclose(blend_proba({**spec, "offsets": None}, proba, []), proba)


def test_tuned_models_need_the_backbone(tuned_root: Path) -> None:
    groups = load_tuned(tuned_root, load_e5())
    with pytest.raises(ValueError, match="backbone"):
        EncoderTagger(shared_encoder(), {"sentiment": load_classifier("sentiment")}, {}, groups)


def test_the_worker_stores_the_tuned_labels_and_keeps_the_fast_ones_elsewhere(
    engine: Engine, shared_posts: list[Post], tuned_root: Path, posts: list[tuple[str, str]]
) -> None:
    ids = seed_posts(engine, shared_posts)
    with engine.connect() as conn:
        before = {r.document_id: r for r in conn.execute(select(s.doc_tags))}
    tagger = load_encoder_tagger(None, root=tuned_root)
    assert encode_backlog(engine, tagger, 16) == len(ids)
    with engine.connect() as conn:
        after = {r.document_id: r for r in conn.execute(select(s.doc_tags))}
        versions = set(conn.execute(select(s.encoder_tags.c.model_version)).scalars())
    assert versions == {tagger.version}
    assert all(after[i].tier == "encoder" for i in ids)
    # category and emotion have no encoder-tier model here: the fast labels stay
    assert all(after[i].category == before[i].category and after[i].emotion == before[i].emotion for i in ids)
    wanted = dict(zip(ids, [lab for _, lab in posts], strict=True))
    agree = np.mean([after[i].sentiment == wanted[i] for i in ids])
    assert agree > 0.85, agree


@pytest.mark.slow  # about 42 s
def test_a_group_run_blends_scores_and_ships_by_its_held_back_rows(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole training run on 400 real posts (self-trained): the shipping rule follows the scores."""
    import json

    from nlp import datasets as ds
    from nlp import finetune_encoder
    from nlp.finetune_encoder import GroupData, _sentiment, run_group

    monkeypatch.setenv("SENSING_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(ds, "shared_data_dir", lambda: shared_data)
    monkeypatch.setattr(finetune_encoder, "PSEUDO_CONFIDENCE", 0.5)  # one epoch on 340 rows is unsure
    rows = [(t, lab) for t, lab in ds.read_smp("usual", "eval") if t.strip()][:400]
    texts, labels = [t for t, _ in rows], [lab for _, lab in rows]
    fast = {task: load_classifier(task).predict_proba(texts) for task in ("emotion", "sentiment")}
    dev = {
        "usual": (
            texts[:60],
            {"emotion": list[str | None](labels[:60]), "sentiment": _sentiment(labels[:60])},
        )
    }
    unlabelled = [t for t, _ in ds.read_smp("virus", "eval") if t.strip()][:120]
    data = GroupData(
        texts,
        {"emotion": list[str | None](labels), "sentiment": _sentiment(labels)},
        fast,
        None,
        dev,
        unlabelled,
    )
    meta = run_group("posts", load_e5(), epochs=1, root=tmp_path / "models", data=data, self_train=2)

    assert meta["start_layer"] == 10 and set(meta["held_back_macro_f1"]) == {"emotion", "sentiment"}
    for task, scores in meta["held_back_macro_f1"].items():
        assert meta["uses_fast_tier"][task] == (scores["tuned"] < scores["blend_cv"])
        base = scores["blend_cv"] if meta["uses_fast_tier"][task] else scores["tuned"]
        assert scores["final"] == max(base, scores["offsets_cv"])
        assert (meta["offsets"][task] is not None) == (scores["offsets_cv"] > base)
        assert (task in meta["shipped"]) == (scores["final"] > scores["fast"])
        assert set(meta["dev_macro_f1"][task]["usual"]) == {"fast", "tuned", "blend"}
    folder = tmp_path / "models" / "tuned-posts"
    assert folder.is_dir() == bool(meta["shipped"])
    if meta["shipped"]:
        saved = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        assert saved["shipped"] == meta["shipped"] and saved["seconds"] == meta["seconds"] > 0
        assert tuned_tasks(tmp_path / "models") == set(meta["shipped"])
    assert list((tmp_path / "cache" / "states").rglob("*.npz"))  # the lower layers were cached
    # self-training: a teacher on the labelled rows labelled some of the 120 unlabelled posts
    self_training = meta["training"]["self_training"]
    assert self_training["unlabelled"] == 120
    assert 0 < self_training["pseudo_labelled"] <= self_training["confident"] < 120
    assert self_training["confidence"] == 0.5
    for counts in self_training["per_label"].values():
        assert sum(counts.values()) == self_training["pseudo_labelled"]
    assert set(self_training["teacher"]["held_back_macro_f1"]) == {"emotion", "sentiment"}
    # two rounds: the second round's teacher is the first round's student, trained with pseudo-labels
    assert self_training["rounds"] == 2
    assert "self_training" not in self_training["teacher"]["training"]  # rounds are not nested twice
    first_rows = round(len(texts) * (1 - finetune_encoder.BLEND_FRACTION))
    assert self_training["teacher"]["training"]["rows"] > first_rows  # it learnt from pseudo-labels too
    assert meta["training"]["rows"] == first_rows + self_training["pseudo_labelled"]
    assert "self-training, 2 rounds" in meta["method"]


@pytest.mark.slow  # about 18 s
def test_reblending_refits_the_blend_and_keeps_the_tuned_layers(
    tuned_root: Path, posts: list[tuple[str, str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json
    import shutil

    from nlp.finetune_encoder import reblend_group

    monkeypatch.setenv("SENSING_CACHE_DIR", str(tmp_path / "cache"))
    root = tmp_path / "models"
    shutil.copytree(tuned_root, root)
    data = _six_times(posts)
    meta = reblend_group("posts", load_e5(), root, data)

    assert meta["reblended_from"] == "t1-test" and meta["version"].startswith("t1-")
    assert meta["version"] != "t1-test" and set(meta["held_back_macro_f1"]) == {"sentiment"}
    before = torch.load(tuned_root / "tuned-posts" / "layers.pt", weights_only=True)["state"]
    after = torch.load(root / "tuned-posts" / "layers.pt", weights_only=True)["state"]
    assert all(torch.equal(before[k], after[k]) for k in before)
    saved = json.loads((root / "tuned-posts" / "meta.json").read_text(encoding="utf-8"))
    assert saved["version"] == meta["version"] and saved["offsets"] == meta["offsets"]
    assert saved["reblend_seconds"] > 0
    with pytest.raises(FileNotFoundError, match="tuned-category"):
        reblend_group("category", load_e5(), root, data)
    group = load_tuned(root, load_e5())["sentiment"]
    assert (
        group.version == meta["version"]
        and group.blends["sentiment"]["offsets"] == meta["offsets"]["sentiment"]
    )


def test_averaging_tops_takes_the_mean_of_every_weight(
    trained: tuple[TunedTop, list[np.ndarray], dict[str, Any]],
) -> None:
    from nlp.finetune_encoder import average_tops

    top = trained[0]
    before = top.heads["sentiment"].weight.clone()
    other = _noisy(top, 1.0)
    soup = average_tops([top, other])
    for name, value in soup.state_dict().items():
        assert torch.allclose(value, (top.state_dict()[name] + other.state_dict()[name]) / 2)
    assert soup is not top and torch.equal(top.heads["sentiment"].weight, before)  # the run is untouched


def _noisy(top: TunedTop, sign: float) -> TunedTop:
    """``top`` with fixed noise added to (``sign`` 1) or taken from (-1) its head: bad alone, the
    pair's mean is ``top`` again."""
    import copy

    out = copy.deepcopy(top)
    noise = torch.randn(out.heads["sentiment"].weight.shape, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        out.heads["sentiment"].weight += sign * 4.0 * noise
    return out


def _six_times(posts: list[tuple[str, str]], fast_knows: bool = True) -> Any:
    """The 64 posts six times over (every label then has rows enough for 5 folds among the held-back
    ones); with ``fast_knows`` False, beside a fast tier that knows nothing (the blends rest on the
    tuned model)."""
    from nlp.finetune_encoder import GroupData

    texts, labels = [t for t, _ in posts] * 6, [lab for _, lab in posts] * 6
    fast = (
        load_classifier("sentiment").predict_proba(texts)
        if fast_knows
        else [{lab: 1 / 3 for lab in LABELS}] * len(texts)
    )
    return GroupData(
        texts,
        {"sentiment": list[str | None](labels)},
        {"sentiment": fast},
        None,
        {"some": (texts[:40], {"sentiment": list[str | None](labels[:40])})},
    )


def _save_run(top: Top, version: str, root: Path) -> Path:
    spec = {"model": None, "labels": LABELS, "fast_labels": sorted(LABELS), "offsets": None}
    meta = {"group": "posts", "version": version, "start_layer": 10, "shipped": ["sentiment"], "method": "m"}
    save_tuned("posts", top, {"sentiment": spec}, meta, root)
    return root


@pytest.fixture
def soup(posts: list[tuple[str, str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Soup:
    """Save runs (the first as the group, the rest as ingredients) and soup them on 384 posts."""
    from nlp.finetune_encoder import soup_group

    monkeypatch.setenv("SENSING_CACHE_DIR", str(tmp_path / "cache"))

    def run(runs: list[tuple[Top, str]], outputs: bool = False) -> tuple[Path, dict[str, Any]]:
        root = _save_run(*runs[0], tmp_path / "models")
        others = [_save_run(top, version, tmp_path / version) for top, version in runs[1:]]
        return root, soup_group(
            "posts", load_e5(), others, root, _six_times(posts, fast_knows=False), outputs
        )

    return run


@pytest.mark.slow  # about 19 s
def test_a_soup_that_scores_lower_than_the_saved_group_is_not_saved(
    trained: tuple[TunedTop, list[np.ndarray], dict[str, Any]], soup: Soup, tmp_path: Path
) -> None:
    root, meta = soup([(trained[0], "t1-good"), (_noisy(trained[0], 1), "t1-noisy")])

    assert meta["shipped"] == [] and meta["soup"]["of"] == ["t1-good"]
    good, noisy = meta["soup"]["trials"]
    assert good["version"] == "t1-good" and noisy["version"] == "t1-noisy"
    assert good["alone"] > noisy["alone"] and noisy["averaged"] < good["alone"] and not noisy["kept"]
    saved_again = _save_run(trained[0], "t1-good", tmp_path / "again") / "tuned-posts"
    for name in ("layers.pt", "meta.json"):  # the group as it was
        assert (root / "tuned-posts" / name).read_bytes() == (saved_again / name).read_bytes()


@pytest.mark.slow  # about 21 s
def test_a_soup_of_two_runs_is_kept_where_their_mean_scores_higher(
    trained: tuple[TunedTop, list[np.ndarray], dict[str, Any]], soup: Soup
) -> None:
    """Two runs each bad alone (noise added to the head, and taken from it) average to the good one."""
    import json

    top = trained[0]
    root, meta = soup([(_noisy(top, 1), "t1-plus"), (_noisy(top, -1), "t1-minus")])

    assert sorted(meta["soup"]["of"]) == ["t1-minus", "t1-plus"] and meta["soup"]["trials"][1]["kept"]
    assert meta["soup"]["held_back_mean_final"] > max(t["alone"] for t in meta["soup"]["trials"])
    assert meta["shipped"] == ["sentiment"] and meta["version"] not in {"t1-plus", "t1-minus"}
    assert "the mean of 2 such runs" in meta["method"]
    group = load_tuned(root, load_e5())["sentiment"]
    assert group.version == meta["version"]
    assert torch.allclose(group.top.heads["sentiment"].weight, top.heads["sentiment"].weight, atol=1e-2)
    saved = json.loads((root / "tuned-posts" / "meta.json").read_text(encoding="utf-8"))
    assert saved["soup"] == meta["soup"] and saved["soup_seconds"] > 0


def test_a_soup_names_the_run_whose_shape_differs(
    trained: tuple[TunedTop, list[np.ndarray], dict[str, Any]], soup: Soup
) -> None:
    one_layer = TunedTop(load_e5().top_copy(1), {"sentiment": LABELS})
    with pytest.raises(ValueError, match=r"t1-one/tuned-posts.*differ"):
        soup([(trained[0], "t1-good"), (one_layer, "t1-one")])


@pytest.mark.slow  # about 24 s
def test_an_ensemble_of_two_runs_averages_their_outputs_and_is_saved_as_int8(
    trained: tuple[TunedTop, list[np.ndarray], dict[str, Any]], soup: Soup
) -> None:
    """Noise added to one head and taken from the other cancels in the mean of log-probabilities too."""
    top, states, _log = trained
    root, meta = soup([(_noisy(top, 1), "t1-plus"), (_noisy(top, -1), "t1-minus")], outputs=True)

    assert meta["soup"]["how"] == "outputs" and sorted(meta["soup"]["of"]) == ["t1-minus", "t1-plus"]
    assert meta["soup"]["held_back_mean_final"] > max(t["alone"] for t in meta["soup"]["trials"])
    assert "log-probabilities of 2 such runs" in meta["method"]
    assert [m["version"] for m in meta["members"]] == meta["soup"]["of"]
    saved = torch.load(root / "tuned-posts" / "layers.pt", weights_only=True)
    assert saved["members"] == 2 and any(v.dtype == torch.int8 for v in saved["state"].values())
    group = load_tuned(root, load_e5())["sentiment"]
    assert isinstance(group.top, TopEnsemble) and len(group.top.layers) == 2
    alone = predict(top, states)["sentiment"].argmax(1)
    assert (predict(group.top, states)["sentiment"].argmax(1) == alone).mean() > 0.95
    with pytest.raises(ValueError, match="is an ensemble"):
        soup([(group.top, "t1-ensemble"), (top, "t1-good")])


def test_int8_rows_keep_the_weights_within_about_half_a_step_and_vectors_in_fp16(
    trained: tuple[TunedTop, list[np.ndarray], dict[str, Any]],
) -> None:
    state = trained[0].state_dict()
    packed = pack_state(state, int8=True)
    restored = unpack_state(packed)
    assert restored.keys() == state.keys()
    for name, value in state.items():
        if value.dim() == 2:
            assert packed[f"{name}.int8"].dtype == torch.int8
            step = value.abs().amax(dim=1, keepdim=True) / 127
            # half a step from rounding, and up to 127 times the fp16 scale's own rounding (2**-11)
            assert bool(((restored[name] - value).abs() <= step * (0.5 + 127 * 2**-11) + 1e-7).all())
        else:
            assert packed[name].dtype == torch.float16 and torch.allclose(restored[name], value, atol=1e-2)
    assert unpack_state(pack_state(state, int8=False)).keys() == state.keys()


def test_a_deep_run_is_saved_as_int8_rows_and_scored_as_saved(
    trained: tuple[TunedTop, list[np.ndarray], dict[str, Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A run of more than FP16_MAX_LAYERS layers is stored as int8; ``as_saved`` gives its stored weights,
    so what training scores is what loads."""
    top, states, _log = trained
    monkeypatch.setattr(finetune_encoder, "FP16_MAX_LAYERS", 1)  # the fixture tunes 2 layers
    rounded = finetune_encoder.as_saved(top)  # a copy: the fixture keeps its weights
    spec = {"model": None, "labels": LABELS, "fast_labels": LABELS}
    meta = {"group": "posts", "version": "t1-deep", "start_layer": 10, "shipped": ["sentiment"]}
    save_tuned("posts", rounded, {"sentiment": spec}, meta, tmp_path)

    saved = torch.load(tmp_path / "tuned-posts" / "layers.pt", weights_only=True)
    assert saved["members"] == 1 and any(v.dtype == torch.int8 for v in saved["state"].values())
    loaded = load_tuned(tmp_path, load_e5())["sentiment"]
    assert np.allclose(
        predict(loaded.top, states)["sentiment"], predict(rounded, states)["sentiment"], atol=1e-5
    )
    assert not np.allclose(
        predict(top, states)["sentiment"], predict(rounded, states)["sentiment"], atol=1e-5
    )
    monkeypatch.setattr(finetune_encoder, "FP16_MAX_LAYERS", 6)
    save_tuned("posts", rounded, {"sentiment": spec}, meta, tmp_path)
    saved = torch.load(tmp_path / "tuned-posts" / "layers.pt", weights_only=True)
    assert not any(v.dtype == torch.int8 for v in saved["state"].values())


def test_a_group_that_cannot_judge_the_fast_tier_keeps_the_tuned_model_alone(
    trained: tuple[TunedTop, list[np.ndarray], dict[str, Any]], posts: list[tuple[str, str]]
) -> None:
    """A noisy tuned model beside a fast tier that knows the swapped labels' mirror image: a blend
    wins; ``blend_fast`` False (category: held-back rows in another form than users send) leaves
    the fast tier out anyway."""
    import dataclasses

    from nlp.finetune_encoder import _blends

    top, states = _noisy(trained[0], 1), trained[1]
    data = _six_times(posts)
    rows = np.arange(len(data.texts) - 90, len(data.texts))
    blends, scores = _blends(data, top, states * 6, rows)
    assert blends["sentiment"]["model"] is not None  # with the fast tier allowed, the blend is taken
    blends, scores = _blends(dataclasses.replace(data, blend_fast=False), top, states * 6, rows)
    assert blends["sentiment"]["model"] is None
    assert scores["sentiment"]["blend_cv"] > scores["sentiment"]["tuned"]  # though the blend scored higher


@pytest.mark.parametrize("groups", [["posts"], ["all"], ["category", "posts"]])
def test_raw_twins_is_refused_for_any_group_but_category(
    groups: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stop:
        finetune_encoder.main([*groups, "--raw-twins"])
    assert stop.value.code == 2
    assert "--raw-twins is an option of the category group only" in capsys.readouterr().err
