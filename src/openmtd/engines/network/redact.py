"""Network protection privacy: what of a network detection may leave the device.

With the privacy control on (the default, as in the reference product) no SSID, BSSID, address
or certificate detail leaves the device: only the finding. A network detection keeps its
category, severity and the few evidence keys that name no network or certificate; its title
becomes the rule's generic title and its key an opaque digest, still stable, so that the
server de-duplicates and resolves the alert as before. Applied by the agent before sending and
again by the server on receipt (the control is enforced twice).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping

#: Detection categories of network protection, with the title a redacted detection carries.
NETWORK_TITLES = {
    "RogueWifi": "Rogue Wi-Fi network",
    "OpenWifi": "Open Wi-Fi network",
    "WeakWifi": "Wi-Fi network with weak security",
    "RogueCertificate": "Suspicious certificate",
    "TlsInterception": "TLS interception",
    "NetworkTrust": "The user trusted a network or a certificate",
}
#: Evidence that names neither a network nor a certificate.
SAFE_EVIDENCE_KEYS = frozenset(
    {
        "rule",
        "rule_id",
        "code",
        "verdict",
        "mode",
        "security",
        "security_code",
        "minimum_security",
        "event",
        "observed_at",
        "user_notified",
        "resolution",
        "captive_portal",
        "platform",
    }
)


_OPAQUE_KEY = re.compile(r"net:[0-9a-f]{32}")


def is_network_category(category: str) -> bool:
    return category in NETWORK_TITLES


def without_network_details(
    category: str, title: str, key: str, evidence: Mapping[str, str]
) -> tuple[str, str, dict[str, str]]:
    """The detection's title, key and evidence with no network or certificate detail; other
    categories pass unchanged."""
    if category not in NETWORK_TITLES:
        return title, key, dict(evidence)
    if _OPAQUE_KEY.fullmatch(key):  # already redacted (the server sees what the agent sent)
        opaque = key
    else:
        opaque = "net:" + hashlib.sha256(key.encode()).hexdigest()[:32]
    kept = {k: v for k, v in evidence.items() if k in SAFE_EVIDENCE_KEYS}
    return NETWORK_TITLES[category], opaque, kept
