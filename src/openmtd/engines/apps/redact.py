"""Exclude app in report: what of a detection may leave the device when it must name no app.

With the privacy control on, no app name, package, bundle id or file hash leaves the device:
evidence keys that name an app go from every detection, and an app detection (malware, a
potentially unwanted app) keeps only the evidence that names no app; its title becomes the
generic one and its key an opaque digest, still stable, so that the server de-duplicates and
resolves the alert as before. Applied by the agent before sending and again by the server on
receipt (the control is enforced twice).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping

#: Evidence keys that name an app, in any detection.
APP_EVIDENCE_KEYS = frozenset(
    {
        "app",
        "app_name",
        "app_identifier",
        "app_version",
        "app_sha256",
        "package",
        "package_name",
        "bundle_id",
        "identifier",
    }
)
#: Detection categories about one app, with the title a redacted detection carries (the
#: titles the server gives its own app alerts on such a device).
APP_TITLES = {
    "Malware": "Malicious app detected (app details excluded by privacy settings)",
    "PotentiallyUnwantedApp": (
        "Potentially unwanted app detected (app details excluded by privacy settings)"
    ),
}
#: Evidence of an app detection that names no app.
SAFE_APP_EVIDENCE_KEYS = frozenset(
    {
        "verdict",
        "score",
        "confidence",
        "factors",
        "rule",
        "rule_id",
        "decided_by",
        "action",
        "channel",
        "install_source",
        "observed_at",
    }
)

_OPAQUE_KEY = re.compile(r"app:[0-9a-f]{32}")


def without_app(
    category: str, title: str, key: str, evidence: Mapping[str, str]
) -> tuple[str, str, dict[str, str]]:
    """The detection's title, key and evidence with no trace of the app."""
    if category not in APP_TITLES:
        return title, key, {k: v for k, v in evidence.items() if k not in APP_EVIDENCE_KEYS}
    if _OPAQUE_KEY.fullmatch(key):  # already redacted (the server sees what the agent sent)
        opaque = key
    else:
        opaque = "app:" + hashlib.sha256(key.encode()).hexdigest()[:32]
    kept = {k: v for k, v in evidence.items() if k in SAFE_APP_EVIDENCE_KEYS}
    return APP_TITLES[category], opaque, kept
