"""`openmtd collect android`: device facts from a phone on USB, optionally enrolled and reported.

Nothing leaves this computer unless --enroll or --report is given: the collection is printed
(a table, or one JSON document with --json) and APKs are copied only into --pull-apks DIR.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table

from openmtd.agent import external
from openmtd.agent import state as agent_state
from openmtd.agent.collectors import adb as adb_collector
from openmtd.agent.collectors.adb import Adb, AdbCollection, AdbError
from openmtd.agent.onboarding import Onboarded, plan_from_options
from openmtd.agent.runner import RunResult
from openmtd.cli.common import fail, print_json, stderr, stdout
from openmtd.domain.enums import EnrollmentScenario

app = typer.Typer(
    help="Collect device facts from a phone on USB (Android over adb), and optionally enroll "
    "and report it like the agent does.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)

#: The settings shown under "security settings" in the table, as (signal, label).
_NOTABLE = (
    ("unknown_sources", "unknown sources (legacy setting)"),
    ("package_verifier", "package verifier (Play Protect)"),
    ("adb_enabled", "USB debugging"),
    ("developer_options", "developer options"),
    ("verified_boot_state", "verified boot"),
    ("bootloader_locked", "bootloader locked"),
    ("selinux", "SELinux"),
)


@app.command()
def android(
    serial: Annotated[
        str | None,
        typer.Option(
            envvar="ANDROID_SERIAL",
            help="Serial of the phone (see `adb devices`); needed when several are connected.",
            show_default=False,
        ),
    ] = None,
    adb: Annotated[
        str,
        typer.Option("--adb", metavar="PATH", help="The adb binary (a path or a name on PATH)."),
    ] = "adb",
    pull_apks: Annotated[
        Path | None,
        typer.Option(
            "--pull-apks",
            metavar="DIR",
            help="Copy the base APK of every app the user installed into DIR.",
            show_default=False,
        ),
    ] = None,
    no_hash: Annotated[
        bool, typer.Option("--no-hash", help="Do not hash the APKs on the phone (faster).")
    ] = False,
    timeout: Annotated[
        float, typer.Option(min=1, metavar="SECONDS", help="Timeout of each adb command.")
    ] = 60.0,
    scenario: Annotated[
        EnrollmentScenario | None,
        typer.Option(
            metavar="SCENARIO",
            help="Enrollment scenario (required with --enroll), e.g. android-cobo; without "
            "--enroll it only labels the facts (default: the enrolled one, else android-cobo).",
            show_default=False,
        ),
    ] = None,
    enroll: Annotated[
        bool, typer.Option("--enroll", help="Enroll the phone with --server using --token.")
    ] = False,
    server: Annotated[
        str | None,
        typer.Option(metavar="URL", help="Server URL (with --enroll).", show_default=False),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="OPENMTD_ONBOARDING_TOKEN",
            help="Onboarding token (with --enroll).",
            show_default=False,
        ),
    ] = None,
    device_tag: Annotated[
        str, typer.Option(help="Tag the phone reports (with --enroll).", show_default=False)
    ] = "",
    report: Annotated[
        bool,
        typer.Option(
            "--report", help="Send a check-in with these facts to the server it is enrolled with."
        ),
    ] = False,
    state_dir: Annotated[
        Path | None,
        typer.Option(
            help="Folder of the phone's enrollment state (default: "
            "~/.local/share/openmtd-agent/android-HARDWARE_ID, one per phone).",
            show_default=False,
        ),
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Answer yes to every enrollment confirmation.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an earlier enrollment in the state folder.")
    ] = False,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help="Print one JSON document (facts, apps, signals, warnings) on stdout."
        ),
    ] = False,
) -> None:
    """Collect an Android phone over adb: properties, apps, install sources, security settings.

    Exit codes: 0 done; 1 the phone, the server or the report failed (one line on stderr);
    2 bad usage.
    """
    if enroll:
        missing = [
            flag
            for flag, value in (("--server", server), ("--token", token), ("--scenario", scenario))
            if not value
        ]
        if missing:
            fail(f"--enroll needs {', '.join(missing)}", exit_code=2)
    elif server or device_tag or force:
        fail("--server, --device-tag and --force go with --enroll", exit_code=2)
    plan = None
    if enroll:
        assert server and token and scenario
        plan = plan_from_options(
            server_url=server, onboarding_token=token, scenario=scenario, device_tag=device_tag
        )

    driver = Adb(adb, serial=serial, timeout=timeout)
    with _progress(enabled=not as_json) as on_progress:
        try:
            collection = adb_collector.collect(
                driver,
                pull_apks_to=pull_apks,
                hash_apks=not no_hash,
                scenario=scenario or adb_collector.DEFAULT_SCENARIO,
                progress=on_progress,
            )
        except AdbError as e:
            fail(str(e))

    directory = state_dir or agent_state.default_state_dir(f"android-{collection.hardware_id}")
    if scenario is None and agent_state.exists(directory):
        # Label the facts with the scenario the phone is enrolled in.
        enrolled = agent_state.load(directory).scenario
        collection = _relabel(collection, enrolled)
    device = external.ExternalDevice(
        kind="adb",
        hardware_id=collection.hardware_id,
        name=collection.name,
        facts=collection.facts,
        integrity_signals=collection.integrity_signals,
    )

    onboarded: Onboarded | None = None
    if plan is not None:
        if agent_state.exists(directory) and not force:
            old = agent_state.load(directory)
            fail(
                f"{directory} already holds the enrollment of device {old.device_id}; pass "
                "--force to enroll again, or drop --enroll to only --report"
            )
        onboarded = external.enroll(
            plan,
            device,
            confirm=(lambda _question: True) if yes else _ask,
            state_dir=directory,
            now=datetime.now(UTC),
        )

    result: RunResult | None = None
    if report:
        if not agent_state.exists(directory):
            fail(
                f"this phone is not enrolled (no state in {directory}); add --enroll --server URL "
                "--token TOKEN --scenario SCENARIO, or give --state-dir"
            )
        result = external.report(
            directory, device, now=datetime.now(UTC), apk_files=collection.apk_files()
        )

    if as_json:
        doc = collection.to_json()
        doc["enrollment"] = _enrollment_json(onboarded, directory) if onboarded else None
        doc["report"] = result.to_json() if result else None
        print_json(doc)
    else:
        _print_table(collection)
        if onboarded is not None:
            s = onboarded.state
            stdout().print(
                f"✔ enrolled as device {s.device_id} with {s.server_url} "
                f"({s.scenario.value}, group {s.device_group!r}); state in {directory}",
                markup=False,
            )
            for warning in onboarded.enrollment.warnings:
                stderr().print(f"⚠ {warning}", markup=False)
        if result is not None and result.checkin is not None:
            c = result.checkin
            stdout().print(
                f"✔ reported (report {result.report_id}): risk {c.risk_level.value}, "
                f"{c.alerts_raised} new alert(s)",
                markup=False,
            )
    if not as_json:
        for warning in collection.warnings:
            stderr().print(f"⚠ {warning}", markup=False)
    if result is not None and result.checkin is None:
        fail(
            f"the report was not delivered ({result.spooled_because}); it is queued in "
            f"{directory} and goes first with the next --report"
        )


def _relabel(collection: AdbCollection, scenario: EnrollmentScenario) -> AdbCollection:
    return replace(collection, facts=replace(collection.facts, scenario=scenario))


def _ask(question: str) -> bool:
    """Ask on stderr, read stdin: stdout stays one clean JSON document."""
    err = typer.get_text_stream("stderr")
    err.write(f"{question} [y/N]: ")
    err.flush()
    answer = typer.get_text_stream("stdin").readline()
    if not answer:
        err.write("\n")
        fail("no answer to the confirmation (end of input); pass --yes to accept without asking")
    return answer.strip().lower() in {"y", "yes"}


def _enrollment_json(done: Onboarded, directory: Path) -> dict[str, Any]:
    s = done.state
    return {
        "device_id": s.device_id,
        "server_url": s.server_url,
        "scenario": s.scenario.value,
        "protection_scope": s.protection_scope,
        "device_group": s.device_group,
        "onboarding_mode": done.mode.value,
        "confirmations": done.confirmations,
        "warnings": list(done.enrollment.warnings),
        "synced": done.synced,
        "state_dir": str(directory),
    }


@contextmanager
def _progress(*, enabled: bool) -> Iterator[adb_collector.Progress | None]:
    """Progress bars on stderr for hashing and pulling, when stderr is a terminal."""
    console = Console(stderr=True)
    if not enabled or not console.is_terminal:
        yield None
        return
    labels = {"hash": "hashing APKs on the phone", "pull": "pulling APKs"}
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=console
    ) as bars:
        tasks: dict[str, TaskID] = {}

        def update(task: str, done: int, total: int) -> None:
            if task not in tasks:
                tasks[task] = bars.add_task(labels.get(task, task), total=total)
            bars.update(tasks[task], completed=done, total=total)

        yield update


def _print_table(c: AdbCollection) -> None:
    f = c.facts
    out = stdout()
    device = Table(title=f"{c.name} ({c.serial})", show_header=False)
    device.add_column("key", style="bold")
    device.add_column("value", overflow="fold")
    patch = f.security_patch_level.isoformat() if f.security_patch_level else "unknown"
    for key, value in (
        ("model", f"{f.manufacturer} {f.model}".strip()),
        ("Android", f.os_version),
        ("security patch", patch),
        ("build", f.build),
        ("hardware id", c.hardware_id),
        ("apps", str(len(f.apps))),
    ):
        device.add_row(key, escape(value))
    out.print(device)

    sources = Table(title="Apps by install source")
    sources.add_column("source")
    sources.add_column("apps", justify="right")
    for source, count in c.sources().items():
        if count:
            sources.add_row(source, str(count))
    out.print(sources)

    signals = {s.name: s.value for s in c.integrity_signals}
    settings = Table(title="Security settings and integrity signals")
    settings.add_column("setting")
    settings.add_column("value")
    for name, label in _NOTABLE:
        if name in signals:
            settings.add_row(label, escape(signals[name]))
    out.print(settings)
    if c.pulled:
        out.print(f"{len(c.pulled)} APK(s) pulled", markup=False)
