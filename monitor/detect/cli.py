"""CLI: `repmon detect series|cascades` (run detectors on files) and `repmon eval spikes|virality`."""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path
from typing import Any

import click

PATH_IN = click.Path(exists=True, dir_okay=False, path_type=Path)
PATH_OUT = click.Path(dir_okay=False, writable=True, path_type=Path)


def _write_atomically(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    """Write to a temporary file and rename, so a failed run never leaves half an output file."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    tmp.replace(path)


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_json_safe(v) for v in obj]
    return obj


@click.command("series")
@click.argument("input_csv", type=PATH_IN)
@click.option("--output", "-o", type=PATH_OUT, required=True, help="timestamp,value,anomaly_score CSV")
def detect_series(input_csv: Path, output: Path) -> None:
    """Score a NAB-format count series (timestamp,value), strictly causally, row by row."""
    from monitor.detect.series import SeriesFormatError, read_series, score_series

    try:
        rows = list(read_series(input_csv))
    except SeriesFormatError as exc:
        raise click.ClickException(str(exc)) from exc
    scores = score_series([t for t, _ in rows], [v for _, v in rows])
    _write_atomically(
        output,
        ["timestamp", "value", "anomaly_score"],
        [[t, f"{v:g}", f"{s:.6f}"] for (t, v), s in zip(rows, scores, strict=True)],
    )
    click.echo(f"{len(rows)} rows scored, {sum(s >= 0.5 for s in scores)} alerts -> {output}", err=True)


@click.command("cascades")
@click.argument("input_csv", type=PATH_IN)
@click.option("--horizon", type=click.FloatRange(min=0), required=True, help="seconds of the cascade observed")
@click.option("--threshold", type=click.FloatRange(min=1), required=True, help="reposts that count as viral")
@click.option("--output", "-o", type=PATH_OUT, required=True)
def detect_cascades(input_csv: Path, horizon: float, threshold: float, output: Path) -> None:
    """Predict each cascade's final reposts from its events up to --horizon seconds."""
    from monitor.detect.cascades import CascadeFormatError, read_cascades
    from monitor.detect.virality import predict

    try:
        cascades = read_cascades(input_csv)
    except CascadeFormatError as exc:
        raise click.ClickException(str(exc)) from exc
    rows = []
    for c in cascades:
        p = predict(c.times, c.followers, horizon, threshold)
        rows.append([c.cascade_id, p.observed, f"{p.predicted_final:.3f}", f"{p.p_exceed:.6f}"])
    _write_atomically(output, ["cascade_id", "observed", "predicted_final", "p_exceed"], rows)
    click.echo(f"{len(rows)} cascades -> {output}", err=True)


@click.command("spikes")
@click.option(
    "--nab-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    required=True,
    help="folder with windows.json and the series it names",
)
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@click.option(
    "--compare",
    "with_compare",
    is_flag=True,
    help="also run every baseline detector through the same nested protocol (about a minute per core)",
)
def eval_spikes(nab_dir: Path, as_json: bool, with_compare: bool) -> None:
    """NAB scores of the count detector: held-out series by nested leave-one-series-out, in-sample beside."""
    from monitor.detect import compare, nab
    from monitor.detect.series import score_series

    try:
        corpus = nab.load_corpus(nab_dir)
    except (FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    scores = {s.name: score_series(s.timestamps, s.values) for s in corpus}
    result = nab.evaluate(corpus, scores)
    loo = nab.leave_one_file_out(corpus, scores) if len(corpus) > 1 else None
    fixed = nab.at_fixed_threshold(corpus, scores)
    families = compare.FAMILIES if with_compare else [f for f in compare.FAMILIES if f.name == "current"]
    table = compare.build_table(corpus, families)
    nested = compare.compare(table) if len(corpus) > 1 else {}
    if as_json:
        payload = {
            "series": [s.name for s in corpus],
            "held_out_nested": {k: v for k, v in nested.items() if k == "current"}.get("current"),
            "comparison": nested if with_compare else None,
            "profiles": result,  # in-sample: each profile with its own optimised threshold
            "standard_leave_one_file_out": loo,
            "standard_at_alert_level": fixed,
        }
        click.echo(json.dumps(_json_safe(payload), indent=1))
        return
    click.echo(f"{len(corpus)} series, {result['standard']['windows']:.0f} windows")
    if "current" in nested:
        held = nested["current"]
        click.echo(
            "HELD-OUT (nested leave-one-series-out, fire level chosen on the other series; the figure to trust): "
            + "  ".join(f"{p} {r['held_out']:.1f}" for p, r in held.items())
        )
    for name, r in result.items():
        click.echo(
            f"in-sample {name:20s} NAB {r['score']:6.1f}  threshold {r['threshold']:.3f}  "
            f"windows hit {r['windows_hit']:.0f}  FP rows {r['fp_rows']:.0f}"
        )
    if loo is not None:
        click.echo(f"standard, threshold from the other files (leave one file out): NAB {loo:.1f}")
    click.echo(f"standard, threshold 0.5 (the detector's own alerts, nothing fitted): NAB {fixed:.1f}")
    if with_compare:
        click.echo(compare.markdown(nested))


@click.command("virality")
@click.option("--cascades", "cascades_path", type=PATH_IN, required=True)
@click.option("--horizon", type=click.FloatRange(min=0), default=600.0, show_default=True)
@click.option("--threshold", type=click.FloatRange(min=1), default=20.0, show_default=True)
@click.option("--error-horizon", type=click.FloatRange(min=0), default=3600.0, show_default=True)
@click.option(
    "--holdout-only",
    is_flag=True,
    help="score only the cascade ids the shipped calibration held out (honest on its training file)",
)
@click.option("--json", "as_json", is_flag=True)
def eval_virality(
    cascades_path: Path, horizon: float, threshold: float, error_horizon: float, holdout_only: bool, as_json: bool
) -> None:
    """ROC AUC for reaching --threshold reposts from the first --horizon seconds; median relative error."""
    from monitor.detect.cascades import CascadeFormatError, read_cascades
    from monitor.detect.virality import load_params
    from monitor.detect.virality_fit import evaluate as evaluate_virality
    from monitor.detect.virality_fit import is_holdout

    try:
        cascades = read_cascades(cascades_path)
    except CascadeFormatError as exc:
        raise click.ClickException(str(exc)) from exc
    if holdout_only:
        share = float(load_params().get("holdout_share", 0.3))
        cascades = [c for c in cascades if is_holdout(c.cascade_id, share)]
    result = evaluate_virality(cascades, horizon, threshold, error_horizon=error_horizon)
    result["holdout_only"] = holdout_only
    if as_json:
        click.echo(json.dumps(_json_safe(result), indent=1))
        return
    for k, v in result.items():
        click.echo(f"{k}: {v}")


def register(cli: click.Group) -> None:
    from monitor.cli import group

    group("detect").add_command(detect_series)
    group("detect").add_command(detect_cascades)
    group("eval").add_command(eval_spikes)
    group("eval").add_command(eval_virality)


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use `repmon detect ...` / `repmon eval ...`")
