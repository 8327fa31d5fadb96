"""`openmtd collect android|ios`: device facts from a phone on USB, optionally enrolled and
reported.

Nothing leaves this computer unless --enroll or --report is given: the collection is printed
(a table, or one JSON document with --json) and APKs are copied only into --pull-apks DIR.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table

from openmtd.agent import external
from openmtd.agent import state as agent_state
from openmtd.agent.collectors import adb as adb_collector
from openmtd.agent.collectors import ios as ios_collector
from openmtd.agent.collectors.adb import Adb, AdbCollection, AdbError
from openmtd.agent.collectors.ios import IosCollectError, IosCollection
from openmtd.agent.onboarding import EnrollmentPlan, Onboarded, plan_from_options
from openmtd.agent.runner import RunResult
from openmtd.cli.common import fail, print_json, stderr, stdout
from openmtd.domain.enums import EnrollmentScenario

app = typer.Typer(
    help="Collect device facts from a phone on USB (Android over adb, iPhone and iPad over "
    "usbmuxd), and optionally enroll and report it like the agent does.",
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


# The enrollment and report options both collectors take.
EnrollOption = Annotated[
    bool, typer.Option("--enroll", help="Enroll the device with --server using --token.")
]
ServerOption = Annotated[
    str | None,
    typer.Option(metavar="URL", help="Server URL (with --enroll).", show_default=False),
]
TokenOption = Annotated[
    str | None,
    typer.Option(
        envvar="OPENMTD_ONBOARDING_TOKEN",
        help="Onboarding token (with --enroll).",
        show_default=False,
    ),
]
DeviceTagOption = Annotated[
    str, typer.Option(help="Tag the device reports (with --enroll).", show_default=False)
]
ReportOption = Annotated[
    bool,
    typer.Option(
        "--report", help="Send a check-in with these facts to the server it is enrolled with."
    ),
]
YesOption = Annotated[
    bool, typer.Option("--yes", "-y", help="Answer yes to every enrollment confirmation.")
]
ForceOption = Annotated[
    bool, typer.Option("--force", help="Replace an earlier enrollment in the state folder.")
]


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
    enroll: EnrollOption = False,
    server: ServerOption = None,
    token: TokenOption = None,
    device_tag: DeviceTagOption = "",
    report: ReportOption = False,
    state_dir: Annotated[
        Path | None,
        typer.Option(
            help="Folder of the phone's enrollment state (default: "
            "~/.local/share/openmtd-agent/android-HARDWARE_ID, one per phone).",
            show_default=False,
        ),
    ] = None,
    yes: YesOption = False,
    force: ForceOption = False,
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
    plan = _plan(enroll, server, token, scenario, device_tag, force)

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
    onboarded, result = _enroll_and_report(
        plan,
        device,
        directory,
        report=report,
        yes=yes,
        force=force,
        apk_files=collection.apk_files(),
    )
    _finish(
        as_json=as_json,
        doc=collection.to_json,
        table=lambda: _print_table(collection),
        warnings=collection.warnings,
        onboarded=onboarded,
        result=result,
        directory=directory,
    )


@app.command()
def ios(
    udid: Annotated[
        str | None,
        typer.Option(
            help="UDID of the device (see `pymobiledevice3 usbmux list`); needed when several "
            "are connected.",
            show_default=False,
        ),
    ] = None,
    no_profiles: Annotated[
        bool,
        typer.Option("--no-profiles", help="Do not list the configuration profiles."),
    ] = False,
    timeout: Annotated[
        float,
        typer.Option(
            min=1,
            metavar="SECONDS",
            help="Timeout of each step (pairing may wait as long again for 'Trust').",
        ),
    ] = ios_collector.DEFAULT_TIMEOUT,
    scenario: Annotated[
        EnrollmentScenario | None,
        typer.Option(
            metavar="SCENARIO",
            help="Enrollment scenario (required with --enroll), e.g. ios-device-enrollment; "
            "without --enroll it only labels the facts (default: the enrolled one, else "
            "ios-device-enrollment).",
            show_default=False,
        ),
    ] = None,
    enroll: EnrollOption = False,
    server: ServerOption = None,
    token: TokenOption = None,
    device_tag: DeviceTagOption = "",
    report: ReportOption = False,
    state_dir: Annotated[
        Path | None,
        typer.Option(
            help="Folder of the device's enrollment state (default: "
            "~/.local/share/openmtd-agent/ios-HARDWARE_ID, one per device).",
            show_default=False,
        ),
    ] = None,
    yes: YesOption = False,
    force: ForceOption = False,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print one JSON document (facts, apps, signals, profiles, warnings) on stdout.",
        ),
    ] = False,
) -> None:
    """Collect an iPhone or iPad over USB: release, model, apps, install sources, profiles.

    Needs pymobiledevice3 (`pip install 'openmtd[ios]'`) and a running usbmuxd. Exit codes:
    0 done; 1 the device, the server or the report failed (one line on stderr); 2 bad usage.
    """
    plan = _plan(enroll, server, token, scenario, device_tag, force)
    try:
        collection = ios_collector.collect_ios(
            udid=udid,
            pull_profiles=not no_profiles,
            timeout=timeout,
            scenario=scenario or ios_collector.DEFAULT_SCENARIO,
        )
    except IosCollectError as e:
        fail(str(e))

    directory = state_dir or agent_state.default_state_dir(f"ios-{collection.hardware_id}")
    if scenario is None and agent_state.exists(directory):
        collection = _relabel(collection, agent_state.load(directory).scenario)
    device = external.ExternalDevice(
        kind="ios",
        hardware_id=collection.hardware_id,
        name=collection.name,
        facts=collection.facts,
        integrity_signals=collection.integrity_signals,
        installed_roots=tuple(c.der for c in collection.root_certificates if c.der),
    )
    onboarded, result = _enroll_and_report(
        plan, device, directory, report=report, yes=yes, force=force
    )
    _finish(
        as_json=as_json,
        doc=collection.to_json,
        table=lambda: _print_ios_table(collection),
        warnings=collection.warnings,
        onboarded=onboarded,
        result=result,
        directory=directory,
    )


def _plan(
    enroll: bool,
    server: str | None,
    token: str | None,
    scenario: EnrollmentScenario | None,
    device_tag: str,
    force: bool,
) -> EnrollmentPlan | None:
    """The enrollment the options ask for, or None; bad combinations exit with code 2."""
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
    if not enroll:
        return None
    assert server and token and scenario
    return plan_from_options(
        server_url=server, onboarding_token=token, scenario=scenario, device_tag=device_tag
    )


def _enroll_and_report(
    plan: EnrollmentPlan | None,
    device: external.ExternalDevice,
    directory: Path,
    *,
    report: bool,
    yes: bool,
    force: bool,
    apk_files: Mapping[str, Path] | None = None,
) -> tuple[Onboarded | None, RunResult | None]:
    """Enroll (with a plan) and report (with --report) the collected device."""
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
                f"this {_noun(device)} is not enrolled (no state in {directory}); add --enroll "
                "--server URL --token TOKEN --scenario SCENARIO, or give --state-dir"
            )
        result = external.report(
            directory, device, now=datetime.now(UTC), apk_files=apk_files or {}
        )
    return onboarded, result


def _noun(device: external.ExternalDevice) -> str:
    return "phone" if device.kind == "adb" else "device"


def _finish(
    *,
    as_json: bool,
    doc: Callable[[], dict[str, Any]],
    table: Callable[[], None],
    warnings: Sequence[str],
    onboarded: Onboarded | None,
    result: RunResult | None,
    directory: Path,
) -> None:
    """Print the collection (JSON or tables), the enrollment and the report's outcome."""
    if as_json:
        document = doc()
        document["enrollment"] = _enrollment_json(onboarded, directory) if onboarded else None
        document["report"] = result.to_json() if result else None
        print_json(document)
    else:
        table()
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
        for warning in warnings:
            stderr().print(f"⚠ {warning}", markup=False)
    if result is not None and result.checkin is None:
        fail(
            f"the report was not delivered ({result.spooled_because}); it is queued in "
            f"{directory} and goes first with the next --report"
        )


Relabelled = TypeVar("Relabelled", AdbCollection, IosCollection)


def _relabel(collection: Relabelled, scenario: EnrollmentScenario) -> Relabelled:
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


def _print_ios_table(c: IosCollection) -> None:
    f = c.facts
    out = stdout()
    device = Table(title=f"{c.name} ({c.udid})", show_header=False)
    device.add_column("key", style="bold")
    device.add_column("value", overflow="fold")
    model = f"{f.manufacturer} {f.model}".strip()
    if c.product_type and c.product_type != f.model:
        model = f"{model} ({c.product_type})"
    signals = {s.name: s.value for s in c.integrity_signals}
    for key, value in (
        ("model", model),
        ("iOS", f.os_version),
        ("build", f.build),
        ("hardware id", c.hardware_id),
        ("developer mode", signals.get("developer_mode", "unknown")),
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

    outside = [a for a in c.inventory if a.distribution.value not in ("app-store", "system")]
    if outside:
        apps = Table(title="Apps from outside the App Store")
        apps.add_column("app")
        apps.add_column("version")
        apps.add_column("distribution")
        apps.add_column("signer", overflow="fold")
        for a in outside:
            label = f"{a.info.name} ({a.info.identifier})" if a.info.name else a.info.identifier
            apps.add_row(
                escape(label),
                escape(a.info.version),
                a.distribution.value,
                escape(a.signer_identity or a.path),
            )
        out.print(apps)

    if not c.profiles_read:
        return
    if not c.profiles:
        out.print("no configuration profile installed", markup=False)
        return
    profiles = Table(title="Configuration profiles")
    profiles.add_column("profile", overflow="fold")
    profiles.add_column("organization")
    profiles.add_column("payloads", overflow="fold")
    profiles.add_column("notes")
    for p in c.profiles:
        notes = [
            note
            for flag, note in (
                (p.mdm, "MDM"),
                (p.removal_disallowed, "not removable"),
                (p.encrypted, "encrypted"),
                (p.active is False, "inactive"),
            )
            if flag
        ]
        profiles.add_row(
            escape(f"{p.display_name or p.identifier}\n{p.identifier}"),
            escape(p.organization),
            escape(", ".join(p.payload_types) or "—"),
            ", ".join(notes),
        )
    out.print(profiles)

    if c.root_certificates:
        roots = Table(title="Root certificates installed by profiles")
        roots.add_column("subject", overflow="fold")
        roots.add_column("SHA-256", overflow="fold")
        roots.add_column("expires")
        roots.add_column("profile", overflow="fold")
        for cert in c.root_certificates:
            roots.add_row(
                escape(cert.subject or f"unreadable: {cert.problem}"),
                cert.sha256 or "—",
                cert.not_after.date().isoformat() if cert.not_after else "—",
                escape(cert.profile_identifier),
            )
        out.print(roots)
