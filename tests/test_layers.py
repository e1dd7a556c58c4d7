"""The layering of docs/architecture.md, enforced on the source tree (AST, no imports executed).

    3 top            CLIs (`monitor.cli`, any `*.cli` / `*_cli` module), the report
    2 orchestration  config composition, wiring, sync, backfill, repoll, pipeline, daemon, cluster
    1 stages         connectors, models, alerts, monitor.matching, monitor.detect, monitor.privacy
    0 kernel         monitor.kernel: types, store, clock, text, net, secrets, duration, states, plugins

A module may import its own layer and the layers below it. Stages are independent of each other: a
stage that needs another stage's result gets it as a plain kernel value from the orchestration that
calls both (that is what lets one stage be tested, replaced or run in its own worker). Every import
counts, also those inside functions and under TYPE_CHECKING: a type annotation is a dependency too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("monitor", "connectors", "models", "alerts")
STAGES = ("connectors", "models", "alerts", "monitor.matching", "monitor.detect", "monitor.privacy")
ORCHESTRATION = (
    "monitor.config",
    "monitor.config_checks",
    "monitor.wiring",
    "monitor.sync",
    "monitor.backfill",
    "monitor.repoll",
    "monitor.pipeline",
    "monitor.daemon",
    "monitor.cluster",
    "monitor.metrics",
    "monitor.faults",
    "monitor.queries",
    "monitor.demo",
    "monitor.starter",
)
TOP = ("monitor.cli", "monitor.report")
LAYER_NAMES = {0: "kernel", 1: "stage", 2: "orchestration", 3: "CLI/report"}


def _within(module: str, prefixes: tuple[str, ...]) -> str | None:
    return next((p for p in prefixes if module == p or module.startswith(p + ".")), None)


def layer_of(module: str) -> tuple[int, str] | None:
    """(layer, unit) of a project module; unit tells stages apart. None: not placed in any layer."""
    last = module.rsplit(".", 1)[-1]
    if _within(module, TOP) or last == "cli" or last.endswith("_cli"):
        return 3, "top"
    if _within(module, ORCHESTRATION):
        return 2, "orchestration"
    if stage := _within(module, STAGES):
        return 1, stage
    if module == "monitor" or _within(module, ("monitor.kernel",)):
        return 0, "kernel"  # the bare `monitor` package holds only __version__
    return None


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(node: ast.AST, module: str, is_package: bool, root: Path) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    base = node.module or ""
    if node.level:
        anchor = module.split(".") if is_package else module.split(".")[:-1]
        anchor = anchor[: len(anchor) - (node.level - 1)]
        base = ".".join([*anchor, base] if base else anchor)
    found = []
    for alias in node.names:  # `from monitor import config` imports the module monitor.config
        candidate = f"{base}.{alias.name}"
        as_path = root.joinpath(*candidate.split("."))
        found.append(candidate if as_path.with_suffix(".py").exists() or as_path.is_dir() else base)
    return found


def project_modules(root: Path) -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            if "migrations" not in path.parts:  # Alembic revisions are generated, not layered code
                modules[_module_name(path, root)] = path
    return modules


def violations(root: Path) -> list[str]:
    """Every import that goes up a layer or across stages, and every module placed in no layer."""
    problems = []
    for module, path in project_modules(root).items():
        placed = layer_of(module)
        if placed is None:
            problems.append(f"{module}: not in any layer (add it to tests/test_layers.py and the docs)")
            continue
        layer, unit = placed
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            for target in _imported(node, module, path.name == "__init__.py", root):
                if target.split(".")[0] not in PACKAGES or (found := layer_of(target)) is None:
                    continue
                their_layer, their_unit = found
                if their_layer > layer:
                    problems.append(
                        f"{module}:{node.lineno} imports {target}: a {LAYER_NAMES[layer]} module may not "
                        f"import {LAYER_NAMES[their_layer]}"
                    )
                elif layer == their_layer == 1 and unit != their_unit:
                    problems.append(f"{module}:{node.lineno} imports {target}: stages are independent")
    return list(dict.fromkeys(problems))  # `from x import a, b` is one import, reported once


def test_no_module_imports_a_higher_layer_or_another_stage() -> None:
    assert violations(ROOT) == []


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        ("monitor/kernel/types.py", "from monitor.pipeline import score_pending\n", "kernel module may not"),
        ("connectors/x.py", "def f():\n    from monitor.daemon import Daemon\n", "stage module may not"),
        ("alerts/router.py", "from models.config import ModelConfig\n", "stages are independent"),
        (
            "monitor/kernel/net.py",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import alerts\n",
            "may not import stage",
        ),
        ("models/evaluate.py", "from monitor import wiring\n", "stage module may not import orchestration"),
        ("monitor/pipeline.py", "from monitor.cli import core\n", "orchestration module may not"),
        ("monitor/newthing.py", "x = 1\n", "not in any layer"),
    ],
)
def test_the_check_catches_each_kind_of_violation(tmp_path: Path, module: str, source: str, expected: str) -> None:
    """A tiny tree with one bad import: the checker must name it (a checker that finds nothing proves nothing)."""
    for package in PACKAGES:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    for needed in ("monitor/kernel/__init__.py", "monitor/cli/__init__.py", "monitor/wiring.py"):
        (tmp_path / needed).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / needed).touch()
    target = tmp_path / module
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(source)
    found = violations(tmp_path)
    assert len(found) == 1, found
    assert expected in found[0] and found[0].startswith(module.removesuffix(".py").replace("/", "."))
