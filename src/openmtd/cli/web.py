"""`openmtd indicators`, `openmtd feeds`, `openmtd url`: web protection from the command line.

Like the other admin commands these work directly on the database through the same services
as the admin API, and record "cli" as the actor in the audit log.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.orm import Session, sessionmaker

from openmtd.cli.common import (
    DatabaseUrl,
    DataDir,
    JsonOption,
    fail,
    print_json,
    settings_from,
    stderr,
    stdout,
    store,
)
from openmtd.config import Settings
from openmtd.domain.web import IndicatorAction, IndicatorType, WebVerdict
from openmtd.intel.web_export import export_admin_csv, export_stix_bundle
from openmtd.intel.web_feeds import FeedFormat, detect_format
from openmtd.server.context import utc_now
from openmtd.server.web import feeds as feed_service
from openmtd.server.web import indicators as service
from openmtd.server.web.protection import WebProtection, judge
from openmtd.server.web.refresh import refresh_feed
from openmtd.server.web.schemas import FeedCreate, FeedOut, IndicatorCreate
from openmtd.server.web.views import feed_out, indicator_out, verdict_out
from openmtd.store.db import transaction

indicators_app = typer.Typer(
    help="Custom web indicators: add, list, import, export, delete.", no_args_is_help=True
)
feeds_app = typer.Typer(help="Threat-intelligence feeds: add, list, refresh.", no_args_is_help=True)
url_app = typer.Typer(help="Web-protection verdicts.", no_args_is_help=True)

FORMATS = ["auto", *(f.value for f in FeedFormat)]
_ACTION_STYLE = {"Block": "red", "Warn": "yellow", "Audit": "cyan", "Allow": "green"}


def _spinner(as_json: bool) -> Progress:
    """A spinner with the step and the elapsed time on stderr (silent with --json)."""
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=stderr(),
        transient=True,
        disable=as_json,
    )


def _action(action: str | None) -> str:
    if action is None:
        return "[dim]no match[/]"
    return f"[{_ACTION_STYLE.get(action, 'white')}]{action}[/]"


@indicators_app.command("add")
def add(
    type: Annotated[
        IndicatorType,
        typer.Argument(help="web: domain, url, ip; app: file_sha256, cert_sha1, package …"),
    ],
    value: Annotated[
        str,
        typer.Argument(
            help="The domain, URL, IP / CIDR network, hash, certificate thumbprint or package."
        ),
    ],
    action: Annotated[IndicatorAction, typer.Option(help="What happens on a match.")] = (
        IndicatorAction.BLOCK
    ),
    title: Annotated[str, typer.Option(help="Shown on block pages and alerts.")] = "",
    description: Annotated[str, typer.Option()] = "",
    group: Annotated[
        list[str] | None, typer.Option(help="Only devices in this group/tag; repeatable.")
    ] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: Annotated[bool, JsonOption] = False,
) -> None:
    """Add one custom indicator (it reaches agents at their next sync)."""
    body = IndicatorCreate(
        type=type,
        value=value,
        action=action,
        title=title,
        description=description,
        device_groups=group or [],
    )
    settings = settings_from(data_dir=data_dir, database_url=database_url)
    now = utc_now()
    with store(settings) as sessions, transaction(sessions) as db:
        out = indicator_out(service.create(db, body=body, actor="cli", now=now), now)
    if as_json:
        print_json(out.model_dump(mode="json"))
        return
    stdout().print(
        f"✔ indicator #{out.id}: {out.type.value} {escape(out.value)} → {_action(out.action.value)}"
    )


@indicators_app.command("list")
def list_indicators(
    search: Annotated[str, typer.Option("--search", "-s", help="Substring of value/title")] = "",
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: Annotated[bool, JsonOption] = False,
) -> None:
    """List custom indicators, newest first."""
    settings = settings_from(data_dir=data_dir, database_url=database_url)
    now = utc_now()
    with store(settings) as sessions, transaction(sessions) as db:
        rows, total = service.search(
            db, query=service.IndicatorQuery(q=search), now=now, limit=limit, offset=0
        )
        items = [indicator_out(r, now) for r in rows]
    if as_json:
        print_json({"total": total, "items": [i.model_dump(mode="json") for i in items]})
        return
    table = Table(title=f"Custom indicators ({len(items)} of {total})")
    for column in ("id", "type", "value", "action", "severity", "title", "expires", "groups"):
        table.add_column(column, overflow="fold")
    for i in items:
        table.add_row(
            str(i.id),
            i.type.value,
            escape(i.value),
            _action(i.action.value),
            i.severity.value,
            escape(i.title),
            ("[dim]expired[/] " if i.expired else "")
            + (f"{i.expires_at:%Y-%m-%d}" if i.expires_at else ""),
            escape(", ".join(i.device_groups)),
        )
    stdout().print(table)


@indicators_app.command("delete")
def delete(
    indicator_id: Annotated[int, typer.Argument(min=1)],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Delete a custom indicator."""
    settings = settings_from(data_dir=data_dir, database_url=database_url)
    with store(settings) as sessions, transaction(sessions) as db:
        service.delete(db, indicator_id=indicator_id, actor="cli", now=utc_now())
    stdout().print(f"✔ deleted indicator #{indicator_id}")


def _read(path: Path) -> str:
    data = sys.stdin.buffer.read() if str(path) == "-" else path.read_bytes()
    return data.decode("utf-8", errors="replace")


@indicators_app.command("import")
def import_(
    path: Annotated[Path, typer.Argument(help="File to import ('-' for stdin).")],
    format: Annotated[str, typer.Option(help=f"One of {', '.join(FORMATS)}.")] = "auto",
    action: Annotated[
        IndicatorAction, typer.Option(help="Action for lines that do not carry their own.")
    ] = IndicatorAction.BLOCK,
    title: Annotated[str, typer.Option(help="Title for lines without one.")] = "",
    category: Annotated[str, typer.Option()] = "Phishing",
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: Annotated[bool, JsonOption] = False,
) -> None:
    """Import indicators from a domain list, hosts file, adblock list, URL list, CSV, STIX 2.1
    bundle or the admin CSV format. Bad lines are reported with their numbers; the rest is
    imported."""
    if format not in FORMATS:
        fail(f"unknown format {format!r}; one of {', '.join(FORMATS)}", exit_code=2)
    settings = settings_from(data_dir=data_dir, database_url=database_url)
    with _spinner(as_json) as progress:
        task = progress.add_task(f"reading {path}")
        text = _read(path)
        fmt = detect_format(text, path.name) if format == "auto" else FeedFormat(format)
        progress.update(task, description=f"parsing and storing {len(text):,} characters ({fmt})")
        defaults = service.import_defaults(action=action, title=title, category=category)
        with store(settings) as sessions, transaction(sessions) as db:
            outcome = service.import_document(
                db, text=text, fmt=fmt, defaults=defaults, actor="cli", now=utc_now()
            )
    r = outcome.report
    doc = {
        "format": r.format.value,
        "lines": r.lines,
        "accepted": r.accepted,
        "created": outcome.created,
        "updated": outcome.updated,
        "unchanged": outcome.unchanged,
        "duplicates": r.duplicates,
        "ignored": r.ignored,
        "ignored_reasons": dict(r.ignored_reasons),
        "problem_count": r.problem_count,
        "problems": [{"line": p.line, "reason": p.reason, "text": p.text} for p in r.problems],
    }
    if as_json:
        print_json(doc)
        return
    out = stdout()
    out.print(
        f"✔ {r.format.value}: {r.lines:,} lines, {outcome.created:,} created, "
        f"{outcome.updated:,} updated, {outcome.unchanged:,} unchanged, "
        f"{r.duplicates:,} duplicates, {r.ignored:,} ignored, {r.problem_count:,} bad lines"
    )
    if r.problems:
        table = Table(title="Bad lines (first 100)")
        table.add_column("line", justify="right")
        table.add_column("reason")
        table.add_column("text", overflow="fold")
        for p in r.problems:
            table.add_row(str(p.line), escape(p.reason), escape(p.text))
        out.print(table)


@indicators_app.command("export")
def export(
    format: Annotated[str, typer.Option(help="csv (the admin CSV format) or stix")] = "csv",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Default: stdout")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Export every custom indicator as admin CSV or a STIX 2.1 bundle."""
    if format not in ("csv", "stix"):
        fail("--format is csv or stix", exit_code=2)
    settings = settings_from(data_dir=data_dir, database_url=database_url)
    now = utc_now()
    with store(settings) as sessions, transaction(sessions) as db:
        indicators = list(service.all_indicators(db))
    if format == "stix":
        text = orjson.dumps(
            export_stix_bundle(indicators, created=now), option=orjson.OPT_INDENT_2
        ).decode()
    else:
        text = "".join(export_admin_csv(indicators))
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text)
        stderr().print(f"✔ {len(indicators):,} indicators written to {output}", markup=False)


@feeds_app.command("add")
def feeds_add(
    name: Annotated[str, typer.Argument()],
    location: Annotated[str, typer.Argument(help="http(s) URL, or a file in a feed folder")],
    format: Annotated[str, typer.Option(help=f"One of {', '.join(FORMATS)}.")] = "auto",
    action: Annotated[IndicatorAction, typer.Option()] = IndicatorAction.BLOCK,
    refresh_minutes: Annotated[int, typer.Option(help="0: only by hand")] = 60,
    refresh: Annotated[bool, typer.Option(help="Refresh once right away.")] = True,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: Annotated[bool, JsonOption] = False,
) -> None:
    """Add a feed (and load it once)."""
    body = FeedCreate(
        name=name, location=location, format=format, action=action, refresh_minutes=refresh_minutes
    )
    settings = settings_from(data_dir=data_dir, database_url=database_url)
    with store(settings) as sessions:
        with transaction(sessions) as db:
            feed_id = feed_service.create(
                db, body=body, actor="cli", now=utc_now(), allowed_dirs=settings.allowed_feed_dirs()
            ).id
        if refresh:
            _refresh(settings, sessions, feed_id, as_json=as_json)
        with sessions() as db:
            out = feed_out(feed_service.get(db, feed_id))
    if as_json:
        print_json(out.model_dump(mode="json"))
        return
    _print_feeds([out])


def _refresh(
    settings: Settings, sessions: sessionmaker[Session], feed_id: int, *, as_json: bool
) -> None:
    with _spinner(as_json) as progress:
        progress.add_task(f"refreshing feed #{feed_id}")
        refresh_feed(sessions, feed_id=feed_id, now=utc_now(), max_bytes=settings.max_feed_bytes)


def _print_feeds(feeds: list[FeedOut]) -> None:
    table = Table(title="Feeds")
    for column in ("id", "name", "location", "format", "action", "entries", "last refresh"):
        table.add_column(column, overflow="fold")
    for f in feeds:
        last = "never"
        if f.last_refresh_at:
            r = f.last_report
            last = f"{f.last_refresh_at:%Y-%m-%d %H:%M} {f.last_status}"
            if "error" in r:
                last += f": {r['error']}"
            else:
                last += f" (+{r.get('added', 0)} −{r.get('removed', 0)}, "
                last += f"{r.get('problem_count', 0)} bad lines)"
        table.add_row(
            str(f.id),
            escape(f.name),
            escape(f.location),
            f.format,
            _action(f.action.value),
            f"{f.entry_count:,}",
            escape(last),
        )
    stdout().print(table)


@feeds_app.command("list")
def feeds_list(
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: Annotated[bool, JsonOption] = False,
) -> None:
    """List feeds with their last refresh result."""
    settings = settings_from(data_dir=data_dir, database_url=database_url)
    with store(settings) as sessions, sessions() as db:
        feeds = [feed_out(f) for f in feed_service.list_feeds(db)]
    if as_json:
        print_json([f.model_dump(mode="json") for f in feeds])
        return
    _print_feeds(feeds)


@feeds_app.command("refresh")
def feeds_refresh(
    name: Annotated[
        str | None, typer.Argument(help="Feed name (default: every enabled feed)")
    ] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: Annotated[bool, JsonOption] = False,
) -> None:
    """Refresh one feed or all enabled feeds now."""
    settings = settings_from(data_dir=data_dir, database_url=database_url)
    with store(settings) as sessions:
        with sessions() as db:
            chosen = [
                f.id for f in feed_service.list_feeds(db) if (f.name == name if name else f.enabled)
            ]
        if name and not chosen:
            fail(f"no feed named {name!r}")
        for feed_id in chosen:
            _refresh(settings, sessions, feed_id, as_json=as_json)
        with sessions() as db:
            feeds = [feed_out(feed_service.get(db, i)) for i in chosen]
    if as_json:
        print_json([f.model_dump(mode="json") for f in feeds])
        return
    _print_feeds(feeds)
    if any(f.last_status == "error" for f in feeds):
        raise typer.Exit(1)


def _print_verdict(v: WebVerdict) -> None:
    out = stdout()
    out.print(f"{_action(v.action.value if v.action else None)}  {escape(v.explanation)}")
    if v.decision is not None:
        m = v.decision.meta
        for label, value in (
            ("decided by", f"{m.kind.value} {m.source}"),
            ("matched", v.decision.expression),
            ("title", m.title),
            ("description", m.description),
            ("recommended", m.recommended_actions),
        ):
            if value:
                out.print(f"  {label:>12}: {escape(value)}")
    for other in v.matches[1:]:
        out.print(f"  {'overruled':>12}: {escape(other.action.value)} — {escape(other.reason)}")


@url_app.command("check")
def check(
    url: Annotated[str, typer.Argument(help="A URL, or a bare host / IP.")],
    group: Annotated[
        list[str] | None, typer.Option(help="Judge as a device in this group; repeatable.")
    ] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: Annotated[bool, JsonOption] = False,
) -> None:
    """The verdict for a URL with its full explanation (exit 3 when blocked, 4 when warned)."""
    settings = settings_from(data_dir=data_dir, database_url=database_url)
    groups = frozenset(group) if group else None
    with store(settings) as sessions:
        index = WebProtection(sessions).index()
    verdict = judge(index, url, now=utc_now(), device_groups=groups)
    if as_json:
        print_json(verdict_out(verdict).model_dump(mode="json"))
    else:
        _print_verdict(verdict)
    if verdict.blocks:
        raise typer.Exit(3)
    if verdict.warns:
        raise typer.Exit(4)
