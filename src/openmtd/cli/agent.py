"""`openmtd agent`: the device agent — enroll, then report and sync, queueing while offline."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from openmtd.agent import privacy as agent_privacy
from openmtd.agent import state as agent_state
from openmtd.agent.apps import ApkUnreadable, installed_apk, with_apps
from openmtd.agent.client import AgentClient, ServerUnreachable
from openmtd.agent.collectors import simulated
from openmtd.agent.onboarding import (
    EnrollmentPlan,
    onboard,
    plan_from_managed_config,
    plan_from_options,
)
from openmtd.agent.protection.service import LocalProtection
from openmtd.agent.runner import RunResult, run_once
from openmtd.agent.spool import spool_for
from openmtd.cli.common import JsonOption, fail, print_json, stderr, stdout
from openmtd.domain.enums import EnrollmentScenario

EARLY_CHECKIN_DELAY = 1.0  # seconds

app = typer.Typer(
    help="The device agent: enroll a device, then check in, sync policy and queue reports "
    "while the server is unreachable.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)

NO_COLLECTOR = (
    "no device collector: real collectors (adb for Android, pymobiledevice3 for iOS) come "
    "with the `openmtd collect` command in a later issue; for now pass --simulate PROFILE "
    f"(profiles: {', '.join(simulated.PROFILES)})"
)

StateDir = Annotated[
    Path | None,
    typer.Option(
        envvar="OPENMTD_AGENT_STATE_DIR",
        help="Folder of this agent's state (credential, settings, spool) "
        "(default: ~/.local/share/openmtd-agent/NAME).",
        show_default=False,
    ),
]
Name = Annotated[str, typer.Option(help="Name of the state folder when --state-dir is not given.")]
Simulate = Annotated[
    str | None,
    typer.Option(
        metavar="PROFILE",
        help=f"Report a simulated device of this profile: {', '.join(simulated.PROFILES)}.",
        show_default=False,
    ),
]
Seed = Annotated[
    int, typer.Option(help="Seed of the simulated device: the same seed, the same device.")
]


def _state_dir(state_dir: Path | None, name: str) -> Path:
    if state_dir is not None:
        return state_dir
    if not name or "/" in name or name in {".", ".."}:
        fail(f"--name {name!r} must be a plain folder name", exit_code=2)
    return agent_state.default_state_dir(name)


def _profile(simulate: str | None) -> str:
    if simulate is None:
        fail(NO_COLLECTOR, exit_code=2)
    if simulate not in simulated.PROFILES:
        fail(
            f"unknown --simulate profile {simulate!r}; profiles (one per supported scenario): "
            f"{', '.join(simulated.PROFILES)}",
            exit_code=2,
        )
    return simulate


def _ask(question: str) -> bool:
    """Ask on stderr, read the answer from stdin: stdout stays one clean JSON document."""
    err = typer.get_text_stream("stderr")
    err.write(f"{question} [y/N]: ")
    err.flush()
    answer = typer.get_text_stream("stdin").readline()
    if not answer:  # end of input: nobody is there to consent
        err.write("\n")
        fail("no answer to the confirmation (end of input); pass --yes to accept without asking")
    return answer.strip().lower() in {"y", "yes"}


def _plan(
    managed_config: Path | None,
    server: str | None,
    token: str | None,
    scenario: EnrollmentScenario | None,
    device_tag: str,
) -> EnrollmentPlan:
    if managed_config is not None:
        if server or token or scenario:
            fail(
                "give either --managed-config FILE or --server/--token/--scenario, not both",
                exit_code=2,
            )
        try:
            data = managed_config.read_bytes()
        except OSError as e:
            fail(f"cannot read --managed-config {managed_config}: {e.strerror or e}", exit_code=2)
        return plan_from_managed_config(data)
    missing = [
        flag
        for flag, value in (("--server", server), ("--token", token), ("--scenario", scenario))
        if not value
    ]
    if missing:
        fail(
            f"missing {', '.join(missing)} (or give --managed-config FILE from your MDM)",
            exit_code=2,
        )
    assert server and token and scenario
    return plan_from_options(
        server_url=server, onboarding_token=token, scenario=scenario, device_tag=device_tag
    )


@app.command()
def enroll(
    managed_config: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE",
            help="Managed configuration from the MDM (Android JSON or iOS plist), as "
            "`openmtd tokens managed-config` renders it.",
            show_default=False,
        ),
    ] = None,
    server: Annotated[
        str | None,
        typer.Option(
            metavar="URL", help="Server URL (without --managed-config).", show_default=False
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="OPENMTD_ONBOARDING_TOKEN",
            help="Onboarding token (without --managed-config).",
            show_default=False,
        ),
    ] = None,
    scenario: Annotated[
        EnrollmentScenario | None,
        typer.Option(
            metavar="SCENARIO",
            help="Enrollment scenario, e.g. android-work-profile (without --managed-config).",
            show_default=False,
        ),
    ] = None,
    device_tag: Annotated[
        str, typer.Option(help="Tag this device reports (without --managed-config).")
    ] = "",
    simulate: Simulate = None,
    seed: Seed = 1,
    state_dir: StateDir = None,
    name: Name = "default",
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Answer yes to every confirmation.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an earlier enrollment in the state folder.")
    ] = False,
    as_json: Annotated[bool, JsonOption] = False,
) -> None:
    """Enroll this device with an openmtd server.

    Zero-touch scenarios (iOS supervised, device enrollment) enroll silently; low-touch ones
    (Android work profile, COPE, COBO) ask one confirmation; manual ones ask consent for the
    server and for the privacy notice. The device credential goes to the state folder (mode
    0600) and is never printed.
    """
    profile = _profile(simulate)
    plan = _plan(managed_config, server, token, scenario, device_tag)
    if simulated.PROFILES[profile] is not plan.scenario:
        fail(
            f"--simulate {profile} is a {simulated.PROFILES[profile].value!r} device, but the "
            f"enrollment is for scenario {plan.scenario.value!r}; simulate the matching profile",
            exit_code=2,
        )
    directory = _state_dir(state_dir, name)
    if agent_state.exists(directory) and not force:
        old = agent_state.load(directory)
        fail(
            f"{directory} already holds the enrollment of device {old.device_id}; pass --force "
            "to enroll again, or choose another --state-dir/--name"
        )
    today = date.today()
    device = simulated.simulate(profile, seed=seed, today=today)
    done = onboard(
        plan,
        device,
        confirm=(lambda _question: True) if yes else _ask,
        state_dir=directory,
        collector=agent_state.Collector("simulated", profile, seed, today.isoformat()),
        now=datetime.now(UTC),
    )
    s, e = done.state, done.enrollment
    if as_json:
        print_json(
            {
                "device_id": s.device_id,
                "server_url": s.server_url,
                "platform": s.platform.value,
                "scenario": s.scenario.value,
                "protection_scope": s.protection_scope,
                "device_group": s.device_group,
                "hardware_id": s.hardware_id,
                "onboarding_mode": done.mode.value,
                "confirmations": done.confirmations,
                "warnings": list(e.warnings),
                "privacy": _privacy(s),
                "synced": done.synced,
                "state_dir": str(directory),
                "collector": s.collector.describe(),
            }
        )
        return
    out = stdout()
    out.print(
        f"✔ enrolled device {s.device_id} with {s.server_url} as {plan.spec.title!r} "
        f"(protects: {s.protection_scope}; group {s.device_group!r})"
    )
    out.print(
        f"  {done.mode.value} onboarding, {done.confirmations} confirmation(s); "
        f"{s.collector.describe()}; state in {directory}",
        markup=False,
    )
    out.print("  policy synced" if done.synced else "  policy not synced yet: next run syncs")
    for warning in e.warnings:
        stderr().print(f"⚠ {warning}", markup=False)


def _privacy(s: agent_state.AgentState) -> dict[str, bool]:
    p = s.privacy
    return {
        "exclude_url_in_report": p.exclude_url_in_report,
        "exclude_app_in_report": p.exclude_app_in_report,
        "vulnerability_privacy_mode": p.vulnerability_privacy_mode,
        "network_protection_privacy": p.network_protection_privacy,
    }


def _print_run(result: RunResult, *, as_json: bool, compact: bool) -> None:
    doc = result.to_json()
    if as_json:
        if compact:
            typer.echo(json.dumps(doc, separators=(",", ":")))
        else:
            print_json(doc)
        return
    out = stdout()
    stamp = f"{datetime.now():%H:%M:%S}"
    if result.checkin is not None:
        c = result.checkin
        out.print(
            f"{stamp} ✔ checked in (report {result.report_id}): risk {c.risk_level.value}, "
            f"{c.alerts_raised} new alert(s); policy {result.sync}",
            markup=False,
        )
    else:
        out.print(
            f"{stamp} ⚠ report {result.report_id} spooled ({result.spool_size} waiting): "
            f"{result.spooled_because}",
            markup=False,
        )
    if result.resent or result.duplicates:
        out.print(
            f"  resent {len(result.resent)} spooled report(s); "
            f"{len(result.duplicates)} the server already had",
            markup=False,
        )
    for report_id, why in result.dropped:
        out.print(f"  ✘ dropped spooled report {report_id}: {why}", markup=False)
    for u in result.uploads:
        if u.error:
            out.print(f"  ✘ APK {u.sha256[:12]}… not uploaded: {u.error}", markup=False)
        else:
            out.print(f"  ↑ APK {u.sha256[:12]}… uploaded: {u.verdict}", markup=False)
    for a in result.attestations:
        mark = "✔" if a.accepted else "✘"
        out.print(f"  {mark} {a.kind} attestation: {a.code} {a.reason}".rstrip(), markup=False)
    if result.response is not None:
        r = result.response
        out.print(
            f"  ⛔ device compromised: {', '.join(r.actions)} ({r.removed_files} file(s) "
            f"removed, {r.dropped_reports} queued report(s) and {r.dropped_detections} "
            "detection(s) dropped); reported to the server",
            markup=False,
        )
    elif result.protection_stopped:
        out.print(f"  ⛔ web protection stopped: {result.protection_stopped}", markup=False)


@app.command()
def run(
    simulate: Simulate = None,
    seed: Seed = 1,
    state_dir: StateDir = None,
    name: Name = "default",
    once: Annotated[bool, typer.Option("--once", help="Check in once and exit.")] = False,
    interval: Annotated[
        float | None,
        typer.Option(
            min=1,
            metavar="SECONDS",
            help="Seconds between check-ins (default: what the server asks for).",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print each run as JSON on stdout (with --once one document; otherwise one "
            "document per line and run).",
        ),
    ] = False,
    protect: Annotated[
        bool,
        typer.Option(
            "--protect",
            help="Also run local web protection: an HTTP proxy (point the browser at it) and, "
            "with --dns-port, a DNS listener; blocks are reported at once.",
        ),
    ] = False,
    proxy_port: Annotated[int, typer.Option(min=0, max=65535, help="0: any free port")] = 8118,
    dns_port: Annotated[
        int | None,
        typer.Option(
            min=0, max=65535, help="Port of the DNS listener (UDP+TCP); off when not given."
        ),
    ] = None,
    dns_upstream: Annotated[
        str, typer.Option(help="host:port allowed names are forwarded to (default: resolv.conf)")
    ] = "",
    install_apk: Annotated[
        list[Path] | None,
        typer.Option(
            "--install-apk",
            metavar="FILE",
            help="Put this real APK into the simulated device's inventory as a sideloaded app "
            "(repeatable); it is uploaded when the server asks for it.",
        ),
    ] = None,
) -> None:
    """Check in, resend queued reports and sync the policy (ETag), once or every interval.

    When the server cannot be reached the report is queued in the state folder and sent first
    on the next run; that is not a failure (exit 0). Stop a continuous run with Ctrl-C.
    With --protect the agent also enforces web protection locally with the last synced
    indicators (offline too) and checks in right after each block or warning.
    """
    if once and interval is not None:
        fail("--once and --interval exclude each other", exit_code=2)
    if once and protect:
        fail("--protect runs until stopped; it excludes --once", exit_code=2)
    directory = _state_dir(state_dir, name)
    state = agent_state.load(directory)
    profile = _profile(simulate)
    c = state.collector
    if c.kind != "simulated" or c.profile != profile or c.seed != seed:
        fail(
            f"the agent in {directory} enrolled a {c.describe()} device; run it with "
            f"--simulate {c.profile} --seed {c.seed}",
            exit_code=2,
        )
    device = simulated.simulate(profile, seed=seed, today=date.fromisoformat(c.today))
    try:
        installed = [installed_apk(p) for p in install_apk or ()]
    except ApkUnreadable as e:
        fail(str(e), exit_code=2)
    device = with_apps(device, installed)
    apk_files = {i.app.sha256: i.path for i in installed if i.app.sha256}
    wake = threading.Event()
    protection: LocalProtection | None = None
    try:
        if protect and state.protection_stopped:
            stderr().print(
                f"⛔ local web protection stays off: {state.protection_stopped}",
                markup=False,
            )
        elif protect:
            protection = LocalProtection(
                directory,
                proxy_port=proxy_port,
                dns_port=dns_port,
                dns_upstream=dns_upstream,
                on_detection=lambda _d: wake.set(),
            )
            if not protection.index.settings.local_proxy:
                stderr().print(
                    "⚠ the web-protection policy turns the local proxy off for this platform; "
                    "starting it anyway because --protect asks for it",
                    markup=False,
                )
            listening = protection.start()
            where = f"proxy {listening.proxy_url}"
            if listening.dns_address:
                where += f", DNS {listening.dns_address[0]}:{listening.dns_address[1]}"
            stderr().print(f"local web protection: {where}", markup=False)
        while True:
            wake.clear()
            result = run_once(directory, device, now=datetime.now(UTC), apk_files=apk_files)
            _print_run(result, as_json=as_json, compact=not once)
            if protection is not None and result.protection_stopped:
                protection.stop()
                protection = None
                stderr().print(
                    "⛔ local web protection stopped: the server judged this device compromised",
                    markup=False,
                )
            if once:
                return
            wait = interval or (
                result.checkin.next_checkin_seconds
                if result.checkin
                else agent_state.load(directory).checkin_interval_seconds
            )
            if wake.wait(wait):
                time.sleep(EARLY_CHECKIN_DELAY)  # gather a burst of detections into one report
    except KeyboardInterrupt:
        stderr().print("stopped")
    finally:
        if protection is not None:
            protection.stop()


@app.command()
def status(
    state_dir: StateDir = None,
    name: Name = "default",
    as_json: Annotated[bool, JsonOption] = False,
) -> None:
    """Show this agent's enrollment, its queue, and how the server sees the device."""
    directory = _state_dir(state_dir, name)
    s = agent_state.load(directory)
    queued = len(spool_for(directory))
    server_view: dict[str, Any] | None = None
    unreachable = ""
    with AgentClient(s.server_url, credential=s.device_credential) as client:
        try:
            server_view = client.own_device(s.device_id)
        except ServerUnreachable as e:
            unreachable = str(e)
    if as_json:
        print_json(
            {
                "device_id": s.device_id,
                "server_url": s.server_url,
                "platform": s.platform.value,
                "scenario": s.scenario.value,
                "protection_scope": s.protection_scope,
                "device_group": s.device_group,
                "privacy": _privacy(s),
                "enrolled_at": s.enrolled_at,
                "last_checkin_at": s.last_checkin_at or None,
                "spooled_reports": queued,
                "server": server_view,
                "server_unreachable": unreachable or None,
                "state_dir": str(directory),
            }
        )
        return
    table = Table(title=f"openmtd agent in {directory}", show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value", overflow="fold")
    rows = [
        ("device", s.device_id),
        ("server", s.server_url),
        ("scenario", f"{s.scenario.value} (protects {s.protection_scope})"),
        ("group", s.device_group),
        ("collector", s.collector.describe()),
        ("privacy", ", ".join(k for k, v in _privacy(s).items() if v) or "nothing withheld"),
        ("last check-in", s.last_checkin_at or "never"),
        ("queued reports", str(queued)),
    ]
    if server_view is not None:
        rows.append(("risk", f"{server_view['risk_level']}: {server_view['risk_reason']}"))
        rows.append(("active alerts", str(len(server_view.get("alerts", [])))))
    else:
        rows.append(("server view", f"unavailable: {unreachable}"))
    for key, value in rows:
        table.add_row(key, escape(value))
    stdout().print(table)


@app.command()
def privacy(
    state_dir: StateDir = None,
    name: Name = "default",
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="KEY=on|off",
            help="Change a privacy setting the organisation lets you change (repeatable), e.g. "
            "--set exclude_url_in_report=on.",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[bool, JsonOption] = False,
) -> None:
    """Show this device's privacy settings, and which of them you may change.

    Keys: exclude_url_in_report, exclude_app_in_report, vulnerability_privacy_mode,
    network_protection_privacy. The organisation decides which ones are yours to change; a
    change is sent to the server first (it must be reachable) and applies to every report
    from then on. No privacy setting changes the device's risk or compliance.
    """
    directory = _state_dir(state_dir, name)
    try:
        changes = [agent_privacy.parse_setting(text) for text in set_ or ()]
    except ValueError as e:
        fail(str(e), exit_code=2)
    view = agent_privacy.change(directory, changes) if changes else agent_privacy.show(directory)
    if as_json:
        print_json(view.to_json())
        return
    if view.unreachable:
        stderr().print(
            "⚠ the server is unreachable; showing the settings of the last sync: "
            + view.unreachable,
            markup=False,
        )
    table = Table(title=f"privacy settings of device {view.device_id}")
    table.add_column("key", style="bold")
    table.add_column("what it does")
    table.add_column("value")
    table.add_column("you may change it")
    for key, label, on, mine in view.rows():
        table.add_row(key, label, "on" if on else "off", "yes" if mine else "no (organisation)")
    stdout().print(table)
    if changes:
        done = ", ".join(view.changed) or "nothing (already so)"
        stdout().print(f"✔ changed: {done}", markup=False)


@app.command("access-token")
def access_token(
    state_dir: StateDir = None,
    name: Name = "default",
    as_json: Annotated[bool, JsonOption] = False,
) -> None:
    """A device-bound token for conditional access (shown once).

    Apps and browsers on this device send it in the X-OpenMTD-Device-Token header (or the
    openmtd_device_token cookie); the reverse proxy in front of corporate apps asks openmtd
    whether this device may pass. The device credential itself never leaves the agent.
    """
    directory = _state_dir(state_dir, name)
    s = agent_state.load(directory)
    with AgentClient(s.server_url, credential=s.device_credential) as client:
        token, expires = client.access_token(s.device_id)
    if as_json:
        print_json({"token": token, "expires_at": expires, "header": "X-OpenMTD-Device-Token"})
        return
    stdout().print(f"X-OpenMTD-Device-Token: {token}", markup=False, highlight=False)
    stdout().print(f"valid until {expires}; shown once", markup=False, style="dim")
