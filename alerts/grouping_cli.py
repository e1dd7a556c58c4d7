"""`repmon eval grouping [--calibrate]`: story grouping measured on a set built from ../shared/data.

Registered under `repmon.commands` like every other command module; the work is in alerts/grouping_eval.py.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click


def register(cli: click.Group) -> None:
    from monitor.cli import group

    group("eval").add_command(eval_grouping)


def default_data_dir() -> Path:
    """Where the shared data lives next to a checkout (or a worktree one level deeper)."""
    if root := os.environ.get("REPMON_SHARED_DATA"):
        return Path(root) / "sentiment" / "train"
    for up in (Path(".."), Path("../..")):
        if (candidate := up / "shared" / "data" / "sentiment" / "train").is_dir():
            return candidate
    return Path("../shared/data/sentiment/train")


@click.command("grouping")
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder of the labelled sentiment JSON Lines files (negative posts are read from it, never copied); "
    "default: $REPMON_SHARED_DATA/sentiment/train, else ../shared/data/sentiment/train.",
)
@click.option(
    "--calibrate",
    is_flag=True,
    help="Choose the semantic threshold for the scorer's model version on the calibration half and store it "
    "in alerts/similarity_calibration.json (run this whenever the scorer changes).",
)
@click.option("--per-language", type=click.IntRange(min=10), default=150, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--calibration-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Read/write thresholds here instead of the packaged file (experiments: the pipeline reads the packaged "
    "one).",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def eval_grouping(
    ctx: click.Context,
    data_dir: Path | None,
    calibrate: bool,
    per_language: int,
    seed: int,
    calibration_file: Path | None,
    as_json: bool,
) -> None:
    """Pairwise precision and recall per retelling type of story grouping, with the configured scorer."""
    from alerts.grouping_eval import GroupingDataError, evaluate, format_report
    from monitor import config as cfg
    from monitor.wiring import load_scorer

    try:
        config = cfg.load_config(ctx.find_root().obj["config_path"], missing_ok=True, require_secrets=False)
    except cfg.ConfigError as exc:
        for problem in exc.problems:
            click.echo(f"error: {problem}", err=True)
        sys.exit(2)
    data_dir = data_dir or default_data_dir()
    if not data_dir.is_dir():
        raise click.ClickException(f"{data_dir} not found: pass --data with the shared sentiment/train folder")
    try:
        scorer = load_scorer(config.model)
        report = evaluate(
            data_dir,
            scorer,
            per_language=per_language,
            seed=seed,
            do_calibrate=calibrate,
            config=config.alerts.stories,
            calibration_path=calibration_file,
            progress=lambda line: click.echo(line, err=True),
        )
    except (GroupingDataError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from exc
    except OSError as exc:  # e.g. the packaged calibration file is read-only in a system install
        raise click.ClickException(
            f"cannot write the calibration ({exc.strerror}: {exc.filename}); run from a writable checkout"
        ) from exc
    if calibrate and report.get("calibrated") is None:
        click.echo("no threshold on the grid keeps merges under the target: semantic merging stays off", err=True)
    click.echo(json.dumps(report, indent=1) if as_json else format_report(report))
