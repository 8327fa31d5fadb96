"""Privacy on the device: what is excluded never leaves it.

The report builders get planted values (a URL host, an app package and name, an SSID, a BSSID,
a certificate subject) and must send none of what the settings exclude; a report queued before
the person turned a setting on goes out under the new setting; and end to end, through a real
server, the bytes the agent sends carry none of them. The person changes only what the
organisation leaves to them (`openmtd agent privacy` drives the same functions).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import Api
from openmtd.agent import outbox
from openmtd.agent import privacy as agent_privacy
from openmtd.agent import state as agent_state
from openmtd.agent.client import AgentClient, AgentError
from openmtd.agent.collectors.simulated import SimulatedDevice, simulate
from openmtd.agent.onboarding import onboard, plan_from_options
from openmtd.agent.reports import build_checkin, redact_report
from openmtd.agent.runner import run_once
from openmtd.agent.spool import spool_for
from openmtd.cli.serve import ServerThread
from openmtd.config import CorporateWifi, Settings
from openmtd.domain.device import AppInfo, Detection, NetworkObservation
from openmtd.domain.enums import EnrollmentScenario, InstallSource, Severity
from openmtd.domain.web import Indicator, IndicatorAction, IndicatorMeta, IndicatorType, MatchKind
from openmtd.engines.privacy import PRIVACY_KEYS, PrivacySettings
from openmtd.engines.web.detections import web_detection
from openmtd.engines.web.index import build_index
from openmtd.server.agent_api.schemas import CheckInRequest

TODAY = date(2026, 11, 26)
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
URL_HOST = "planted-url-7f3a9c.example"
APP_PACKAGE = "com.planted.secretapp7f3a9c"
APP_NAME = "Plantedsecret7f3a9c Diary"
SSID = "PlantedSSID-7f3a9c"
GOOD_BSSID = "02:7f:3a:9c:00:01"
BSSID = "02:7f:3a:9c:7f:3b"
CERT_CN = "planted-cert-7f3a9c"
MARKERS = {
    "url": URL_HOST,
    "app package": APP_PACKAGE,
    "app name": APP_NAME,
    "ssid": SSID,
    "bssid": BSSID,
    "certificate": CERT_CN,
}
#: Which markers each key keeps on the device.
EXCLUDES = {
    "exclude_url_in_report": {"url"},
    "exclude_app_in_report": {"app package", "app name"},
    "network_protection_privacy": {"ssid", "bssid", "certificate"},
}
OFF = PrivacySettings(network_protection_privacy=False)
ON = PrivacySettings(
    exclude_url_in_report=True,
    exclude_app_in_report=True,
    vulnerability_privacy_mode=True,
    network_protection_privacy=True,
)


def found(text: str) -> set[str]:
    low = text.lower()
    return {name for name, value in MARKERS.items() if value.lower() in low}


def phishing() -> Detection:
    """What the local proxy makes of a visit with "exclude URL in report" off (the real engine)."""
    meta = IndicatorMeta(
        kind=MatchKind.FEED, source="phishtank", action=IndicatorAction.BLOCK, title="Phish"
    )
    index = build_index([("f", [Indicator(IndicatorType.DOMAIN, URL_HOST, meta)])])
    verdict = index.check_url(f"https://{URL_HOST}/login", now=NOW)
    detection = web_detection(verdict, channel="proxy", exclude_url=False)
    assert detection is not None and URL_HOST in detection.title
    return detection


def detections() -> list[Detection]:
    return [
        phishing(),
        Detection(
            category="Malware",
            title=f"Malicious app: {APP_NAME} ({APP_PACKAGE})",
            severity=Severity.MEDIUM,
            key=f"app:{APP_PACKAGE}",
            evidence=(("package", APP_PACKAGE), ("app_name", APP_NAME), ("verdict", "malicious")),
        ),
        Detection(
            category="RogueWifi",
            title=f"Evil twin of {SSID} ({BSSID})",
            severity=Severity.LOW,
            key=f"wifi.evil_twin|{BSSID}|{SSID}",
            evidence=(("ssid", SSID), ("bssid", BSSID), ("security", "open")),
        ),
        Detection(
            category="TlsInterception",
            title=f"TLS interception by {CERT_CN}",
            severity=Severity.MEDIUM,
            key=f"tls.intercepted:canary:443:{CERT_CN}",
            evidence=(("subject", f"CN={CERT_CN}"), ("verdict", "intercepted")),
        ),
    ]


def report(privacy: PrivacySettings) -> dict[str, Any]:
    device = simulate("android-work-profile", seed=5, today=TODAY)
    planted = AppInfo(
        identifier=APP_PACKAGE,
        version="1.0",
        name=APP_NAME,
        install_source=InstallSource.SIDELOADED,
    )
    facts = replace(device.facts, apps=(*device.facts.apps, planted))
    return build_checkin(
        facts,
        collected_at=NOW,
        privacy=privacy,
        network_observations=[
            NetworkObservation("wifi", (("ssid", SSID), ("bssid", BSSID))),
            NetworkObservation("tls", (("subject", f"CN={CERT_CN}"),)),
        ],
        detections=detections(),
    )


def test_with_every_control_on_nothing_planted_is_sent() -> None:
    body = report(ON)
    assert found(json.dumps(body)) == set()
    assert body["apps"] is None and body["network_observations"] == []
    assert [d["category"] for d in body["detections"]] == [
        "Phishing",
        "Malware",
        "RogueWifi",
        "TlsInterception",
    ]
    CheckInRequest.model_validate(body)  # still a report the server takes


def test_with_every_control_off_everything_is_sent() -> None:
    assert found(json.dumps(report(OFF))) == set(MARKERS)


@pytest.mark.parametrize("key", sorted(EXCLUDES))
def test_each_control_keeps_exactly_its_values(key: str) -> None:
    body = report(replace(OFF, **{key: True}))
    sent = {k: v for k, v in body.items() if k != "apps"}  # the inventory: see the next test
    assert found(json.dumps(sent)) == set(MARKERS) - EXCLUDES[key]
    assert found(json.dumps(body["apps"])) == {"app package", "app name"}


def test_vulnerability_privacy_mode_keeps_the_inventory_but_not_detections() -> None:
    body = report(replace(OFF, vulnerability_privacy_mode=True))
    assert body["apps"] is None
    # The malware detection is governed by "exclude app in report", not by this mode.
    assert "app package" in found(json.dumps(body["detections"]))


def test_a_queued_report_goes_out_under_the_settings_of_the_moment() -> None:
    queued = report(OFF)
    now_private = redact_report(queued, ON)
    assert found(json.dumps(now_private)) == set()
    assert now_private["report_id"] == queued["report_id"]
    CheckInRequest.model_validate(now_private)
    # Under the settings it was built with, a report is resent byte for byte.
    assert redact_report(queued, OFF) == queued
    built_private = report(ON)
    assert redact_report(built_private, ON) == built_private
    assert redact_report(built_private, OFF) == built_private  # turning off adds nothing back


# -- end to end, against a real server ------------------------------------------------------


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "server",
        database_url=database_url,
        migrate_on_start=False,
        feed_scheduler=False,
        android_revocation_source="",
        corporate_wifi=[CorporateWifi(ssid=SSID, bssids=[GOOD_BSSID])],
        privacy_policy=[
            {
                "scopes": ["work-profile"],
                "user_toggles": [
                    "exclude_url_in_report",
                    "exclude_app_in_report",
                    "network_protection_privacy",
                ],
            }
        ],
    )


@pytest.fixture
def server(app: Any) -> Iterator[ServerThread]:
    with ServerThread() as srv:
        srv.start(app)
        yield srv


class Recording(httpx.HTTPTransport):
    """The real transport, keeping a copy of every request body the agent sends."""

    def __init__(self, sent: list[bytes]) -> None:
        super().__init__()
        self.sent = sent

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request.read())
        return super().handle_request(request)


def enroll(server: ServerThread, api: Api, state_dir: Path) -> SimulatedDevice:
    device = simulate("android-work-profile", seed=3, today=TODAY)
    plan = plan_from_options(
        server_url=server.url,
        onboarding_token=api.onboarding_token(),
        scenario=EnrollmentScenario.ANDROID_WORK_PROFILE,
    )
    onboard(
        replace(plan, privacy=OFF),
        device,
        confirm=lambda _q: True,
        state_dir=state_dir,
        collector=agent_state.Collector("simulated", "android-work-profile", 3, TODAY.isoformat()),
        now=NOW,
    )
    return device


def test_the_agent_sends_nothing_excluded_once_its_user_turns_privacy_on(
    server: ServerThread, api: Api, tmp_path: Path
) -> None:
    state_dir = tmp_path / "phone"
    device = enroll(server, api, state_dir)
    state = agent_state.load(state_dir)
    assert state.privacy == OFF
    assert state.privacy_user_toggles == (
        "exclude_url_in_report",
        "exclude_app_in_report",
        "network_protection_privacy",
    )
    # Found while privacy was off: a report queued offline, a detection of the local proxy.
    spool_for(state_dir).add(report(OFF))
    outbox.add(state_dir, phishing())

    # The person turns the three controls on; the organisation keeps vulnerability mode.
    with pytest.raises(AgentError) as refused:
        agent_privacy.change(state_dir, [("vulnerability_privacy_mode", True)])
    assert refused.value.code == "privacy_key_locked" and refused.value.status == 403
    assert "vulnerability_privacy_mode" in refused.value.message
    view = agent_privacy.change(state_dir, [(k, True) for k in EXCLUDES])
    assert view.changed == tuple(EXCLUDES)
    assert agent_state.load(state_dir).privacy == replace(ON, vulnerability_privacy_mode=False)
    assert [r[0] for r in view.rows() if r[3]] == list(view.user_toggles)

    sent: list[bytes] = []

    def recording_client(url: str, **kw: Any) -> AgentClient:
        return AgentClient(url, transport=Recording(sent), **kw)

    planted_apps = replace(
        device,
        facts=replace(
            device.facts,
            apps=(
                *device.facts.apps,
                AppInfo(identifier=APP_PACKAGE, version="1", name=APP_NAME),
            ),
        ),
    )
    result = run_once(
        state_dir,
        planted_apps,
        now=NOW,
        client_factory=recording_client,
        network_observations=[
            NetworkObservation(
                "wifi",
                (
                    ("ssid", f'"{SSID}"'),
                    ("bssid", BSSID),
                    ("security", "2"),
                    ("event", "connected"),
                ),
            )
        ],
    )
    assert result.checkin is not None and len(result.resent) == 1
    bodies = [b for b in sent if b]
    assert len(bodies) == 2  # the queued report, then today's
    for body in bodies:
        doc = json.loads(body)
        assert found(json.dumps(doc["detections"])) == set(), doc["detections"]
        assert doc["network_observations"] == []
    # Today's report: the evil twin was found and reported, without the network's names.
    today = json.loads(bodies[-1])
    assert {d["category"] for d in today["detections"]} >= {"RogueWifi", "Phishing"}
    # The inventory is governed by vulnerability privacy mode (still off): it carries the app.
    assert "app package" in found(json.dumps(today["apps"]))

    # The server holds the same settings, and tells the person what they may change.
    shown = agent_privacy.show(state_dir)
    assert (
        shown.source == "server" and shown.privacy == agent_state.load(state_dir).privacy.as_dict()
    )
    assert list(shown.privacy) == list(PRIVACY_KEYS)


def test_showing_the_settings_offline_falls_back_to_the_last_sync(
    server: ServerThread, api: Api, tmp_path: Path
) -> None:
    state_dir = tmp_path / "phone"
    enroll(server, api, state_dir)
    state = agent_state.load(state_dir)
    agent_state.save(state_dir, state.with_changes(server_url="http://127.0.0.1:9"))
    view = agent_privacy.show(state_dir)
    assert view.source == "last sync" and view.unreachable
    assert view.user_toggles == state.privacy_user_toggles


def test_parse_setting() -> None:
    assert agent_privacy.parse_setting("exclude-url-in-report=ON") == (
        "exclude_url_in_report",
        True,
    )
    assert agent_privacy.parse_setting("network_protection_privacy=0") == (
        "network_protection_privacy",
        False,
    )
    for bad in ("exclude_url_in_report", "bogus=on", "exclude_url_in_report=maybe"):
        with pytest.raises(ValueError):
            agent_privacy.parse_setting(bad)
