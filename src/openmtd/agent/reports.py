"""Check-in reports, built from what a collector saw, with privacy applied on the device.

Privacy is enforced here, before anything leaves the device (the server enforces it again):
- vulnerability privacy mode: no app inventory (``apps`` is null);
- exclude app in report: no app names, identifiers or hashes in detections;
- exclude URL in report: no URL, domain or host in detections;
- network protection privacy: no network observations, no SSID, BSSID or certificate detail
  in detections.
A report queued while the device was offline is built again under the settings of the moment
it is sent (`redact_report`): a privacy setting turned on in between holds for it too.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from openmtd.domain.device import (
    AppInfo,
    Detection,
    DeviceFacts,
    IntegritySignal,
    NetworkObservation,
)
from openmtd.engines.apps.redact import APP_EVIDENCE_KEYS, without_app
from openmtd.engines.network.redact import without_network_details
from openmtd.engines.privacy import PrivacySettings
from openmtd.engines.web.detections import without_url

__all__ = ["APP_EVIDENCE_KEYS", "build_checkin", "detection_json", "redact_report"]
_TAG_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:@/-")


def new_report_id() -> str:
    return uuid.uuid4().hex


def app_json(app: AppInfo) -> dict[str, Any]:
    return {
        "identifier": app.identifier,
        "version": app.version,
        "name": app.name,
        "install_source": app.install_source.value,
        "sha256": app.sha256,
        "signer_sha256": app.signer_sha256,
        "signer_sha1": app.signer_sha1,
    }


def _private(
    category: str, title: str, key: str, evidence: dict[str, str], privacy: PrivacySettings
) -> tuple[str, str, dict[str, str]]:
    if privacy.exclude_url_in_report:
        title, key, evidence = without_url(category, title, key, evidence)
    if privacy.exclude_app_in_report:
        title, key, evidence = without_app(category, title, key, evidence)
    if privacy.network_protection_privacy:
        title, key, evidence = without_network_details(category, title, key, evidence)
    return title, key, evidence


def detection_json(detection: Detection, privacy: PrivacySettings) -> dict[str, Any]:
    title, key, evidence = _private(
        detection.category, detection.title, detection.key, dict(detection.evidence), privacy
    )
    return {
        "category": detection.category,
        "title": title,
        "severity": detection.severity.value,
        "key": key,
        "evidence": evidence,
        "timeline_only": detection.timeline_only,
        "resolved": detection.resolved,
    }


def redact_report(report: dict[str, Any], privacy: PrivacySettings) -> dict[str, Any]:
    """A built report (a queued one) under these privacy settings; applying the settings it
    was built with changes nothing, so a report is resent as it was unless a setting was
    turned on since."""
    out = dict(report)
    if privacy.vulnerability_privacy_mode:
        out["apps"] = None
    if privacy.network_protection_privacy:
        out["network_observations"] = []
    detections = []
    for d in report.get("detections") or ():
        title, key, evidence = _private(
            str(d.get("category", "")),
            str(d.get("title", "")),
            str(d.get("key", "")),
            {str(k): str(v) for k, v in (d.get("evidence") or {}).items()},
            privacy,
        )
        detections.append({**d, "title": title, "key": key, "evidence": evidence})
    out["detections"] = detections
    return out


def _is_tag(value: str) -> bool:
    return 0 < len(value) <= 64 and set(value) <= _TAG_CHARS


def build_checkin(
    facts: DeviceFacts,
    *,
    collected_at: datetime,
    privacy: PrivacySettings,
    integrity_signals: Iterable[IntegritySignal] = (),
    network_observations: Iterable[NetworkObservation] = (),
    detections: Iterable[Detection] = (),
    device_tag: str = "",
    report_id: str | None = None,
) -> dict[str, Any]:
    """The body of one check-in, ready to send (or to spool) as JSON.

    `device_tag` (from the managed configuration) goes with every report's tags: the server
    recomputes a device's tags from its token's tags and the reported ones at each check-in.
    """
    if collected_at.tzinfo is None:
        raise ValueError("collected_at must be timezone-aware")
    tags = list(dict.fromkeys([*facts.tags, *([device_tag] if device_tag else [])]))
    return {
        "report_id": report_id or new_report_id(),
        "collected_at": collected_at.isoformat(),
        "facts": {
            "platform": facts.platform.value,
            "scenario": facts.scenario.value,
            "os_version": facts.os_version,
            "security_patch_level": (
                facts.security_patch_level.isoformat() if facts.security_patch_level else None
            ),
            "model": facts.model,
            "manufacturer": facts.manufacturer,
            "build": facts.build,
            "tags": [t for t in tags if _is_tag(t)],
        },
        "apps": (None if privacy.vulnerability_privacy_mode else [app_json(a) for a in facts.apps]),
        "integrity_signals": [{"name": s.name, "value": s.value} for s in integrity_signals],
        "network_observations": []
        if privacy.network_protection_privacy
        else [{"kind": o.kind, "attributes": dict(o.attributes)} for o in network_observations],
        "detections": [detection_json(d, privacy) for d in detections],
    }
