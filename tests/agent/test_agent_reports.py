"""Check-in reports: what the agent sends, with privacy applied on the device first."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from openmtd.agent.collectors.simulated import simulate
from openmtd.agent.reports import build_checkin
from openmtd.domain.device import Detection, NetworkObservation
from openmtd.domain.enums import Severity
from openmtd.enrollment.managed_config import PrivacySettings
from openmtd.server.agent_api.schemas import CheckInRequest

TODAY = date(2026, 11, 26)
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
MALWARE = Detection(
    category="Malware",
    title="Malicious app",
    severity=Severity.MEDIUM,
    key="app:com.evil.flashlight",
    evidence=(("package", "com.evil.flashlight"), ("app_name", "Flashlight"), ("rule", "hash")),
)
PHISHING = Detection(
    category="Phishing",
    title="Phishing site blocked",
    severity=Severity.INFORMATIONAL,
    key="url:phish",
    evidence=(("url", "https://smartscreentestratings2.net/"), ("verdict", "Block")),
)


def test_a_full_report_is_what_the_server_accepts() -> None:
    device = simulate("android-work-profile", seed=5, today=TODAY)
    body = build_checkin(
        device.facts,
        collected_at=NOW,
        privacy=PrivacySettings(),
        integrity_signals=device.integrity_signals,
        network_observations=[NetworkObservation("wifi", (("ssid", "Office"),))],
        detections=[MALWARE],
        device_tag="fleet-a",
    )
    parsed = CheckInRequest.model_validate(body)  # the server's own schema
    assert (
        len(body["report_id"]) == 32
        and body["report_id"]
        != build_checkin(device.facts, collected_at=NOW, privacy=PrivacySettings())["report_id"]
    )
    assert parsed.apps is not None and len(parsed.apps) == len(device.facts.apps) > 0
    assert parsed.facts.scenario.value == "android-work-profile"
    assert "fleet-a" in parsed.facts.tags
    assert len(parsed.integrity_signals) == len(device.integrity_signals)
    assert parsed.detections[0].evidence["package"] == "com.evil.flashlight"


def test_vulnerability_privacy_mode_sends_no_app_inventory() -> None:
    device = simulate("ios-user-enrollment", seed=5, today=TODAY)
    body = build_checkin(
        device.facts,
        collected_at=NOW,
        privacy=PrivacySettings(vulnerability_privacy_mode=True),
    )
    assert body["apps"] is None
    CheckInRequest.model_validate(body)


def test_excluding_app_and_url_details_strips_detection_evidence() -> None:
    device = simulate("android-personal-profile", seed=5, today=TODAY)
    body = build_checkin(
        device.facts,
        collected_at=NOW,
        privacy=PrivacySettings(exclude_app_in_report=True, exclude_url_in_report=True),
        detections=[MALWARE, PHISHING],
    )
    malware, phishing = body["detections"]
    assert malware["evidence"] == {"rule": "hash"}
    assert phishing["evidence"] == {"verdict": "Block"}
    assert body["apps"]  # the inventory is governed by vulnerability privacy mode only


def test_collected_at_must_be_aware() -> None:
    device = simulate("ios-mam", seed=1, today=TODAY)
    with pytest.raises(ValueError, match="timezone-aware"):
        build_checkin(device.facts, collected_at=datetime(2026, 1, 1), privacy=PrivacySettings())
