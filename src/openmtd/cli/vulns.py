"""`openmtd vulns match`: which vulnerabilities one device has, from feed files, offline.

The analyst's tool while the server side of vulnerability management is being built: read any
mix of feed files (OSV with the Android Security Bulletin, CVE JSON 5, SOFA, NVD CVE API 2.0,
detected from their content), CISA KEV and EPSS for the scoring, describe a device (platform, OS
version, patch level, model, apps) and get its findings with their evidence, its exposure score
and what to update — the same engines the server will use.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

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
from openmtd.domain.device import AppInfo, DeviceFacts
from openmtd.domain.enums import EnrollmentScenario, Platform
from openmtd.domain.errors import OpenMTDError
from openmtd.domain.vulns import EpssScore, KevEntry, VulnFinding, VulnRecord
from openmtd.engines.vulns.index import VulnIndex
from openmtd.engines.vulns.mapping import DEFAULT_MAPPING, AppMapping, parse_mapping_csv
from openmtd.engines.vulns.match import match_device_report
from openmtd.engines.vulns.recommendations import DeviceContext, recommend
from openmtd.engines.vulns.scoring import (
    ExposureScore,
    VulnSeverity,
    exposure_score,
    finding_vuln_ids,
    severity_index,
)
from openmtd.engines.vulns.versions import range_text
from openmtd.intel.vuln_feeds import parse_epss, parse_kev
from openmtd.intel.vuln_feeds.detect import RECORD_PARSERS, VulnFormat, detect_format
from openmtd.server.context import utc_now
from openmtd.server.vulns.imports import ImportSummary, import_document
from openmtd.server.vulns.protection import mark_all_stale, rematch_stale, stale_count
from openmtd.server.vulns.state import build_state
from openmtd.server.web.feeds import fetch_bytes
from openmtd.store.db import transaction

app = typer.Typer(
    help="Vulnerability feeds: import them into the server's store, match the fleet against "
    "them, or check one device against feed files offline (findings, exposure score, "
    "recommendations).",
    no_args_is_help=True,
)

EXIT_VULNERABLE = 3
_SCENARIO = {
    Platform.ANDROID: EnrollmentScenario.ANDROID_COBO,
    Platform.IOS: EnrollmentScenario.IOS_DEVICE_ENROLLMENT,
}


class Feeds:
    """What the feed files held: vulnerability records, KEV entries and EPSS scores."""

    def __init__(self) -> None:
        self.records: list[VulnRecord] = []
        self.kev: dict[str, KevEntry] = {}
        self.epss: dict[str, EpssScore] = {}
        self.problems = 0
        self.skipped = 0

    def add(self, path: Path, data: bytes) -> str:
        kind = detect_format(data)
        if kind is VulnFormat.KEV:
            entries, problems = parse_kev(data)
            self.kev.update((e.cve, e) for e in entries)
            self.problems += len(problems)
            return f"{path.name}: KEV, {len(entries)} entries"
        if kind is VulnFormat.EPSS:
            scores, problems = parse_epss(data)
            self.epss.update((s.cve, s) for s in scores)
            self.problems += len(problems)
            return f"{path.name}: EPSS, {len(scores)} scores"
        result = RECORD_PARSERS[kind](data)
        self.records.extend(result.records)
        self.problems += len(result.problems)
        self.skipped += sum(count for _reason, count in result.skipped)
        return f"{path.name}: {kind.value}, {len(result.records)} records"


def _read_feeds(paths: list[Path], *, quiet: bool) -> tuple[Feeds, list[str]]:
    feeds = Feeds()
    notes: list[str] = []
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=stderr(),
        disable=quiet or len(paths) < 2,
        transient=True,
    ) as progress:
        task = progress.add_task("reading feeds", total=len(paths))
        for path in paths:
            try:
                notes.append(feeds.add(path, path.read_bytes()))
            except OSError as e:
                fail(f"cannot read {path}: {e.strerror or e}")
            except ValueError as e:
                fail(f"{path}: {e}")
            progress.advance(task)
    return feeds, notes


def _apps(values: list[str]) -> tuple[AppInfo, ...]:
    apps = []
    for value in values:
        identifier, sep, version = value.partition("=")
        if not sep or not identifier.strip() or not version.strip():
            fail(f"--app takes IDENTIFIER=VERSION, not {value!r}", exit_code=2)
        apps.append(AppInfo(identifier=identifier.strip(), version=version.strip()))
    return tuple(apps)


def _mapping(path: Path | None) -> AppMapping:
    if path is None:
        return DEFAULT_MAPPING
    try:
        parsed = parse_mapping_csv(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        fail(f"cannot read {path}: {e}")
    for problem in parsed.problems:
        stderr().print(f"⚠ {path}:{problem.line}: {problem.reason}", markup=False)
    return DEFAULT_MAPPING.merged(parsed.mapping)


@app.command("match")
def match(
    feed: Annotated[
        list[Path],
        typer.Option(
            "--feed",
            metavar="FILE",
            help="A feed file (repeatable): OSV, CVE JSON 5, SOFA, NVD CVE API 2.0, CISA KEV "
            "or EPSS CSV, detected from its content.",
        ),
    ],
    platform: Annotated[Platform, typer.Option(help="The device's platform.")],
    os_version: Annotated[str, typer.Option(help="OS version: 14, 12L, 17.4.1 …")],
    patch_level: Annotated[
        str | None,
        typer.Option(help="Android security patch level, YYYY-MM-DD.", show_default=False),
    ] = None,
    model: Annotated[str, typer.Option(help="Model; an 'iPad' model is matched as iPadOS.")] = "",
    app_versions: Annotated[
        list[str] | None,
        typer.Option("--app", metavar="ID=VERSION", help="An installed app (repeatable)."),
    ] = None,
    mapping: Annotated[
        Path | None,
        typer.Option(
            help="CSV 'identifier,product' mapping apps to CPEs, purls or OSV packages "
            "(added to the built-in mapping).",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[bool, JsonOption] = False,
) -> None:
    """Match one device against feed files and explain the result.

    Exit status: 0 no known vulnerability, 3 vulnerable, 1 unreadable input, 2 bad usage.
    """
    level = None
    if patch_level is not None:
        try:
            level = date.fromisoformat(patch_level)
        except ValueError:
            fail(f"--patch-level is not a date (YYYY-MM-DD): {patch_level!r}", exit_code=2)
    if platform is Platform.ANDROID and level is None:
        fail("an Android device needs --patch-level (its security patch level)", exit_code=2)
    facts = DeviceFacts(
        platform=platform,
        scenario=_SCENARIO[platform],
        os_version=os_version,
        model=model,
        security_patch_level=level,
        apps=_apps(app_versions or []),
    )
    feeds, notes = _read_feeds(feed, quiet=as_json)
    index = VulnIndex.build(feeds.records)
    report = match_device_report(index, facts, _mapping(mapping))
    severities = severity_index(feeds.records, feeds.kev, feeds.epss)
    exposure = exposure_score(report.findings, severities)
    by_id = {r.id: r for r in feeds.records}
    advice = recommend(
        [("device", DeviceContext.from_facts(facts), report.findings)], by_id, severities
    )
    if as_json:
        print_json(
            {
                "feeds": notes,
                "feed_problems": feeds.problems,
                "findings": [_finding_json(f, severities) for f in report.findings],
                "problems": list(report.problems),
                "exposure": {
                    "score": exposure.score,
                    "band": exposure.band.value,
                    "explanation": exposure.explanation,
                },
                "recommendations": [r.title for r in advice],
            }
        )
    else:
        _print(
            notes, report.findings, report.problems, severities, exposure, [r.title for r in advice]
        )
    if report.findings:
        raise typer.Exit(EXIT_VULNERABLE)


def _finding_json(f: VulnFinding, severities: dict[str, VulnSeverity]) -> dict[str, object]:
    severity = _severity(f, severities)
    r = f.matched_range
    return {
        "vuln_id": f.vuln_id,
        "cve_ids": list(f.cve_ids),
        "product": f.product.value,
        "app": f.app_identifier or None,
        "package": f.package or None,
        "component": f.component or None,
        "installed_version": f.installed_version,
        "range": {
            "start": r.start,
            "start_inclusive": r.start_inclusive,
            "end": r.end,
            "end_inclusive": r.end_inclusive,
        },
        "source": f.source.value,
        "severity": severity.severity if severity else None,
        "base_score": severity.base if severity else None,
        "exploited": bool(severity and severity.exploited),
    }


def _severity(f: VulnFinding, severities: dict[str, VulnSeverity]) -> VulnSeverity | None:
    for vuln_id in finding_vuln_ids(f):
        if vuln_id in severities:
            return severities[vuln_id]
    return None


def _print(
    notes: list[str],
    findings: Sequence[VulnFinding],
    problems: tuple[str, ...],
    severities: dict[str, VulnSeverity],
    exposure: ExposureScore,
    advice: list[str],
) -> None:
    out = stdout()
    for note in notes:
        out.print(f"[dim]{escape(note)}[/]")
    for problem in problems:
        out.print(f"⚠ {escape(problem)}")
    style = {"high": "bold red", "medium": "yellow", "low": "green"}[exposure.band.value]
    out.print(
        f"Exposure [{style}]{exposure.score}/100 ({exposure.band.value})[/]: "
        f"{escape(exposure.explanation)}"
    )
    if findings:
        table = Table(title=f"{len(findings)} finding(s)")
        for column in ("Vulnerability", "Severity", "Where", "Installed", "Affected range", "Feed"):
            table.add_column(column)
        for f in findings:
            severity = _severity(f, severities)
            sev = "" if severity is None else f"{severity.severity} {severity.base:.1f}"
            if severity is not None and severity.exploited:
                sev += " [bold red]exploited[/]"
            where = f.app_identifier or f.product.value
            table.add_row(
                escape(", ".join(f.cve_ids) or f.vuln_id),
                sev,
                escape(where + (f" ({f.component})" if f.component else "")),
                escape(f.installed_version),
                escape(range_text(f.matched_range)),
                f.source.value,
            )
        out.print(table)
    for title in advice:
        out.print(f"→ {escape(title)}")


@app.command("import")
def import_feeds(
    locations: Annotated[
        list[str],
        typer.Argument(
            metavar="FILE_OR_URL...",
            help="Feed documents: OSV (incl. the Android Security Bulletin), CVE JSON 5, SOFA, "
            "NVD CVE API 2.0, CISA KEV, EPSS CSV; the format is detected from the content.",
        ),
    ],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: Annotated[bool, JsonOption] = False,
) -> None:
    """Import feed documents into the store, writing only what changed since the last import.

    Each document is one transaction: a document that is not a feed changes nothing (exit 1,
    the others are still imported); malformed records are counted and reported, never fatal.
    """
    settings = settings_from(data_dir=data_dir, database_url=database_url)
    summaries: list[ImportSummary] = []
    failures: list[str] = []
    with (
        store(settings) as sessions,
        Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=stderr(),
            disable=as_json,
            transient=True,
        ) as progress,
    ):
        task = progress.add_task("importing", total=len(locations))
        for location in locations:
            progress.update(task, description=f"importing {location}")
            try:
                data = fetch_bytes(location, max_bytes=settings.max_feed_bytes)
                with transaction(sessions) as db:
                    summary = import_document(db, data, origin=location, now=utc_now())
                summaries.append(summary)
            except OpenMTDError as e:
                failures.append(e.message)
            progress.advance(task)
    if as_json:
        print_json({"imports": [s.to_json() for s in summaries], "failures": failures})
    else:
        _print_imports(summaries, failures)
    if failures:
        raise typer.Exit(1)


def _print_imports(summaries: list[ImportSummary], failures: list[str]) -> None:
    table = Table(title="Imports")
    for column in ("Document", "Format", "Records", "New", "Changed", "Unchanged", "Problems"):
        table.add_column(column)
    for s in summaries:
        counts = (s.records, s.new, s.changed, s.unchanged, s.problems)
        table.add_row(escape(s.origin), s.format, *(str(n) for n in counts))
    out = stdout()
    if summaries:
        out.print(table)
    for s in summaries:
        for p in s.problem_samples:
            out.print(f"  ⚠ {escape(s.origin)}: {escape(p['record'])}: {escape(p['reason'])}")
    for failure in failures:
        stderr().print(f"✘ {failure}", markup=False)


@app.command("rematch")
def rematch(
    everything: Annotated[
        bool, typer.Option("--all", help="Match every active device, not only those behind.")
    ] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: Annotated[bool, JsonOption] = False,
) -> None:
    """Match the fleet against the stored feeds now, in the foreground.

    The server does this by itself in the background after every import; this command is for
    imports made while no server runs, or to see the figures. Devices whose results are older
    than the stored feeds are matched, in batches of their own transactions.
    """
    settings = settings_from(data_dir=data_dir, database_url=database_url)
    with store(settings) as sessions:
        if everything:
            with transaction(sessions) as db:
                mark_all_stale(db)
        started = time.perf_counter()
        with sessions() as db:
            state = build_state(db)
            behind = stale_count(db, state.generation)
        built = time.perf_counter()
        with Progress(
            TextColumn("matching devices"),
            BarColumn(),
            MofNCompleteColumn(),
            console=stderr(),
            disable=as_json,
            transient=True,
        ) as progress:
            task = progress.add_task("matching", total=behind)
            done = rematch_stale(
                sessions, state, clock=utc_now, progress=lambda n: progress.advance(task, n)
            )
        finished = time.perf_counter()
    figures = {
        "generation": state.generation,
        "records": len(state.index),
        "devices": done,
        "build_seconds": round(built - started, 3),
        "match_seconds": round(finished - built, 3),
    }
    if as_json:
        print_json(figures)
    else:
        stdout().print(
            f"Matched {done} device(s) against {len(state.index)} records "
            f"(generation {state.generation}): state built in {figures['build_seconds']} s, "
            f"devices matched in {figures['match_seconds']} s."
        )
