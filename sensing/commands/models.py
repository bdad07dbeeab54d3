"""Click commands of the NLP package: ``sensing eval`` and ``sensing train``.

The lead registers :data:`eval_cmd` and :data:`train_cmd` on the ``sensing`` group.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import click

from kernel.labels import TASK_CODES
from nlp.base import ModelNotFoundError, TextClassifier
from nlp.encoder import EncoderUnavailableError
from sensing.app import App, pass_app

logger = logging.getLogger(__name__)

EVAL_TASKS = (*TASK_CODES, "topics")


def _evaluate_topics(path: Path, tier: str) -> dict[str, Any]:
    from nlp.evaluate import read_labelled_file
    from nlp.topics.evaluate import evaluate_topics  # loads BERTopic: only when topics are evaluated

    rows = read_labelled_file(path)
    texts = [t for t, _ in rows]
    embeddings = None
    if tier == "encoder":  # cluster the encoder's embeddings instead of the n-gram LSA's
        from nlp.encoder import shared_encoder

        embeddings = shared_encoder().embed(texts)
    result = evaluate_topics(texts, [lab for _, lab in rows], embeddings=embeddings)
    return {**result, "tier": tier}


@click.command("eval")
@click.argument("task", type=click.Choice(EVAL_TASKS))
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a report.")
@click.option(
    "--backend", default=None, help="default or transformers (default: as configured in nlp.<task>)."
)
@click.option(
    "--model", "model_path", default=None, help="Model artifact or directory (default: as configured)."
)
@click.option(
    "--tier",
    type=click.Choice(["fast", "encoder"]),
    default="fast",
    show_default=True,
    help="fast: the n-gram models; encoder: what the encoder tier tags with: its fine-tuned or stacked "
    "model (nlp/models/encoder, or --model DIR) where the task has one, else the fast model.",
)
@pass_app
def eval_cmd(
    app: App, task: str, file: Path, as_json: bool, backend: str | None, model_path: str | None, tier: str
) -> None:
    """Score a model on a labelled FILE (JSON array, JSON Lines or CSV with text,label)."""
    heads = model_path  # --tier encoder: --model is the folder of encoder-tier models
    if task != "topics":
        configured = getattr(app.settings.nlp, task)
        backend = backend or configured.backend
        model_path = (None if tier == "encoder" else model_path) or configured.path
    from nlp.classifiers import load_classifier
    from nlp.evaluate import (
        EvalFileError,
        UnknownLabelError,
        evaluate_classifier,
        format_report,
        map_labels,
        read_labelled_file,
    )

    try:
        if task == "topics":
            result = _evaluate_topics(file, tier)
        else:
            examples = map_labels(task, read_labelled_file(file))
            if not examples:
                raise click.ClickException(f"{file}: no labelled rows to evaluate")
            from nlp.encoder_tier import has_head, heads_root

            root = Path(heads) if heads else heads_root(app.settings)
            stacked = tier == "encoder" and has_head(task, root)
            classifier: TextClassifier
            if stacked:
                from nlp.encoder_tier import load_stacked_classifier

                classifier = load_stacked_classifier(task, app.settings, root)
            else:  # a task without an encoder-tier model keeps the fast tier's label there too
                classifier = load_classifier(task, backend or "default", model_path)
            result = {**evaluate_classifier(classifier, examples), "tier": tier, "stacked": stacked}
    except (EvalFileError, UnknownLabelError, ModelNotFoundError, EncoderUnavailableError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False))
    elif task == "topics":
        click.echo(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        click.echo(format_report(result))


@click.command("train")
@click.argument("task", type=click.Choice(tuple(TASK_CODES)))
@click.option(
    "--extra",
    "extra_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Additional labelled rows (same formats as eval) added to the training data.",
)
@click.option("--force", is_flag=True, help="Replace the current model even if the new one scores lower.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Artifact directory (default: the shipped nlp/models/<task>).",
)
@click.option(
    "--no-corrections", is_flag=True, help="Leave out analysts' corrections stored in the database."
)
@pass_app
def train_cmd(
    app: App, task: str, extra_file: Path | None, force: bool, out_dir: Path | None, no_corrections: bool
) -> None:
    """Retrain the TASK model from the shipped data plus analysts' corrections.

    The new model is evaluated on the dev split and replaces the current one only if it scores
    at least as well (or with --force). Exits with status 1 when the new model was not saved.
    """
    from nlp.evaluate import EvalFileError, UnknownLabelError, map_labels, read_labelled_file
    from nlp.train import train_task

    extra: list[tuple[str, str]] = []
    if extra_file is not None:
        try:
            extra = map_labels(task, read_labelled_file(extra_file))
        except (EvalFileError, UnknownLabelError) as exc:
            raise click.ClickException(str(exc)) from exc
    if not no_corrections:
        corrected = stored_corrections(app, task)
        click.echo(f"{task}: {len(corrected)} analyst corrections from the database")
        extra.extend(corrected)
    report = train_task(task, extra=extra, out_dir=out_dir, only_if_better=not force)
    previous = "none" if report.previous is None else f"{report.previous:.4f}"
    click.echo(f"{task}: new dev macro-F1 {report.dev['primary']:.4f} ({report.dev}); current {previous}")
    if not report.saved:
        click.echo(f"{task}: kept the current model (new {report.dev['primary']:.4f} < current {previous})")
        raise click.exceptions.Exit(1)
    click.echo(f"{task}: saved {report.meta['version']} ({len(extra)} extra rows)")


def stored_corrections(app: App, task: str) -> list[tuple[str, str]]:
    """(text, label) of the newest correction per document, or none when the database is not set up."""
    from storage.corrections import corrections_for_training
    from storage.migrate import current_revision

    if current_revision(app.engine) is None:
        return []
    frame = corrections_for_training(app.engine, task)
    return list(zip(frame["text"], frame["label"], strict=True))
