"""Network protection end to end: the agent judges Wi-Fi networks and TLS canaries with the
server's policy, reports detections, and the server raises the reference product's alerts and
events; network protection privacy keeps SSIDs, BSSIDs and certificate details on the device."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import text

from conftest import Api
from mitm import run_mitmdump
from openmtd.agent import state as agent_state
from openmtd.agent.collectors.simulated import SimulatedDevice, simulate
from openmtd.agent.onboarding import onboard, plan_from_options
from openmtd.agent.runner import run_once
from openmtd.cli.serve import ServerThread
from openmtd.config import CorporateWifi, NetworkCanary, Settings
from openmtd.domain.device import NetworkObservation
from openmtd.domain.enums import EnrollmentScenario
from openmtd.engines.privacy import PrivacySettings
from tlscanary import CANARY, LOOPBACK, TlsServer, make_pki

TODAY = date(2026, 11, 26)
SSID = "CorpNet-Distinctive-7Q"
GOOD_BSSID = "aa:bb:cc:00:00:01"
ROGUE_BSSID = "de:ad:be:ef:00:42"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "server",
        database_url=database_url,
        migrate_on_start=False,
        feed_scheduler=False,
        android_revocation_source="",
        corporate_wifi=[CorporateWifi(ssid=SSID, bssids=[GOOD_BSSID])],
    )


@pytest.fixture
def server(app: Any) -> Iterator[ServerThread]:
    with ServerThread() as srv:
        srv.start(app)
        yield srv


def enroll(
    server: ServerThread, api: Api, state_dir: Path, *, privacy: PrivacySettings | None = None
) -> SimulatedDevice:
    device = simulate("android-work-profile", seed=3, today=TODAY)
    plan = plan_from_options(
        server_url=server.url,
        onboarding_token=api.onboarding_token(),
        scenario=EnrollmentScenario.ANDROID_WORK_PROFILE,
    )
    onboard(
        replace(plan, privacy=privacy),
        device,
        confirm=lambda _q: True,
        state_dir=state_dir,
        collector=agent_state.Collector("simulated", "android-work-profile", 3, TODAY.isoformat()),
        now=api.clock(),
    )
    return device


def wifi(bssid: str, *, security: str = "2", event: str = "connected") -> NetworkObservation:
    return NetworkObservation(
        "wifi",
        (
            ("ssid", f'"{SSID}"'),
            ("bssid", bssid),
            ("security", security),
            ("event", event),
            ("gateway_ip", "192.168.7.1"),
        ),  # fmt: skip
    )


def alerts(api: Api, device_id: str) -> list[dict[str, Any]]:
    r = api.client.get("/api/alerts", params={"device_id": device_id}, headers=api.headers())
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def events(api: Api, device_id: str) -> list[dict[str, Any]]:
    r = api.client.get(f"/api/devices/{device_id}", headers=api.headers())
    assert r.status_code == 200, r.text
    return list(r.json()["timeline"])


def everything_stored(api: Api) -> str:
    """Every row of every table, as text (where a leaked SSID would show up)."""
    engine = api.app.state.ctx.engine
    out = []
    with engine.connect() as conn:
        for table in ("devices", "alerts", "device_events", "checkins", "audit_log"):
            try:
                out.extend(str(row) for row in conn.execute(text(f"SELECT * FROM {table}")))
            except Exception:  # a table of another name: skipped, the others still count
                conn.rollback()
    return "\n".join(out)


def test_an_evil_twin_is_a_low_rogue_wifi_alert_and_privacy_keeps_the_ssid_home(
    server: ServerThread, api: Api, tmp_path: Path
) -> None:
    state_dir = tmp_path / "phone"
    device = enroll(server, api, state_dir)
    device_id = agent_state.load(state_dir).device_id
    run_once(state_dir, device, now=api.clock(), network_observations=[wifi(GOOD_BSSID)])
    assert alerts(api, device_id) == []

    api.clock.advance(minutes=15)
    run_once(state_dir, device, now=api.clock(), network_observations=[wifi(ROGUE_BSSID)])
    [alert] = alerts(api, device_id)
    assert (alert["category"], alert["severity"], alert["status"]) == ("RogueWifi", "Low", "New")
    assert alert["title"] == "Rogue Wi-Fi network"
    # Network protection privacy is on by default: the SSID and BSSIDs never left the device.
    stored = everything_stored(api)
    page = api.client.get(f"/api/devices/{device_id}", headers=api.headers()).text
    for secret in (SSID, ROGUE_BSSID, GOOD_BSSID, "192.168.7.1"):
        assert secret not in stored and secret not in page
        assert secret not in api.client.get("/api/alerts", headers=api.headers()).text

    # Leaving the rogue access point resolves the alert (automatic remediation).
    api.clock.advance(minutes=15)
    run_once(state_dir, device, now=api.clock(), network_observations=[wifi(GOOD_BSSID)])
    [alert] = alerts(api, device_id)
    assert alert["status"] == "Resolved"


def test_with_network_privacy_off_the_alert_names_the_network(
    server: ServerThread, api: Api, tmp_path: Path
) -> None:
    state_dir = tmp_path / "phone"
    device = enroll(
        server, api, state_dir, privacy=PrivacySettings(network_protection_privacy=False)
    )
    device_id = agent_state.load(state_dir).device_id
    run_once(state_dir, device, now=api.clock(), network_observations=[wifi(ROGUE_BSSID)])
    [alert] = alerts(api, device_id)
    assert alert["category"] == "RogueWifi"
    assert SSID in str(alert)


# --- TLS interception by a real attacker tool --------------------------------------------------


def _spki_sha256(cert: x509.Certificate) -> str:
    spki = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).hexdigest()


def _point_canary(api: Api, port: int, trusted: list[str], pin: str) -> None:
    """The admin's network settings (every agent gets them with its next sync)."""
    ctx = api.app.state.ctx
    ctx.settings = ctx.settings.model_copy(
        update={
            "network_canaries": [
                NetworkCanary(host=CANARY, port=port, address=LOOPBACK, pins=[pin])
            ],
            "trusted_ca_list": ", ".join(trusted),
        }
    )


def test_mitmproxy_intercepting_the_canary_is_a_medium_alert_until_its_ca_is_trusted(
    server: ServerThread, api: Api, tmp_path: Path
) -> None:
    pki = make_pki()
    pin = _spki_sha256(pki.root.cert)
    root_sha1 = hashlib.sha1(pki.root.der).hexdigest()  # noqa: S324 - the reference format
    state_dir = tmp_path / "phone"
    # The canary sends its whole chain, root included (the device has no copy of that root).
    with TlsServer([pki.leaf, pki.intermediate, pki.root], tmp_path) as canary:
        device = enroll(server, api, state_dir)
        device_id = agent_state.load(state_dir).device_id
        # The canary's private root is on the trusted CA list: a clean handshake, no finding.
        _point_canary(api, canary.port, [root_sha1], pin)
        run_once(state_dir, device, now=api.clock())
        assert alerts(api, device_id) == []

        with run_mitmdump(LOOPBACK, canary.port, confdir=tmp_path / "mitm") as mitm:
            # The attacker sits in the path (as a rogue access point or ARP spoofing would put
            # it): the device's handshake to the canary reaches mitmproxy.
            _point_canary(api, mitm.port, [root_sha1], pin)
            api.clock.advance(minutes=15)
            run_once(state_dir, device, now=api.clock())
            [alert] = alerts(api, device_id)
            assert (alert["category"], alert["severity"]) == ("TlsInterception", "Medium")
            assert alert["status"] == "New" and alert["title"] == "TLS interception"
            # Privacy on: no certificate detail of the interceptor reached the server.
            assert mitm.ca_sha1 not in everything_stored(api)
            assert mitm.ca_sha1 not in api.client.get("/api/alerts", headers=api.headers()).text

            # A company inspection proxy: its CA is installed on the device by a profile and the
            # admin puts it on the trusted CA list. Allowed, and the alert resolves by itself
            # (automatic remediation); the installed root is not reported either.
            _point_canary(api, mitm.port, [root_sha1, mitm.ca_sha1], pin)
            api.clock.advance(minutes=15)
            run_once(state_dir, device, now=api.clock(), installed_roots=[mitm.ca_der])
            [alert] = alerts(api, device_id)
            assert alert["status"] == "Resolved"
            last_run = api.clock().isoformat().replace("+00:00", "Z")
            assert not [
                e
                for e in events(api, device_id)
                if e["kind"] == "RogueCertificate" and e["occurred_at"] == last_run
            ]


def test_a_root_the_user_installed_is_a_timeline_event(
    server: ServerThread, api: Api, tmp_path: Path
) -> None:
    pki = make_pki()
    state_dir = tmp_path / "phone"
    device = enroll(server, api, state_dir)
    device_id = agent_state.load(state_dir).device_id
    run_once(state_dir, device, now=api.clock(), installed_roots=[pki.root.der])
    assert alerts(api, device_id) == []  # Informational: on the timeline, not an alert
    assert any(e["kind"] == "RogueCertificate" or "certificate" in e["summary"].lower()
               for e in events(api, device_id)), events(api, device_id)  # fmt: skip


def test_the_user_trust_flow_needs_the_admins_consent_and_is_recorded(tmp_path: Path) -> None:
    from openmtd.agent.network import NetworkPolicy, TrustRefused, network_detections, trust
    from openmtd.domain.enums import Platform

    doc = {"corporate_wifi": [{"ssid": SSID, "bssids": [GOOD_BSSID]}]}
    refusing = NetworkPolicy.from_sync(doc)
    with pytest.raises(TrustRefused):
        trust(tmp_path, refusing, network=SSID)
    allowing = NetworkPolicy.from_sync({**doc, "user_trust": True})
    event = trust(tmp_path, allowing, network=SSID)
    assert (event.category, event.timeline_only) == ("NetworkTrust", True)
    now = datetime(2026, 11, 26, 12, tzinfo=UTC)
    # The trusted network is no longer judged: its rogue access point raises nothing.
    found = network_detections(tmp_path, allowing, Platform.ANDROID, [wifi(ROGUE_BSSID)], now=now)
    assert found == []
    other = network_detections(
        tmp_path / "other", allowing, Platform.ANDROID, [wifi(ROGUE_BSSID)], now=now
    )
    assert [d.category for d in other] == ["RogueWifi"]


def test_a_known_bad_network_from_the_admins_list_is_a_rogue_wifi_alert(
    server: ServerThread, api: Api, tmp_path: Path
) -> None:
    listing = tmp_path / "known-bad.csv"
    listing.write_text(f"type,value,title\nbssid,{ROGUE_BSSID},WiFi Pineapple at HQ\nssid,x\n")
    ctx = api.app.state.ctx
    ctx.settings = ctx.settings.model_copy(update={"known_bad_networks_file": listing})
    state_dir = tmp_path / "phone"
    device = enroll(
        server, api, state_dir, privacy=PrivacySettings(network_protection_privacy=False)
    )
    device_id = agent_state.load(state_dir).device_id
    run_once(state_dir, device, now=api.clock(), network_observations=[wifi(ROGUE_BSSID)])
    titles = sorted(a["title"] for a in alerts(api, device_id))
    assert any("known malicious network" in t for t in titles), titles
