"""The `openmtd` command: every command group, wired into one Typer app."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from openmtd import __version__
from openmtd.cli import (
    access,
    agent,
    apps,
    collect,
    integrity,
    pilot,
    serve,
    tokens,
    users,
    vulns,
    web,
)
from openmtd.cli import export as export_cli
from openmtd.cli.common import OneLineErrors

app = typer.Typer(
    cls=OneLineErrors,
    name="openmtd",
    help="openmtd: open, self-hosted Mobile Threat Defense for Android and iOS fleets.\n\n"
    "Settings come from OPENMTD_* environment variables; options override them.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("serve")(serve.serve)
app.command("pilot")(pilot.pilot)
app.add_typer(users.app, name="users")
app.add_typer(tokens.app, name="tokens")
app.add_typer(agent.app, name="agent")
app.add_typer(collect.app, name="collect")
app.add_typer(integrity.app, name="integrity")
app.add_typer(vulns.app, name="vulns")
app.add_typer(export_cli.app, name="export")
app.add_typer(access.app, name="access")
app.add_typer(web.indicators_app, name="indicators")
app.add_typer(web.feeds_app, name="feeds")
app.add_typer(web.url_app, name="url")
app.command("scan-apk")(apps.scan_apk)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"openmtd {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """openmtd: open, self-hosted Mobile Threat Defense for Android and iOS fleets."""


def main() -> None:
    """Console-script entry point: warnings of the agent and server go to stderr."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app()


if __name__ == "__main__":
    main()
