"""`openmtd pilot`: the seed's pilot evaluation, end to end, on a throwaway server.

It starts a real server on a free loopback port with a temporary SQLite database, creates an
admin and an API token, creates an onboarding token through the admin API, enrolls and checks
in one simulated device per supported scenario through the real agent (over HTTP), verifies
that every unsupported scenario is refused with an error naming it, and then checks the seed's
exit criteria: the devices are in the inventory (admin API); the phishing test URL is blocked
through one device's agent (its local proxy, with the indicator sets it synced); the alert that
the agent's next check-in raises is in the admin API and on the console's alert page, seen by
the admin signed in through the login form.
"""

from __future__ import annotations

import re
import secrets
import shutil
import signal
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from fastapi import FastAPI
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from openmtd.agent import state as agent_state
from openmtd.agent.client import AgentClient, AgentError, DeviceDescription
from openmtd.agent.collectors.simulated import simulate
from openmtd.agent.onboarding import onboard, plan_from_options
from openmtd.agent.protection.service import LocalProtection
from openmtd.agent.runner import run_once
from openmtd.cli.common import JsonOption, print_json, settings_from, stderr, stdout
from openmtd.cli.serve import ServerThread
from openmtd.domain.enums import EnrollmentScenario, Platform, Role
from openmtd.engines.web.index import PILOT_TEST_TARGET
from openmtd.enrollment.scenarios import SCENARIOS, ScenarioSpec, supported_scenarios
from openmtd.server.app import create_app
from openmtd.server.audit import service as audit
from openmtd.server.security import create_api_token
from openmtd.server.users.service import create_user
from openmtd.store.db import transaction

ADMIN = "pilot-admin"
SEED = 1
TEST_HOST = PILOT_TEST_TARGET
#: progress steps: admin, onboarding token, one per scenario, the three criteria
STEPS = 2 + len(SCENARIOS) + 3
CRITERIA = (
    "Onboarded devices show up in the device inventory",
    "The phishing test URL is blocked on the device",
    "The alert for that detection appears in the console",
)


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    passed: bool | None  # None: not applicable here, does not count
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "detail": self.detail}


@dataclass
class Pilot:
    server_url: str
    admin_password: str
    checks: list[Check] = field(default_factory=list)
    devices: list[dict[str, str]] = field(default_factory=list)

    @property
    def console_url(self) -> str:
        return f"{self.server_url}/console"

    @property
    def passed(self) -> bool:
        return all(c.passed is not False for c in self.checks)

    def check(self, name: str, passed: bool | None, detail: str) -> Check:
        c = Check(name, passed, detail)
        self.checks.append(c)
        return c

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "checks": [c.to_json() for c in self.checks],
            "console_url": self.console_url,
            "server_url": self.server_url,
            "admin": {"username": ADMIN, "password": self.admin_password},
            "devices": self.devices,
        }


def enrollment_order() -> list[ScenarioSpec]:
    """Every supported scenario; the personal profile after the work profile of its phone."""
    rows = supported_scenarios()
    return sorted(rows, key=lambda s: s.scenario is EnrollmentScenario.ANDROID_PERSONAL_PROFILE)


@contextmanager
def throwaway_server() -> Iterator[tuple[ServerThread, FastAPI, Path]]:
    workdir = Path(tempfile.mkdtemp(prefix="openmtd-pilot-"))
    server = ServerThread()
    try:
        settings = settings_from(
            data_dir=workdir / "server",
            database_url="",
            public_url=server.url,
            migrate_on_start=True,
        )
        app = create_app(settings)
        server.start(app)
        yield server, app, workdir
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def run_pilot(
    server: ServerThread, app: FastAPI, workdir: Path, *, step: Callable[[str], None]
) -> Pilot:
    now = datetime.now(UTC)
    pilot = Pilot(server_url=server.url, admin_password=secrets.token_urlsafe(18))

    step("admin and API token")
    with transaction(app.state.ctx.sessions) as db:
        user = create_user(
            db,
            username=ADMIN,
            password=pilot.admin_password,
            role=Role.ADMIN,
            actor="cli",
            now=now,
        )
        db.flush()
        row, api_token = create_api_token(db, user, name="pilot", role=Role.ADMIN, now=now, days=1)
        audit.record(
            db,
            actor="cli",
            action="api_token.create",
            target=f"api_token:{row.id}",
            now=now,
            name="pilot",
            role=Role.ADMIN.value,
        )
    pilot.check("admin and API token created", True, f"admin {ADMIN!r}, API token 'pilot'")

    headers = {"Authorization": f"Bearer {api_token}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as admin:
        step("onboarding token")
        r = admin.post(
            "/api/onboarding/tokens",
            json={"name": "pilot", "expires_in_hours": 1, "tags": ["pilot"]},
        )
        if r.status_code != 201:
            pilot.check("onboarding token created", False, f"HTTP {r.status_code}: {r.text}")
            return pilot
        onboarding_token = str(r.json()["token"])
        pilot.check(
            "onboarding token created", True, "through POST /api/onboarding/tokens, every scenario"
        )

        enrolled = _enroll_all(pilot, server.url, onboarding_token, workdir, step)
        _refuse_unsupported(pilot, server.url, onboarding_token, step)

        step("criterion 1: device inventory")
        r = admin.get("/api/devices", params={"limit": 500})
        if r.status_code != 200:
            pilot.check(f"criterion 1: {CRITERIA[0]}", False, f"HTTP {r.status_code}: {r.text}")
        else:
            listed = {item["id"] for item in r.json()["items"]}
            missing = [d for d in enrolled if d not in listed]
            pilot.check(
                f"criterion 1: {CRITERIA[0]}",
                bool(enrolled) and not missing,
                f"{len(enrolled) - len(missing)} of {len(enrolled)} onboarded devices are in "
                "GET /api/devices" + (f"; missing: {', '.join(missing)}" if missing else ""),
            )
        step("criterion 2: phishing test URL through the agent")
        blocked = _block_test_url(pilot, workdir)
        step("criterion 3: the alert in the console")
        _alert_in_console(pilot, admin, server.url, blocked)
    return pilot


@dataclass(frozen=True, slots=True)
class Blocked:
    device_id: str
    delivered: bool


def _block_test_url(pilot: Pilot, workdir: Path) -> Blocked | None:
    """Criterion 2 through a simulated device's real agent: its local proxy, judging with the
    indicator sets it synced, answers the test URL with the block page (http) and refuses the
    tunnel (https); the detections are then delivered by the agent's next check-in."""
    name = f"criterion 2: {CRITERIA[1]}"
    scenario = EnrollmentScenario.ANDROID_WORK_PROFILE
    state_dir = workdir / "agents" / scenario.value
    if not agent_state.exists(state_dir):
        pilot.check(name, False, f"no enrolled {scenario.value} agent to test with")
        return None
    state = agent_state.load(state_dir)
    protection = LocalProtection(state_dir, proxy_port=0)
    listening = protection.start()
    try:
        with httpx.Client(proxy=listening.proxy_url, timeout=15) as browser:
            page = browser.get(f"http://{TEST_HOST}/")
            try:
                tunnel = browser.get(f"https://{TEST_HOST}/")
                https_refused, https_detail = False, f"HTTP {tunnel.status_code}"
            except httpx.ProxyError as e:
                https_refused, https_detail = "403" in str(e), str(e)
    except httpx.HTTPError as e:
        pilot.check(name, False, f"the agent's proxy failed: {e}")
        return None
    finally:
        protection.stop()
    http_blocked = page.status_code == 403 and TEST_HOST in page.text
    reason = _block_reason(page.text)
    device = simulate(scenario.value, seed=SEED, today=date.fromisoformat(state.collector.today))
    result = run_once(state_dir, device, now=datetime.now(UTC))
    pilot.check(
        name,
        http_blocked and https_refused,
        f"device {state.device_id} ({scenario.value}) through its agent's local proxy "
        f"{listening.proxy_url}: http://{TEST_HOST}/ → HTTP {page.status_code} block page"
        + (f" ({reason})" if reason else "")
        + f"; https://{TEST_HOST}/ → tunnel refused ({https_detail})",
    )
    return Blocked(state.device_id, result.checkin is not None)


def _block_reason(page: str) -> str:
    """The block page's one-sentence explanation, for the pilot's report."""
    match = re.search(r"anti-phishing test target[^<]*", page)
    return " ".join(match.group(0).split()) if match else ""


def _alert_in_console(pilot: Pilot, admin: httpx.Client, url: str, blocked: Blocked | None) -> None:
    """Criterion 3: the detection is an alert in the API and on the console's alert page,
    seen by an admin who signs in through the console's login form."""
    name = f"criterion 3: {CRITERIA[2]}"
    if blocked is None:
        pilot.check(name, False, "nothing was blocked, so there is no alert to look for")
        return
    if not blocked.delivered:
        pilot.check(name, False, "the agent could not deliver its check-in with the detection")
        return
    r = admin.get("/api/alerts", params={"device_id": blocked.device_id, "category": "Phishing"})
    items = r.json().get("items", []) if r.status_code == 200 else []
    if not items:
        pilot.check(name, False, f"no Phishing alert for {blocked.device_id}: HTTP {r.status_code}")
        return
    alert = items[0]
    with httpx.Client(base_url=url, timeout=15, follow_redirects=False) as console:
        form = console.get("/console/login").text
        fields = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">', form))
        signed = console.post(
            "/console/login",
            data={**fields, "username": ADMIN, "password": pilot.admin_password},
        )
        page = console.get("/console/alerts", params={"category": "Phishing"})
    shown = signed.status_code == 303 and page.status_code == 200 and TEST_HOST in page.text
    pilot.check(
        name,
        shown,
        f"alert #{alert['id']} '{alert['title']}' ({alert['severity']}) for device "
        f"{blocked.device_id}: in GET /api/alerts and on {url}/console/alerts"
        + ("" if shown else f" — NOT on the console page (HTTP {page.status_code})"),
    )


def _enroll_all(
    pilot: Pilot, url: str, token: str, workdir: Path, step: Callable[[str], None]
) -> list[str]:
    """Enroll and check in one simulated device per supported scenario; their device ids."""
    today = date.today()
    enrolled: list[str] = []
    hardware: dict[EnrollmentScenario, str] = {}
    for spec in enrollment_order():
        scenario = spec.scenario
        step(f"enroll {scenario.value}")
        name = f"{scenario.value}: enrolled and checked in"
        device = simulate(scenario.value, seed=SEED, today=today)
        hardware[scenario] = device.hardware_id
        state_dir = workdir / "agents" / scenario.value
        try:
            done = onboard(
                plan_from_options(server_url=url, onboarding_token=token, scenario=scenario),
                device,
                confirm=lambda _question: True,
                state_dir=state_dir,
                collector=agent_state.Collector(
                    "simulated", scenario.value, SEED, today.isoformat()
                ),
                now=datetime.now(UTC),
            )
            result = run_once(state_dir, device, now=datetime.now(UTC))
        except (AgentError, OSError, ValueError) as e:
            pilot.check(name, False, str(e))
            continue
        if result.checkin is None:
            pilot.check(name, False, f"check-in not delivered: {result.spooled_because}")
            continue
        f = device.facts
        detail = (
            f"{f.model}, {f.platform.value} {f.os_version}; {done.mode.value}; "
            f"protects {done.state.protection_scope}; risk {result.checkin.risk_level.value}; "
            f"device {done.state.device_id}"
        )
        ok = True
        if scenario is EnrollmentScenario.ANDROID_PERSONAL_PROFILE:
            same = hardware.get(EnrollmentScenario.ANDROID_WORK_PROFILE) == device.hardware_id
            ok = same
            detail += (
                "; same phone as the android-work-profile device"
                if same
                else "; NOT on the work profile's phone"
            )
        pilot.check(name, ok, detail)
        enrolled.append(done.state.device_id)
        pilot.devices.append(
            {
                "scenario": scenario.value,
                "device_id": done.state.device_id,
                "hardware_id": device.hardware_id,
                "risk_level": result.checkin.risk_level.value,
            }
        )
    return enrolled


def _refuse_unsupported(pilot: Pilot, url: str, token: str, step: Callable[[str], None]) -> None:
    with AgentClient(url) as client:
        for spec in SCENARIOS.values():
            if spec.supported:
                continue
            step(f"refuse {spec.scenario.value}")
            android = spec.platform is Platform.ANDROID
            name = f"{spec.scenario.value}: refused (not supported)"
            try:
                client.enroll(
                    onboarding_token=token,
                    platform=spec.platform,
                    scenario=spec.scenario,
                    hardware_id=uuid.uuid4().hex,
                    device=DeviceDescription(
                        model="Pixel 8" if android else "iPhone 15 (iPhone15,4)",
                        manufacturer="Google" if android else "Apple",
                        os_version="15" if android else "18.6.2",
                    ),
                )
            except AgentError as e:
                pilot.check(name, spec.scenario.value in e.message, e.message)
            else:
                pilot.check(name, False, "the server enrolled an unsupported scenario")


def wait_for_interrupt() -> None:
    """Block until Ctrl-C or SIGTERM, so that both end the pilot cleanly."""

    def stop(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


def _human(pilot: Pilot) -> None:
    out = stdout()
    table = Table(title="openmtd pilot evaluation")
    table.add_column("", width=1)
    table.add_column("check")
    table.add_column("detail", overflow="fold")
    for c in pilot.checks:
        mark = {True: "[green]✔[/]", False: "[red]✘[/]", None: "[yellow]○[/]"}[c.passed]
        table.add_row(mark, escape(c.name), escape(c.detail))
    out.print(table)
    verdict = "[green]PASSED[/]" if pilot.passed else "[red]FAILED[/]"
    out.print(f"pilot {verdict}: every check " + ("passed" if pilot.passed else "must pass"))
    out.print(f"console: {pilot.console_url}", markup=False)
    out.print(
        f"admin: {ADMIN} / {pilot.admin_password}  (printed once; the server and its data "
        "are removed when the pilot ends)",
        markup=False,
    )


def pilot(
    as_json: Annotated[bool, JsonOption] = False,
    keep_running: Annotated[
        bool,
        typer.Option(
            "--keep-running",
            help="Keep the server running after the checks, until Ctrl-C, to look at the console.",
        ),
    ] = False,
) -> None:
    """Run the seed's pilot evaluation end to end on a throwaway server.

    Enrolls one simulated device per supported scenario through the real agent, checks that
    unsupported scenarios are refused, and checks the seed's three exit criteria. Exits 0 only if
    every check passes.
    """
    err = stderr()
    with throwaway_server() as (server, app, workdir):
        with Progress(console=err, transient=True, disable=as_json) as progress:
            task = progress.add_task("pilot", total=STEPS)

            def step(what: str) -> None:
                progress.update(task, description=what, advance=1)

            result = run_pilot(server, app, workdir, step=step)
        if as_json:
            print_json(result.to_json())
        else:
            _human(result)
        if keep_running:
            err.print(f"serving {result.console_url} until Ctrl-C", markup=False)
            wait_for_interrupt()
            err.print("stopping")
    if not result.passed:
        raise typer.Exit(1)
