"""Privacy settings of the reference product and their defaults per protection scope.

The agent applies them before sending and the server again on arrival; both take the defaults
from here, so the two can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

from openmtd.domain.enums import ProtectionScope


@dataclass(frozen=True, slots=True)
class PrivacySettings:
    """The privacy keys (0 = send, 1 = keep on the device)."""

    exclude_url_in_report: bool = False
    exclude_app_in_report: bool = False
    vulnerability_privacy_mode: bool = False
    # Network protection privacy: no SSID, BSSID or certificate detail leaves the device, only
    # the finding (on by default everywhere, as in the reference product).
    network_protection_privacy: bool = True


def default_privacy(scope: ProtectionScope) -> PrivacySettings:
    """Reference defaults: off on work profiles and corporate devices, on for personal profiles.

    Vulnerability privacy mode is off by default everywhere (0: the app inventory is sent).
    """
    personal = scope is ProtectionScope.PERSONAL_PROFILE
    return PrivacySettings(exclude_url_in_report=personal, exclude_app_in_report=personal)
