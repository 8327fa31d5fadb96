"""Managed app configuration: render -> parse round trips, refusals, and parse() on any bytes."""

from __future__ import annotations

import json
import plistlib

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from openmtd.domain.enums import EnrollmentScenario, Platform
from openmtd.enrollment.managed_config import (
    AGENT_PACKAGE,
    InvalidManagedConfig,
    ManagedConfig,
    PrivacySettings,
    parse,
    render,
    render_android,
    render_ios,
)

CONFIG = ManagedConfig(
    server_url="https://mtd.example.test",
    onboarding_token="omt_onb_abcdefghijklmnop",
    scenario=EnrollmentScenario.ANDROID_WORK_PROFILE,
    device_tag="sales",
    privacy=PrivacySettings(exclude_url_in_report=True, vulnerability_privacy_mode=True),
)
IOS_CONFIG = ManagedConfig(
    server_url="https://mtd.example.test",
    onboarding_token="omt_onb_abcdefghijklmnop",
    scenario=EnrollmentScenario.IOS_SUPERVISED,
)


def test_android_json_has_the_emm_shape_and_round_trips() -> None:
    text = render_android(CONFIG)
    doc = json.loads(text)
    assert doc["kind"] == "androidenterprise#managedConfiguration"
    assert doc["productId"] == f"app:{AGENT_PACKAGE}"
    props = {p["key"]: p for p in doc["managedProperty"]}
    assert props["ServerURL"] == {"key": "ServerURL", "valueString": "https://mtd.example.test"}
    assert props["Scenario"]["valueString"] == "android-work-profile"
    assert props["ExcludeURLInReport"] == {"key": "ExcludeURLInReport", "valueInteger": 1}
    assert props["ExcludeAppInReport"]["valueInteger"] == 0
    assert props["VulnerabilityPrivacyMode"]["valueInteger"] == 1
    assert parse(text.encode()) == CONFIG
    assert parse(render(CONFIG, Platform.ANDROID)) == CONFIG


def test_ios_plist_round_trips_as_a_document_and_as_a_bare_dict_fragment() -> None:
    data = render_ios(IOS_CONFIG)
    assert plistlib.loads(data)["Scenario"] == "ios-supervised"
    assert plistlib.loads(data)["VulnerabilityPrivacyMode"] == 0
    assert parse(data) == IOS_CONFIG
    assert parse(render(IOS_CONFIG, Platform.IOS)) == IOS_CONFIG

    start, end = data.index(b"<dict>"), data.rindex(b"</dict>") + len(b"</dict>")
    fragment = data[start:end]  # what MDM consoles take: only the <dict>
    assert fragment.startswith(b"<dict>") and b"<plist" not in fragment
    assert parse(fragment) == IOS_CONFIG
    assert parse(b"\n  " + fragment + b"\n") == IOS_CONFIG  # leading whitespace is fine


def test_binary_plist_is_read_too() -> None:
    data = plistlib.dumps(plistlib.loads(render_ios(IOS_CONFIG)), fmt=plistlib.FMT_BINARY)
    assert parse(data) == IOS_CONFIG


def test_values_are_stripped_and_optional_keys_default() -> None:
    data = plistlib.dumps(
        {"ServerURL": " https://x.test ", "OnboardingToken": " t ", "Scenario": "ios-mam"}
    )
    assert parse(data) == ManagedConfig("https://x.test", "t", EnrollmentScenario.IOS_MAM)


def _plist(**values: object) -> bytes:
    base: dict[str, object] = {
        "ServerURL": "https://x.test",
        "OnboardingToken": "tok",
        "Scenario": "ios-mam",
    }
    base.update(values)
    return plistlib.dumps({k: v for k, v in base.items() if v is not None})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not a managed configuration"),
        (b"hello", "not a managed configuration: expected Android managed-configuration JSON"),
        (b"{not json", "managed-configuration JSON is malformed"),
        (b'{"kind": "x"}', "managed-configuration JSON has no managedProperty list"),
        (b'{"managedProperty": [{"valueString": "x"}]}', "every managedProperty needs a string"),
        (b'{"managedProperty": [{"key": "ServerURL"}]}', "'ServerURL' needs exactly one value"),
        (
            b'{"managedProperty": [{"key": "A", "valueString": "x", "valueInteger": 1}]}',
            "'A' needs exactly one value",
        ),
        (b'{"a":' * 50_000, "managed-configuration JSON is malformed"),
        (b"<plist><dict><key>a</key></dict></plist>", "app-configuration plist is malformed"),
        (b"<dict><key>ServerURL</key><date>xx</date></dict>", "plist is malformed"),
        (b"<plist><array/></plist>", "app-configuration plist must be a dict of keys"),
        (b"bplist00garbage", "app-configuration plist is malformed"),
        (_plist(ServerURL=None), "ServerURL is missing"),
        (_plist(OnboardingToken="  "), "OnboardingToken is missing"),
        (_plist(Scenario=None), "Scenario is missing"),
        (_plist(ServerURL="ftp://x.test"), "ServerURL must be an http(s) URL"),
        (_plist(ServerURL=5), "ServerURL must be a string"),
        (_plist(Scenario="android-kiosk"), "Scenario 'android-kiosk' is unknown (known: android-"),
        (_plist(ExcludeURLInReport=2), "ExcludeURLInReport must be 0 or 1"),
        (_plist(ExcludeAppInReport=True), "ExcludeAppInReport must be 0 or 1"),
        (_plist(VulnerabilityPrivacyMode="1"), "VulnerabilityPrivacyMode must be 0 or 1"),
    ],
)
def test_refusals_say_why(data: bytes, message: str) -> None:
    with pytest.raises(InvalidManagedConfig) as info:
        parse(data)
    assert message in str(info.value)


def _nested_binary_plist(depth: int) -> bytes:
    """A binary plist of `depth` nested one-element arrays (plistlib reads it recursively)."""
    import struct

    objects, offsets, pos = b"", [], 8
    for i in range(depth):
        offsets.append(pos)
        obj = b"\xa1" + struct.pack(">H", i + 1) if i < depth - 1 else b"\xa0"
        objects += obj
        pos += len(obj)
    table = b"".join(struct.pack(">H", o) for o in offsets)
    trailer = struct.pack(">6xBBQQQ", 2, 2, depth, 0, pos)
    return b"bplist00" + objects + table + trailer


def test_deeply_nested_input_is_refused_not_crashing() -> None:
    with pytest.raises(InvalidManagedConfig, match="plist is malformed"):
        parse(_nested_binary_plist(5000))
    with pytest.raises(InvalidManagedConfig, match="not a managed configuration"):
        parse(b"[" * 100_000)  # not an object: refused before parsing
    with pytest.raises(InvalidManagedConfig, match="JSON is malformed"):
        parse(b'{"a":' + b"[" * 100_000)


_prefixes = st.sampled_from([b"", b"{", b"<", b"<dict>", b"bplist00", b"<plist>", b" \n{"])
_valid = [render_android(CONFIG).encode(), render_ios(IOS_CONFIG)]


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    """A valid file with a slice replaced by random bytes: close to valid, often broken."""
    data = draw(st.sampled_from(_valid))
    start = draw(st.integers(0, len(data)))
    end = draw(st.integers(start, min(len(data), start + 40)))
    return data[:start] + draw(st.binary(max_size=40)) + data[end:]


@settings(
    max_examples=400, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    st.one_of(
        st.binary(max_size=300),
        st.builds(lambda p, b: p + b, _prefixes, st.binary(max_size=300)),
        _mutated(),
    )
)
@example(b"<dict><key>ServerURL</key><date>xx</date></dict>")
@example(b'{"a":' * 5000)
@example(_nested_binary_plist(3000))
def test_parse_returns_a_config_or_raises_invalid_managed_config(data: bytes) -> None:
    try:
        result = parse(data)
    except InvalidManagedConfig as e:
        assert str(e)
    else:
        assert isinstance(result, ManagedConfig)


_token = st.text(
    st.characters(categories=["L", "N"], include_characters="_-."), min_size=1, max_size=60
)
_tag = st.text(st.characters(categories=["L", "N"], include_characters="_-.:@/"), max_size=64)


@settings(max_examples=150, derandomize=True, database=None)
@given(
    token=_token,
    tag=_tag,
    scenario=st.sampled_from(list(EnrollmentScenario)),
    flags=st.tuples(st.booleans(), st.booleans(), st.booleans()),
    platform=st.sampled_from(list(Platform)),
    host=st.from_regex(r"[a-z][a-z0-9-]{0,20}\.test", fullmatch=True),
)
def test_render_then_parse_is_identity(
    token: str,
    tag: str,
    scenario: EnrollmentScenario,
    flags: tuple[bool, bool, bool],
    platform: Platform,
    host: str,
) -> None:
    config = ManagedConfig(f"https://{host}", token, scenario, tag, PrivacySettings(*flags))
    assert parse(render(config, platform)) == config


def test_network_protection_privacy_is_on_unless_the_configuration_turns_it_off() -> None:
    off = ManagedConfig(
        server_url="https://mtd.example.test",
        onboarding_token="omt_onb_abcdefghijklmnop",
        scenario=EnrollmentScenario.IOS_SUPERVISED,
        privacy=PrivacySettings(network_protection_privacy=False),
    )
    data = render_ios(off)
    assert plistlib.loads(data)["NetworkProtectionPrivacy"] == 0
    assert parse(data).privacy.network_protection_privacy is False
    # A configuration written before the key existed keeps the privacy default: on.
    older = plistlib.loads(render_ios(IOS_CONFIG))
    del older["NetworkProtectionPrivacy"]
    assert parse(plistlib.dumps(older)).privacy.network_protection_privacy is True
