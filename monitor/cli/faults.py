"""Every command: expected operational faults -> `error: <one sentence>` and exit code 1.

Every command runs inside `FaultReportingGroup`, which turns the faults `monitor.faults.explain` knows
into one line on stderr and exit code `EXIT_FAULT` (1); the configuration's own problems keep exit code 2.
`repmon --debug …` re-raises instead, for bug reports. Anything not recognised is a bug and still shows
its traceback.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from monitor.faults import explain

EXIT_FAULT = 1
EXIT_CONFIG = 2
__all__ = ["EXIT_CONFIG", "EXIT_FAULT", "FaultReportingGroup", "explain"]


class FaultReportingGroup(click.Group):
    """The root command group: expected faults end as one line and exit code 1 (unless --debug)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit, KeyboardInterrupt):
            raise
        except Exception as exc:
            if (ctx.obj or {}).get("debug"):
                raise
            message = explain(exc)
            if message is None:
                raise
            click.echo(f"error: {message}", err=True)
            click.echo("(run with --debug for the traceback)", err=True)
            sys.exit(EXIT_FAULT)
