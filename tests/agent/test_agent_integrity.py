"""The agent and device integrity against a live server: attestation on request, and the
compromise response (stop web protection, clear local data, report it, resume when clean)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from conftest import Api, FakeClock
from openmtd.agent import state as agent_state
from openmtd.agent import web
from openmtd.agent.attest.android_keystore import AttestationCA
from openmtd.agent.attest.apple_app_attest import AppAttestCA, SoftwareAppAttest
from openmtd.agent.attesters import AppAttestAttester, KeystoreAttester, by_kind
from openmtd.agent.collectors.simulated import SimulatedDevice, simulate
from openmtd.agent.collectors.simulated_integrity import (
    apply,
    jailbroken_ios_signals,
    rooted_android_signals,
)
from openmtd.agent.onboarding import onboard, plan_from_options
from openmtd.agent.runner import RunResult, run_once
from openmtd.cli.serve import ServerThread
from openmtd.config import Settings
from openmtd.domain.enums import EnrollmentScenario

TODAY = date(2026, 11, 26)
APP_ID = "TEAM123456.org.openmtd.agent"


@pytest.fixture(scope="module")
def android_ca() -> AttestationCA:
    return AttestationCA.generate()


@pytest.fixture(scope="module")
def apple_ca() -> AppAttestCA:
    return AppAttestCA.generate()


@pytest.fixture
def settings(
    database_url: str, tmp_path: Path, android_ca: AttestationCA, apple_ca: AppAttestCA
) -> Settings:
    (tmp_path / "android.pem").write_bytes(android_ca.root_pem())
    (tmp_path / "apple.pem").write_bytes(apple_ca.root_pem())
    return Settings(
        data_dir=tmp_path / "server",
        database_url=database_url,
        migrate_on_start=False,
        feed_scheduler=False,
        android_attestation_roots_file=tmp_path / "android.pem",
        android_revocation_source="",
        app_attest_app_ids=[APP_ID],
        app_attest_roots_file=tmp_path / "apple.pem",
    )


@pytest.fixture
def server(app: Any) -> Iterator[ServerThread]:
    with ServerThread() as srv:
        srv.start(app)
        yield srv


def _enroll(server: ServerThread, api: Api, state_dir: Path, scenario: str) -> SimulatedDevice:
    device = simulate(scenario, seed=7, today=TODAY)
    plan = plan_from_options(
        server_url=server.url,
        onboarding_token=api.onboarding_token(),
        scenario=EnrollmentScenario(scenario),
    )
    onboard(
        plan,
        device,
        confirm=lambda _q: True,
        state_dir=state_dir,
        collector=agent_state.Collector("simulated", scenario, 7, TODAY.isoformat()),
        now=api.clock(),
    )
    return device


def _indicator(api: Api, value: str) -> None:
    r = api.client.post(
        "/api/web/indicators",
        json={"type": "domain", "value": value, "action": "Block"},
        headers=api.headers(),
    )
    assert r.status_code == 201, r.text


def _web_files(state_dir: Path) -> list[str]:
    folder = state_dir / web.WEB_DIR
    return sorted(p.name for p in folder.glob("*.json")) if folder.is_dir() else []


def _timeline(api: Api, device_id: str) -> list[dict[str, Any]]:
    r = api.client.get(f"/api/devices/{device_id}", headers=api.headers("read-only"))
    assert r.status_code == 200, r.text
    return list(r.json()["timeline"])


def _run(state_dir: Path, device: SimulatedDevice, clock: FakeClock, **kw: Any) -> RunResult:
    return run_once(state_dir, device, now=clock(), **kw)


def test_a_jailbroken_iphone_stops_protection_clears_data_and_says_so(
    server: ServerThread, api: Api, tmp_path: Path
) -> None:
    state_dir = tmp_path / "iphone"
    device = _enroll(server, api, state_dir, "ios-supervised")
    _indicator(api, "blocked-for-everyone.example")
    clean = _run(state_dir, device, api.clock)
    assert clean.response is None and not clean.protection_stopped
    assert _web_files(state_dir)  # settings and indicator sets are on the device

    jailbroken = apply(device, jailbroken_ios_signals())
    result = _run(state_dir, jailbroken, api.clock)
    assert result.checkin is not None
    assert result.checkin.integrity_state == "compromised"
    assert result.response is not None
    assert result.response.actions == ("stop_web_protection", "clear_local_data")
    assert result.response.removed_files >= 2
    assert _web_files(state_dir) == []
    assert agent_state.load(state_dir).protection_stopped
    events = _timeline(api, result.device_id)
    assert any(e["kind"] == "IntegrityResponse" for e in events), events
    alerts = api.client.get(
        "/api/alerts", params={"device_id": result.device_id}, headers=api.headers()
    ).json()["items"]
    assert [(a["title"], a["severity"]) for a in alerts] == [("Jailbroken device", "High")]

    # Still jailbroken: nothing is downloaded again and the response is not repeated.
    again = _run(state_dir, jailbroken, api.clock)
    assert again.response is None and again.protection_stopped
    assert _web_files(state_dir) == []
    assert sum(e["kind"] == "IntegrityResponse" for e in _timeline(api, result.device_id)) == 1

    # The jailbreak is gone: protection resumes and the sets come back at the next sync.
    resumed = _run(state_dir, device, api.clock)
    assert resumed.checkin is not None and resumed.checkin.integrity_state == "clean"
    assert not resumed.protection_stopped
    _run(state_dir, device, api.clock)
    assert _web_files(state_dir)


def test_a_rooted_android_keeps_protecting_under_the_default_policy(
    server: ServerThread, api: Api, tmp_path: Path
) -> None:
    state_dir = tmp_path / "pixel"
    device = _enroll(server, api, state_dir, "android-work-profile")
    _indicator(api, "blocked-for-everyone.example")
    result = _run(state_dir, apply(device, rooted_android_signals()), api.clock)
    assert result.checkin is not None and result.checkin.integrity_state == "compromised"
    assert result.response is None and not result.protection_stopped
    assert _web_files(state_dir)


def test_the_agent_attests_when_asked(
    server: ServerThread, api: Api, tmp_path: Path, android_ca: AttestationCA
) -> None:
    state_dir = tmp_path / "pixel"
    device = _enroll(server, api, state_dir, "android-work-profile")
    attesters = by_kind(KeystoreAttester(android_ca))
    first = _run(state_dir, device, api.clock, attesters=attesters)
    assert [(a.kind, a.accepted) for a in first.attestations] == [("android_key", True)]
    assert first.attestations[0].integrity_state == "clean"
    # Attested an hour ago: not asked again.
    api.clock.advance(hours=1)
    assert _run(state_dir, device, api.clock, attesters=attesters).attestations == ()
    # A day later the bootloader is unlocked, and the attestation says so.
    api.clock.advance(hours=24)
    unlocked = by_kind(KeystoreAttester(android_ca, {"device_locked": False}))
    later = _run(state_dir, device, api.clock, attesters=unlocked)
    assert [(a.kind, a.accepted) for a in later.attestations] == [("android_key", True)]
    assert later.attestations[0].integrity_state == "compromised"


def test_an_iphone_attests_its_key_once_then_asserts(
    server: ServerThread, api: Api, tmp_path: Path, apple_ca: AppAttestCA
) -> None:
    state_dir = tmp_path / "iphone"
    device = _enroll(server, api, state_dir, "ios-device-enrollment")
    attesters = by_kind(AppAttestAttester(SoftwareAppAttest(apple_ca, APP_ID)))
    first = _run(state_dir, device, api.clock, attesters=attesters)
    assert [(a.kind, a.accepted) for a in first.attestations] == [("app_attest", True)]
    api.clock.advance(hours=25)
    later = _run(state_dir, device, api.clock, attesters=attesters)
    assert [(a.kind, a.accepted) for a in later.attestations] == [("app_attest_assertion", True)]
