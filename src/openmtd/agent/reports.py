"""Check-in reports, built from what a collector saw, with privacy applied on the device.

Privacy is enforced here, before anything leaves the device (the server enforces it again):
- vulnerability privacy mode: no app inventory (``apps`` is null);
- exclude app in report: no app names, identifiers or hashes in detection evidence;
- exclude URL in report: no URL, domain or host in detection evidence.
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
from openmtd.engines.network.redact import without_network_details
from openmtd.engines.privacy import PrivacySettings
from openmtd.engines.web.detections import without_url

# Evidence keys that name an app or a URL; privacy drops them before a report is sent.
APP_EVIDENCE_KEYS = frozenset(
    {"app", "app_name", "app_identifier", "package", "package_name", "bundle_id", "app_sha256"}
)
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


def detection_json(detection: Detection, privacy: PrivacySettings) -> dict[str, Any]:
    hidden = APP_EVIDENCE_KEYS if privacy.exclude_app_in_report else frozenset()
    evidence = {k: v for k, v in detection.evidence if k not in hidden}
    title, key = detection.title, detection.key
    if privacy.exclude_url_in_report:
        title, key, evidence = without_url(detection.category, title, key, evidence)
    if privacy.network_protection_privacy:
        title, key, evidence = without_network_details(detection.category, title, key, evidence)
    return {
        "category": detection.category,
        "title": title,
        "severity": detection.severity.value,
        "key": key,
        "evidence": evidence,
        "timeline_only": detection.timeline_only,
        "resolved": detection.resolved,
    }


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
