"""The `repmon` command line.

The root group only defines the command groups; every command is contributed by a module
registered under the `repmon.commands` entry-point group (built-ins included), whose
`register(cli)` function adds its commands to these groups.
"""

from __future__ import annotations

import logging
import sys

import click

from monitor import __version__
from monitor.cli.faults import FaultReportingGroup
from monitor.kernel import logsetup, plugins

GROUPS = {
    "db": "Database schema and maintenance.",
    "config": "Validate and inspect the configuration.",
    "model": "Prepare, train and inspect the scoring model.",
    "eval": "Measure models and detectors on labelled data.",
    "detect": "Run detectors on files (NAB series, cascades).",
    "sources": "Connectors and configured sources.",
    "mentions": "Stored mentions.",
    "outbox": "Pending and dead-lettered deliveries.",
    "cases": "Customer cases: one per customer, each with one helpdesk ticket.",
    "feedback": "Corrections made by support leads.",
    "privacy": "Data-subject requests (export, erase).",
}


@click.group(cls=FaultReportingGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="repmon")
@click.option(
    "--config",
    "config_path",
    envvar="REPMON_CONFIG",
    default="repmon.toml",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="Configuration file (TOML).",
)
@click.option("-v", "--verbose", count=True, help="More logging (-vv debug, -vvv with libraries').")
@click.option("--debug", is_flag=True, help="Show the traceback of an operational error instead of one line.")
@click.pass_context
def cli(ctx: click.Context, config_path: str, verbose: int, debug: bool) -> None:
    """reputation-monitor: brand mentions -> sentiment -> spike detection -> alerts."""
    logsetup.configure(verbose)
    ctx.ensure_object(dict)
    ctx.obj["config_path"] = config_path
    ctx.obj["debug"] = debug


for _name, _help in GROUPS.items():
    cli.add_command(click.Group(name=_name, help=_help))


def group(name: str) -> click.Group:
    """The command group `name`, for plugins adding commands to it."""
    command = cli.commands[name]
    assert isinstance(command, click.Group)
    return command


def _register_plugins() -> None:
    for name in plugins.names("commands"):
        try:
            plugins.load("commands", name)(cli)
        except Exception as exc:  # one broken plugin must not take the whole CLI down
            logging.getLogger(__name__).warning("command plugin %r not loaded: %s", name, exc)


def main() -> None:
    _register_plugins()
    sys.exit(cli.main(standalone_mode=True))
