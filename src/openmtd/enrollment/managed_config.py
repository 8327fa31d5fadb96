"""Managed app configuration an MDM deploys to the agent, rendered and parsed.

Android uses the managed-configuration JSON of the Google Play EMM API (the shape Intune and
other EMMs accept: ``kind``, ``productId``, ``managedProperty[]`` with typed values); iOS uses an
app-configuration property list (a ``dict`` of keys, as MDMs push with ManagedAppConfig). The
agent reads either file and, in a zero-touch scenario, enrolls without asking anything.
"""

from __future__ import annotations

import json
import plistlib
from dataclasses import dataclass, field
from typing import Any
from xml.parsers.expat import ExpatError

from openmtd.domain.enums import EnrollmentScenario, Platform
from openmtd.engines.privacy import PrivacySettings, default_privacy
from openmtd.enrollment.scenarios import spec_for

AGENT_PACKAGE = "org.openmtd.agent"


class InvalidManagedConfig(ValueError):
    """The managed-configuration file cannot be used; the message says why."""


@dataclass(frozen=True, slots=True)
class ManagedConfig:
    server_url: str
    onboarding_token: str
    scenario: EnrollmentScenario
    device_tag: str = ""
    privacy: PrivacySettings = field(default_factory=PrivacySettings)


_STRING_KEYS = {
    "ServerURL": "server_url",
    "OnboardingToken": "onboarding_token",
    "Scenario": "scenario",
    "DeviceTag": "device_tag",
}
_FLAG_KEYS = {
    "ExcludeURLInReport": "exclude_url_in_report",
    "ExcludeAppInReport": "exclude_app_in_report",
    "VulnerabilityPrivacyMode": "vulnerability_privacy_mode",
    "NetworkProtectionPrivacy": "network_protection_privacy",
}


def _as_pairs(config: ManagedConfig) -> list[tuple[str, str | int]]:
    p = config.privacy
    return [
        ("ServerURL", config.server_url),
        ("OnboardingToken", config.onboarding_token),
        ("Scenario", config.scenario.value),
        ("DeviceTag", config.device_tag),
        ("ExcludeURLInReport", int(p.exclude_url_in_report)),
        ("ExcludeAppInReport", int(p.exclude_app_in_report)),
        ("VulnerabilityPrivacyMode", int(p.vulnerability_privacy_mode)),
        ("NetworkProtectionPrivacy", int(p.network_protection_privacy)),
    ]


def render_android(config: ManagedConfig) -> str:
    props: list[dict[str, Any]] = []
    for key, value in _as_pairs(config):
        if isinstance(value, int):
            props.append({"key": key, "valueInteger": value})
        else:
            props.append({"key": key, "valueString": value})
    doc = {
        "kind": "androidenterprise#managedConfiguration",
        "productId": f"app:{AGENT_PACKAGE}",
        "managedProperty": props,
    }
    return json.dumps(doc, indent=2) + "\n"


def render_ios(config: ManagedConfig) -> bytes:
    return plistlib.dumps(dict(_as_pairs(config)), sort_keys=False)


def render(config: ManagedConfig, platform: Platform) -> bytes:
    if platform is Platform.ANDROID:
        return render_android(config).encode("utf-8")
    return render_ios(config)


def parse(data: bytes) -> ManagedConfig:
    """Read an Android managed-configuration JSON or an iOS app-configuration plist."""
    stripped = data.lstrip()
    if stripped.startswith(b"{"):
        values = _values_from_android(stripped)
    elif stripped.startswith((b"<", b"bplist")):
        values = _values_from_plist(stripped)
    else:
        raise InvalidManagedConfig(
            "not a managed configuration: expected Android managed-configuration JSON or an "
            "iOS app-configuration property list"
        )
    return _build(values)


def _values_from_android(data: bytes) -> dict[str, object]:
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as e:  # RecursionError: deep nesting
        raise InvalidManagedConfig(f"managed-configuration JSON is malformed: {e}") from e
    if not isinstance(doc, dict) or not isinstance(doc.get("managedProperty"), list):
        raise InvalidManagedConfig("managed-configuration JSON has no managedProperty list")
    values: dict[str, object] = {}
    for prop in doc["managedProperty"]:
        if not isinstance(prop, dict) or not isinstance(prop.get("key"), str):
            raise InvalidManagedConfig("every managedProperty needs a string 'key'")
        typed = [v for k, v in prop.items() if k.startswith("value")]
        if len(typed) != 1:
            raise InvalidManagedConfig(f"managedProperty {prop['key']!r} needs exactly one value")
        values[prop["key"]] = typed[0]
    return values


def _values_from_plist(data: bytes) -> dict[str, object]:
    if data.startswith(b"<dict"):  # the bare fragment MDM consoles take
        data = b'<?xml version="1.0" encoding="UTF-8"?><plist version="1.0">' + data + b"</plist>"
    try:
        doc = plistlib.loads(data)
    except (plistlib.InvalidFileException, ExpatError, ValueError, TypeError) as e:
        raise InvalidManagedConfig(f"app-configuration plist is malformed: {e}") from e
    except Exception as e:  # noqa: BLE001 - plistlib leaks assorted errors on malformed input
        # (AttributeError on a bad <date>, RecursionError on deeply nested binary plists ...)
        raise InvalidManagedConfig(
            f"app-configuration plist is malformed: {type(e).__name__}: {e}"
        ) from e
    if not isinstance(doc, dict):
        raise InvalidManagedConfig("app-configuration plist must be a dict of keys")
    return dict(doc)


def _build(values: dict[str, object]) -> ManagedConfig:
    strings: dict[str, str] = {}
    for key, attr in _STRING_KEYS.items():
        value = values.get(key, "")
        if not isinstance(value, str):
            raise InvalidManagedConfig(f"{key} must be a string")
        strings[attr] = value.strip()
    for key in ("ServerURL", "OnboardingToken", "Scenario"):
        if not strings[_STRING_KEYS[key]]:
            raise InvalidManagedConfig(f"{key} is missing")
    if not strings["server_url"].startswith(("https://", "http://")):
        raise InvalidManagedConfig("ServerURL must be an http(s) URL")
    try:
        scenario = EnrollmentScenario(strings["scenario"])
    except ValueError as e:
        known = ", ".join(s.value for s in EnrollmentScenario)
        raise InvalidManagedConfig(
            f"Scenario {strings['scenario']!r} is unknown (known: {known})"
        ) from e
    # A flag the configuration leaves out takes the scenario's privacy default (engines.privacy:
    # URL and app details excluded on personal profiles only, network privacy on everywhere).
    scope = spec_for(scenario).scope
    defaults = (default_privacy(scope) if scope else PrivacySettings()).as_dict()
    flags: dict[str, bool] = {}
    for key, attr in _FLAG_KEYS.items():
        value = values.get(key, int(defaults[attr]))
        if isinstance(value, bool) or value not in (0, 1):
            raise InvalidManagedConfig(f"{key} must be 0 or 1")
        flags[attr] = bool(value)
    return ManagedConfig(
        server_url=strings["server_url"],
        onboarding_token=strings["onboarding_token"],
        scenario=scenario,
        device_tag=strings["device_tag"],
        privacy=PrivacySettings(**flags),
    )
