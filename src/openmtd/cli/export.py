"""`openmtd export`: the alert-export sinks and their delivery status, read from the database
(as `tokens list` does); the sinks are those of OPENMTD_EXPORT_SINKS."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from openmtd.cli.common import (
    DatabaseUrl,
    DataDir,
    JsonOption,
    print_json,
    settings_from,
    stdout,
    store,
)
from openmtd.server.export import service
from openmtd.store.db import transaction

app = typer.Typer(
    help="Alert export to SIEMs: webhooks and syslog (docs/alert-export.md).",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)


def _when(value: object) -> str:
    return "—" if value is None else f"{value:%Y-%m-%d %H:%M}"


@app.command()
def status(
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: Annotated[bool, JsonOption] = False,
) -> None:
    """Each configured sink: where it sends, events pending, delivered and dead, last error."""
    settings = settings_from(data_dir=data_dir, database_url=database_url)
    with store(settings) as sessions, transaction(sessions) as db:
        sinks = service.sink_statuses(db, settings.export_sinks)
    if as_json:
        print_json([dataclasses.asdict(s) | {"topics": list(s.topics)} for s in sinks])
        return
    if not sinks:
        stdout().print(
            "no export sink is configured; set OPENMTD_EXPORT_SINKS (docs/alert-export.md)"
        )
        return
    table = Table(title="Alert export sinks")
    for column in (
        "sink",
        "kind",
        "target",
        "pending",
        "delivered",
        "dead",
        "last delivery",
        "last error",
    ):
        table.add_column(column, overflow="fold")
    for s in sinks:
        table.add_row(
            s.name,
            f"{s.kind} ({s.format})",
            escape(s.target),
            str(s.pending),
            str(s.delivered),
            f"[red]{s.dead}[/]" if s.dead else "0",
            _when(s.last_delivered_at),
            escape(s.last_error or ""),
        )
    stdout().print(table)
