"""Privacy settings of the reference product, their defaults per protection scope, and the
admin's privacy policy (which keys it sets, and which the person holding the device may change).

The agent applies the settings before sending and the server again on arrival; both take the
defaults from here, so the two can never disagree. No privacy setting changes compliance or
the device's risk: they decide only what a report carries.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Final

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

    def as_dict(self) -> dict[str, bool]:
        return asdict(self)


#: The privacy keys, in the order people see them.
PRIVACY_KEYS: Final = (
    "exclude_url_in_report",
    "exclude_app_in_report",
    "vulnerability_privacy_mode",
    "network_protection_privacy",
)
#: What each key does, in the words of the timeline and the agent.
PRIVACY_LABELS: Final = {
    "exclude_url_in_report": "exclude URL in report",
    "exclude_app_in_report": "exclude app in report",
    "vulnerability_privacy_mode": "vulnerability privacy mode",
    "network_protection_privacy": "network protection privacy",
}


def default_privacy(scope: ProtectionScope) -> PrivacySettings:
    """Reference defaults: off on work profiles and corporate devices, on for personal profiles.

    Vulnerability privacy mode is off by default everywhere (0: the app inventory is sent).
    """
    personal = scope is ProtectionScope.PERSONAL_PROFILE
    return PrivacySettings(exclude_url_in_report=personal, exclude_app_in_report=personal)


def privacy_settings(values: Mapping[str, object], *, scope: ProtectionScope) -> PrivacySettings:
    """Settings from stored or sent values; a key that is missing takes the scope's default."""
    known = {k: bool(values[k]) for k in PRIVACY_KEYS if k in values}
    return PrivacySettings(**{**default_privacy(scope).as_dict(), **known})


@dataclass(frozen=True, slots=True)
class PrivacyRule:
    """One rule of the admin's privacy policy: for devices of these protection scopes and
    device groups (empty: any), these keys have these values, and the person holding the
    device may change the keys in `user_toggles` (every other key is the organisation's)."""

    scopes: frozenset[ProtectionScope] = frozenset()
    device_groups: frozenset[str] = frozenset()
    values: Mapping[str, bool] = field(default_factory=dict)
    user_toggles: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        unknown = sorted((set(self.values) | self.user_toggles) - set(PRIVACY_KEYS))
        if unknown:
            raise ValueError(
                f"unknown privacy key(s) {', '.join(unknown)}; known: {', '.join(PRIVACY_KEYS)}"
            )

    def matches(self, scope: ProtectionScope, device_group: str) -> bool:
        return (not self.scopes or scope in self.scopes) and (
            not self.device_groups or device_group in self.device_groups
        )


@dataclass(frozen=True, slots=True)
class DevicePrivacyPolicy:
    """What the admin's policy says for one device: the values it sets, and which keys the
    person holding the device may change. A key the policy sets and the person may not change
    is locked: the policy's value always wins."""

    scope: ProtectionScope
    values: Mapping[str, bool] = field(default_factory=dict)
    user_toggles: frozenset[str] = frozenset()

    @property
    def locked(self) -> dict[str, bool]:
        return {k: v for k, v in self.values.items() if k not in self.user_toggles}

    def toggles(self) -> list[str]:
        """The keys the person may change, in display order."""
        return [k for k in PRIVACY_KEYS if k in self.user_toggles]


def policy_for(
    rules: Sequence[PrivacyRule], *, scope: ProtectionScope, device_group: str
) -> DevicePrivacyPolicy:
    """The first rule that matches the device decides; without one the scope's defaults apply
    and the person may change nothing."""
    for rule in rules:
        if rule.matches(scope, device_group):
            return DevicePrivacyPolicy(scope, dict(rule.values), rule.user_toggles)
    return DevicePrivacyPolicy(scope)


def enrollment_privacy(
    policy: DevicePrivacyPolicy, chosen: Mapping[str, bool | None]
) -> dict[str, bool]:
    """A new device's settings: the scope's defaults, then the policy's values, then what the
    enrollment asked for (the managed configuration), then the policy's locked values."""
    asked = {k: bool(v) for k, v in chosen.items() if k in PRIVACY_KEYS and v is not None}
    return {
        **default_privacy(policy.scope).as_dict(),
        **policy.values,
        **asked,
        **policy.locked,
    }


def enforce_policy(policy: DevicePrivacyPolicy, stored: Mapping[str, object]) -> dict[str, bool]:
    """A device's settings under the policy as it is now: its own values, with the locked
    ones the policy's (a key it never had takes the scope's default)."""
    return {**privacy_settings(stored, scope=policy.scope).as_dict(), **policy.locked}


def refused_changes(policy: DevicePrivacyPolicy, keys: Iterable[str]) -> list[str]:
    """The keys of a change the person holding the device may not make, in display order."""
    wanted = set(keys)
    return [k for k in PRIVACY_KEYS if k in wanted and k not in policy.user_toggles]


def turned_on(before: Mapping[str, object], after: Mapping[str, bool]) -> list[str]:
    return [k for k in PRIVACY_KEYS if after.get(k) and not before.get(k)]


def describe_change(before: Mapping[str, object], after: Mapping[str, bool]) -> str:
    """'exclude URL in report on, network protection privacy off' (no value of a report)."""
    parts = [
        f"{PRIVACY_LABELS[k]} {'on' if after[k] else 'off'}"
        for k in PRIVACY_KEYS
        if k in after and bool(before.get(k)) != after[k]
    ]
    return ", ".join(parts)
