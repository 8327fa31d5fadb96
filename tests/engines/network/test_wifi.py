"""The Wi-Fi threat engine: reading the agent's attributes on both platforms, each rule and its
boundaries, de-duplication over the stored history, resolution on leaving a rogue network, and
that nothing a device sends can make it raise."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openmtd.domain.device import NetworkObservation
from openmtd.domain.enums import Platform, Severity
from openmtd.domain.network import (
    MAX_HISTORY_NETWORKS,
    CorporateNetworkProfile,
    DetectionMode,
    NetworkId,
    SecurityKind,
    WifiEvent,
    WifiFinding,
    WifiHistory,
    WifiIndicator,
    WifiIndicatorType,
    WifiObservation,
    WifiPolicy,
    WifiProblem,
    normalize_mac,
)
from openmtd.engines.network.wifi import (
    ANDROID_SECURITY_TYPES,
    IOS_SECURITY_TYPES,
    RULES,
    evaluate_wifi,
    security_from_capabilities,
    wifi_detection,
    wifi_observation_from_attributes,
    wifi_observations,
)

A = Platform.ANDROID
I = Platform.IOS  # noqa: E741
K = SecurityKind
T0 = datetime(2025, 5, 1, 9, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
WEEK = timedelta(days=7)
B1 = "0a:00:00:00:00:01"
B2 = "0a:00:00:00:00:02"
B3 = "0a:00:00:00:00:03"
GW_MAC = "0a:00:00:00:99:01"
EVIL_MAC = "0a:00:00:00:66:66"


def read(platform: Platform = A, **attrs: str) -> WifiObservation:
    attrs.setdefault("observed_at", T0.isoformat())
    result = wifi_observation_from_attributes(attrs, platform)
    assert isinstance(result, WifiObservation), result
    return result


def problem(platform: Platform = A, **attrs: str) -> WifiProblem:
    attrs.setdefault("observed_at", T0.isoformat())
    result = wifi_observation_from_attributes(attrs, platform)
    assert isinstance(result, WifiProblem), result
    return result


def obs(
    ssid: str | None = "Cafe",
    bssid: str | None = B1,
    security: SecurityKind = K.OPEN,
    at: datetime = T0,
    *,
    event: WifiEvent = WifiEvent.CONNECTED,
    platform: Platform = A,
    ceiling: SecurityKind | None = None,
    gateway_ip: str | None = None,
    gateway_mac: str | None = None,
    captive_portal: bool | None = None,
) -> WifiObservation:
    return WifiObservation(
        platform=platform,
        observed_at=at,
        event=event,
        ssid=ssid,
        bssid=bssid,
        security=security,
        security_ceiling=ceiling,
        gateway_ip=gateway_ip,
        gateway_mac=gateway_mac,
        captive_portal=captive_portal,
    )


def left(at: datetime, ssid: str | None = None, bssid: str | None = None) -> WifiObservation:
    return obs(ssid, bssid, K.UNKNOWN, at, event=WifiEvent.DISCONNECTED)


class Device:
    """One device's history carried from check-in to check-in, as the server stores it."""

    def __init__(self, policy: WifiPolicy | None = None) -> None:
        self.policy = policy or WifiPolicy()
        self.history = WifiHistory()

    def report(self, *observations: WifiObservation, now: datetime | None = None) -> list[str]:
        return [
            f.rule_id + (":resolved" if f.resolved else "")
            for f in self.judge(*observations, now=now)
        ]

    def judge(
        self, *observations: WifiObservation, now: datetime | None = None
    ) -> tuple[WifiFinding, ...]:
        at = now or max(o.observed_at for o in observations)
        findings, history = evaluate_wifi(observations, self.policy, self.history, at)
        # the server stores JSON: every check-in goes through a round trip
        self.history = WifiHistory.from_json(history.to_json())
        assert self.history == history
        return findings


# --------------------------------------------------------------------------------------------
# Security kinds
# --------------------------------------------------------------------------------------------


def test_strength_order() -> None:
    order = [K.OPEN, K.WEP, K.WPA_TKIP, K.OWE, K.WPA2_PERSONAL, K.WPA3_PERSONAL, K.ENTERPRISE]
    assert [k.strength for k in order] == list(range(7))
    assert K.OPEN.weaker_than(K.OWE)
    assert K.WPA2_PERSONAL.weaker_than(K.WPA3_PERSONAL)
    assert not K.ENTERPRISE.weaker_than(K.WPA3_PERSONAL)
    assert not K.UNKNOWN.weaker_than(K.ENTERPRISE)
    assert not K.OPEN.weaker_than(K.UNKNOWN)


# --------------------------------------------------------------------------------------------
# Reading attributes
# --------------------------------------------------------------------------------------------

ANDROID_EXPECTED = {
    -1: K.UNKNOWN,
    0: K.OPEN,
    1: K.WEP,
    2: K.WPA2_PERSONAL,
    3: K.ENTERPRISE,
    4: K.WPA3_PERSONAL,
    5: K.ENTERPRISE,
    6: K.OWE,
    7: K.WPA2_PERSONAL,
    8: K.ENTERPRISE,
    9: K.ENTERPRISE,
    10: K.ENTERPRISE,
    11: K.ENTERPRISE,
    12: K.ENTERPRISE,
    13: K.WPA3_PERSONAL,
}


@pytest.mark.parametrize(("code", "kind"), sorted(ANDROID_EXPECTED.items()))
def test_android_security_codes(code: int, kind: SecurityKind) -> None:
    o = read(A, ssid="Net", security=str(code))
    assert (o.security, o.security_code, o.strongest_possible) == (kind, code, kind)
    assert ANDROID_SECURITY_TYPES[code][1] is kind


@pytest.mark.parametrize(
    ("code", "kind", "ceiling"),
    [
        (0, K.OPEN, K.OPEN),
        (1, K.WEP, K.WEP),
        (2, K.WPA2_PERSONAL, K.WPA3_PERSONAL),  # "personal" may be WPA, WPA2 or WPA3
        (3, K.ENTERPRISE, K.ENTERPRISE),
        (4, K.UNKNOWN, K.UNKNOWN),
    ],
)
def test_ios_security_codes(code: int, kind: SecurityKind, ceiling: SecurityKind) -> None:
    o = read(I, ssid="Net", security=str(code))
    assert (o.security, o.strongest_possible) == (kind, ceiling)
    assert IOS_SECURITY_TYPES[code][1] is kind


@pytest.mark.parametrize(
    ("platform", "code"),
    [(A, "14"), (A, "-2"), (A, "99"), (I, "5"), (I, "-1"), (A, "two"), (A, "2.0")],
)
def test_security_codes_outside_the_tables_are_problems(platform: Platform, code: str) -> None:
    p = problem(platform, ssid="Net", security=code)
    assert p.attribute == "security"
    assert platform.value in p.reason or "not a security code" in p.reason


def test_the_same_code_means_different_things_per_platform() -> None:
    assert read(A, security="4").security is K.WPA3_PERSONAL
    assert read(I, security="4").security is K.UNKNOWN


@pytest.mark.parametrize(
    ("capabilities", "best"),
    [
        ("[WPA2-PSK-CCMP][RSN-PSK-CCMP][ESS]", K.WPA2_PERSONAL),
        ("[WPA-PSK-TKIP][ESS]", K.WPA_TKIP),
        ("[WPA2-PSK-TKIP][RSN-PSK-TKIP][ESS]", K.WPA_TKIP),  # TKIP-only
        ("[WPA-PSK-CCMP+TKIP][WPA2-PSK-CCMP+TKIP][RSN-PSK-CCMP+TKIP][ESS]", K.WPA2_PERSONAL),
        ("[WEP][ESS]", K.WEP),
        ("[ESS]", K.OPEN),
        ("[ESS][WPS]", K.OPEN),
        ("[RSN-SAE-CCMP][ESS][MFPR][MFPC]", K.WPA3_PERSONAL),
        ("[WPA2-PSK-CCMP][RSN-PSK+SAE-CCMP][ESS]", K.WPA3_PERSONAL),
        ("[RSN-OWE-CCMP][ESS]", K.OWE),
        ("[RSN-OWE_TRANSITION-CCMP][ESS]", K.OPEN),  # the open half of a transition pair
        ("[WPA2-EAP-CCMP][RSN-EAP-CCMP][ESS]", K.ENTERPRISE),
        ("[RSN-EAP_SUITE_B_192-GCMP-256][ESS]", K.ENTERPRISE),
        ("[RSN-PSK-SHA256-CCMP][ESS]", K.WPA2_PERSONAL),
        ("[WAPI-WAPI-PSK-SMS4][ESS]", K.WPA2_PERSONAL),
        ("[RSN-FOO-BAR][ESS]", K.UNKNOWN),
        ("", K.OPEN),
    ],
)
def test_capabilities(capabilities: str, best: SecurityKind) -> None:
    parsed = security_from_capabilities(capabilities)
    assert parsed is not None and parsed[0] is best


@pytest.mark.parametrize(
    "text", ["WPA2-PSK", "[ESS", "ESS]", "[[ESS]]", "x[ESS]", "[" + "A" * 200 + "]"]
)
def test_capabilities_that_are_not(text: str) -> None:
    assert security_from_capabilities(text) is None
    assert problem(A, capabilities=text).attribute == "capabilities"


def test_capabilities_refine_a_psk_code_and_decide_without_one() -> None:
    assert read(A, security="2", capabilities="[WPA-PSK-TKIP][ESS]").security is K.WPA_TKIP
    assert read(A, security="2", capabilities="[WPA2-PSK-CCMP][ESS]").security is K.WPA2_PERSONAL
    assert read(A, capabilities="[WEP][ESS]").security is K.WEP
    assert read(A, capabilities="[ESS]").security is K.OPEN
    assert read(A, security="-1", capabilities="[RSN-OWE-CCMP][ESS]").security is K.OWE
    # the negotiated code wins over what the access point offers
    assert read(A, security="4", capabilities="[WPA-PSK-TKIP][ESS]").security is K.WPA3_PERSONAL
    assert read(A, security="0", capabilities="[WPA2-PSK-CCMP][ESS]").security is K.OPEN
    assert read(A).security is K.UNKNOWN


def test_ssid_forms() -> None:
    assert read(ssid='"Corp"').ssid == "Corp"  # Android's getSSID() quotes
    assert read(ssid="Corp").ssid == "Corp"
    assert read(ssid=" Corp ").ssid == " Corp "  # spaces are part of a name
    assert read(ssid="<unknown ssid>").ssid is None
    assert read(ssid="").ssid is None
    assert read(ssid='""').ssid is None
    assert read(ssid="é" * 16).ssid == "é" * 16  # 32 bytes


@pytest.mark.parametrize(
    "ssid", ["é" * 16 + "a", "x" * 33, '"' + "x" * 33 + '"', "a\x00b", "\ud800"]
)
def test_impossible_ssids(ssid: str) -> None:
    assert problem(ssid=ssid).attribute == "ssid"


def test_bssid_forms() -> None:
    assert read(bssid="0:1b:63:84:45:e6").bssid == "00:1b:63:84:45:e6"  # iOS drops zeros
    assert read(bssid="0A-1B-2C-3D-4E-5F").bssid == "0a:1b:2c:3d:4e:5f"
    assert read(bssid="02:00:00:00:00:00").bssid is None  # Android without permission
    assert read(bssid="").bssid is None
    assert read(I, ssid="Corp").bssid is None  # iOS without the entitlement


@pytest.mark.parametrize(
    "bssid",
    [
        "0a:1b:2c:3d:4e",
        "0a:1b:2c:3d:4e:5f:60",
        "zz:1b:2c:3d:4e:5f",
        "0a:1b-2c:3d:4e:5f",  # mixed separators
        "ff:ff:ff:ff:ff:ff",  # broadcast
        "01:00:5e:00:00:01",  # multicast
        "0a1b2c3d4e",
        "\u0660a:1b:2c:3d:4e:5f",  # an Arabic-Indic zero is no hex digit
    ],
)
def test_impossible_bssids(bssid: str) -> None:
    assert problem(bssid=bssid).attribute == "bssid"


def test_network_attributes() -> None:
    o = read(
        gateway_ip="192.168.1.1",
        gateway_mac="0A:00:00:00:99:01",
        dns="192.168.1.1, 2001:4860:4860::8888,,192.168.1.1",
        captive_portal="TRUE",
        event="Disconnected",
    )
    assert o.gateway_ip == "192.168.1.1"
    assert o.gateway_mac == GW_MAC
    assert o.dns == ("192.168.1.1", "2001:4860:4860::8888")
    assert o.captive_portal is True
    assert o.event is WifiEvent.DISCONNECTED
    assert read(gateway_mac="02:00:00:00:00:00").gateway_mac is None  # hidden by the platform
    assert read(captive_portal="0").captive_portal is False
    assert read().event is WifiEvent.CONNECTED


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("gateway_ip", "192.168.1.256"),
        ("gateway_ip", "gateway"),
        ("gateway_mac", "0a:00:00:00:99"),
        ("dns", "8.8.8.8,dns.google"),
        ("dns", ",".join(["8.8.8.8"] * 17)),
        ("captive_portal", "maybe"),
        ("event", "roaming"),
        ("observed_at", "yesterday"),
        ("observed_at", "2025-05-01T09:00:00"),  # no time zone
        ("observed_at", "2025-13-01T09:00:00Z"),
        ("ssid", "x" * 2000),
    ],
)
def test_impossible_values_are_problems(name: str, value: str) -> None:
    p = problem(A, **{name: value})
    assert p.attribute == name
    assert p.reason and str(p).startswith(name)


def test_observed_at() -> None:
    assert read(observed_at="2025-05-01T11:00:00+02:00").observed_at == T0
    assert read(observed_at="2025-05-01T09:00:00Z").observed_at == T0
    missing = wifi_observation_from_attributes({"ssid": "Cafe"}, A)
    assert isinstance(missing, WifiProblem) and missing.attribute == "observed_at"
    stood_in = wifi_observation_from_attributes({"ssid": "Cafe"}, A, default_time=T0)
    assert isinstance(stood_in, WifiObservation) and stood_in.observed_at == T0


def test_wifi_observations_from_a_checkin() -> None:
    good, bad = wifi_observations(
        A,
        [
            NetworkObservation("wifi", (("ssid", "Cafe"), ("security", "0"))),
            NetworkObservation("tls", (("host", "example.com"),)),
            NetworkObservation("wifi", (("bssid", "nope"),)),
        ],
        default_time=T0,
    )
    assert [o.ssid for o in good] == ["Cafe"]
    assert [p.attribute for p in bad] == ["bssid"]


ATTRIBUTE_NAMES = st.sampled_from(
    ["ssid", "bssid", "security", "capabilities", "captive_portal", "gateway_ip", "gateway_mac",
     "dns", "observed_at", "event", "other"]
)  # fmt: skip
VALUES = st.one_of(
    st.text(max_size=40),
    st.text(alphabet="0123456789abcdefABCDEF:-.[]+,ZT", max_size=40),
    st.sampled_from(["-1", "0", "2", "13", "2025-05-01T09:00:00Z", "[ESS]", "02:00:00:00:00:00"]),
    st.integers(),
    st.none(),
    st.binary(max_size=8),
)


@settings(max_examples=400, deadline=None)
@given(
    attrs=st.dictionaries(st.one_of(ATTRIBUTE_NAMES, st.text(max_size=8)), VALUES, max_size=12),
    platform=st.sampled_from([A, I]),
)
def test_garbage_attributes_never_raise(attrs: dict[str, object], platform: Platform) -> None:
    result = wifi_observation_from_attributes(attrs, platform, default_time=T0)  # type: ignore[arg-type]
    assert isinstance(result, WifiObservation | WifiProblem)
    if isinstance(result, WifiObservation):
        assert result.observed_at.utcoffset() is not None
        assert result.bssid is None or normalize_mac(result.bssid) == result.bssid
        assert result.ssid is None or len(result.ssid.encode()) <= 32
        findings, history = evaluate_wifi([result], WifiPolicy(), WifiHistory(), T0)
        assert WifiHistory.from_json(history.to_json()) == history
        assert all(len(f.key) <= 200 for f in findings)


def test_garbage_mappings_never_raise() -> None:
    class Hostile(dict[str, str]):
        def get(self, *_: object, **__: object) -> str:
            raise RuntimeError("boom")

    assert isinstance(wifi_observation_from_attributes(Hostile(), A), WifiProblem)
    assert isinstance(wifi_observation_from_attributes(None, A), WifiProblem)  # type: ignore[arg-type]
    assert isinstance(wifi_observation_from_attributes({}, "windows"), WifiProblem)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# The rule table
# --------------------------------------------------------------------------------------------


def test_rule_table() -> None:
    assert len({r.id for r in RULES}) == len(RULES)
    for rule in RULES:
        assert rule.id.startswith("wifi.")
        assert rule.title and rule.explanation.endswith(".")
        if rule.category == "RogueWifi":
            assert (rule.severity, rule.timeline_only) == (Severity.LOW, False)
        else:  # open and weak networks are timeline events, never alerts
            assert (rule.severity, rule.timeline_only) == (Severity.INFORMATIONAL, True)


# --------------------------------------------------------------------------------------------
# Open networks
# --------------------------------------------------------------------------------------------


def test_open_network_enable_notifies_the_user() -> None:
    (finding,) = Device().judge(obs(captive_portal=True))
    assert finding.rule_id == "wifi.open_network"
    assert (finding.severity, finding.timeline_only, finding.notify_user) == (
        Severity.INFORMATIONAL,
        True,
        True,
    )
    assert finding.category == "OpenWifi"
    assert finding.title == 'Connected to an open Wi-Fi network: "Cafe"'
    evidence = dict(finding.evidence)
    assert evidence["ssid"] == "Cafe" and evidence["bssid"] == B1
    assert evidence["captive_portal"] == "true"  # a captive portal is evidence, not a finding
    assert evidence["user_notified"] == "true"


def test_open_network_audit_records_without_notifying() -> None:
    device = Device(WifiPolicy(open_network_mode=DetectionMode.AUDIT))
    (finding,) = device.judge(obs())
    assert finding.rule_id == "wifi.open_network"
    assert not finding.notify_user and dict(finding.evidence)["mode"] == "audit"
    assert device.report(left(T0 + HOUR)) == ["wifi.open_network_disconnected"]


def test_open_network_disable_records_nothing() -> None:
    device = Device(WifiPolicy(open_network_mode=DetectionMode.DISABLE))
    assert device.report(obs()) == []
    assert device.report(left(T0 + HOUR)) == []
    assert device.report(obs(at=T0 + 2 * HOUR)) == []


def test_owe_is_not_open() -> None:
    o = read(A, ssid="Airport", bssid=B1, security="6")
    assert o.security is K.OWE
    assert Device().report(o) == []


def test_captive_portal_alone_is_no_finding() -> None:
    assert Device().report(obs(security=K.WPA2_PERSONAL, captive_portal=True)) == []


@pytest.mark.parametrize(
    ("gap", "expected"),
    [
        (WEEK - SECOND, "wifi.open_network_connected"),
        (WEEK, "wifi.open_network"),
        (WEEK + SECOND, "wifi.open_network"),
    ],
)
def test_open_network_finding_once_a_week(gap: timedelta, expected: str) -> None:
    device = Device()
    assert device.report(obs(at=T0)) == ["wifi.open_network"]
    assert device.report(left(T0 + HOUR)) == ["wifi.open_network_disconnected"]
    assert device.report(obs(at=T0 + gap)) == [expected]


def test_open_connect_and_disconnect_events_once_a_day() -> None:
    device = Device()
    assert device.report(obs(at=T0)) == ["wifi.open_network"]
    assert device.report(left(T0 + HOUR)) == ["wifi.open_network_disconnected"]
    assert device.report(obs(at=T0 + 2 * HOUR)) == []
    assert device.report(left(T0 + 3 * HOUR)) == []
    assert device.report(obs(at=T0 + DAY - SECOND)) == []
    assert device.report(left(T0 + DAY)) == []
    assert device.report(obs(at=T0 + DAY + SECOND)) == ["wifi.open_network_connected"]
    assert device.report(left(T0 + HOUR + DAY - SECOND)) == []
    assert device.report(obs(at=T0 + DAY + 2 * SECOND)) == []
    assert device.report(left(T0 + HOUR + DAY + SECOND)) == ["wifi.open_network_disconnected"]


def test_staying_on_an_open_network_is_one_connection() -> None:
    device = Device()
    assert device.report(obs(at=T0)) == ["wifi.open_network"]
    for hours in range(1, 72):  # hourly check-ins for three days
        assert device.report(obs(at=T0 + hours * HOUR)) == []


def test_a_report_after_a_long_silence_is_a_new_connection() -> None:
    device = Device()
    device.report(obs(at=T0))
    assert device.report(obs(at=T0 + 2 * DAY)) == ["wifi.open_network_connected"]


def test_moving_between_networks_logs_the_disconnect() -> None:
    device = Device()
    device.report(obs(at=T0))
    assert device.report(obs("Home", B2, K.WPA2_PERSONAL, T0 + HOUR)) == [
        "wifi.open_network_disconnected"
    ]


def test_each_bssid_is_a_network_when_known() -> None:
    device = Device()
    assert device.report(obs(bssid=B1, at=T0)) == ["wifi.open_network"]
    assert device.report(obs(bssid=B2, at=T0 + HOUR)) == [
        "wifi.open_network_disconnected",
        "wifi.open_network",
    ]


def test_the_ssid_is_the_network_when_the_bssid_is_unknown() -> None:
    device = Device()
    assert device.report(obs(bssid=None, at=T0, platform=I)) == ["wifi.open_network"]
    device.report(left(T0 + HOUR))
    assert device.report(obs(bssid=None, at=T0 + 2 * DAY, platform=I)) == [
        "wifi.open_network_connected"
    ]
    assert device.report(obs("Other", None, at=T0 + 3 * DAY, platform=I)) == [
        "wifi.open_network_disconnected",
        "wifi.open_network",
    ]


def test_an_unidentified_open_network_is_still_reported_once() -> None:
    device = Device()
    assert device.report(obs(None, None, at=T0)) == ["wifi.open_network"]
    assert device.report(obs(None, None, at=T0 + 2 * HOUR)) == []


# --------------------------------------------------------------------------------------------
# Weak security
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attrs", "weak"),
    [
        ({"security": "1"}, True),
        ({"security": "2", "capabilities": "[WPA-PSK-TKIP][ESS]"}, True),
        ({"capabilities": "[WEP][ESS]"}, True),
        ({"security": "2"}, False),
        ({"security": "2", "capabilities": "[WPA2-PSK-CCMP][RSN-PSK-CCMP][ESS]"}, False),
        ({"security": "4"}, False),
        ({"security": "6"}, False),
        ({"security": "3"}, False),
    ],
)
def test_weak_security(attrs: dict[str, str], weak: bool) -> None:
    findings = Device().judge(read(A, ssid="Home", bssid=B1, **attrs))
    assert [f.rule_id for f in findings] == (["wifi.weak_security"] if weak else [])
    for f in findings:
        assert (f.severity, f.timeline_only, f.notify_user) == (Severity.INFORMATIONAL, True, False)


def test_ios_wep_is_weak() -> None:
    assert Device().report(read(I, ssid="Home", security="1")) == ["wifi.weak_security"]


def test_weak_security_modes_and_daily_dedup() -> None:
    device = Device(WifiPolicy(weak_security_mode=DetectionMode.ENABLE))
    (finding,) = device.judge(obs(security=K.WEP, at=T0))
    assert finding.notify_user
    device.report(left(T0 + HOUR))
    assert device.report(obs(security=K.WEP, at=T0 + DAY - SECOND)) == []
    device.report(left(T0 + DAY))
    assert device.report(obs(security=K.WEP, at=T0 + DAY + SECOND)) == ["wifi.weak_security"]
    off = Device(WifiPolicy(weak_security_mode=DetectionMode.DISABLE))
    assert off.report(obs(security=K.WPA_TKIP)) == []


# --------------------------------------------------------------------------------------------
# Evil twin
# --------------------------------------------------------------------------------------------

CORP = CorporateNetworkProfile(
    "Corp", frozenset({B1, "0A-00-00-00-00-02"}), K.WPA2_PERSONAL, name="Head office"
)


def corp_device(*profiles: CorporateNetworkProfile, **policy: object) -> Device:
    return Device(WifiPolicy(corporate_profiles=profiles or (CORP,), **policy))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("bssid", "security", "evil"),
    [
        (B1, K.WPA2_PERSONAL, False),
        (B2, K.WPA3_PERSONAL, False),  # allowed in another spelling; stronger is fine
        (B2, K.ENTERPRISE, False),
        (B3, K.WPA2_PERSONAL, True),  # unknown access point
        (B1, K.WPA_TKIP, True),  # downgrade
        (B1, K.OWE, True),
        (B1, K.UNKNOWN, False),  # no evidence of a downgrade
        (None, K.WPA2_PERSONAL, False),  # BSSID hidden: only security can be judged
        (None, K.WEP, True),
    ],
)
def test_evil_twin(bssid: str | None, security: SecurityKind, evil: bool) -> None:
    findings = corp_device().judge(obs("Corp", bssid, security))
    rogue = [f for f in findings if f.rule_id == "wifi.evil_twin"]
    assert bool(rogue) is evil
    for f in rogue:
        assert (f.severity, f.timeline_only, f.category) == (Severity.LOW, False, "RogueWifi")
        assert dict(f.evidence)["profile"] == "Head office"


def test_evil_twin_evidence_says_why() -> None:
    (unknown_ap,) = corp_device().judge(obs("Corp", B3, K.WPA2_PERSONAL))
    assert f"access point {B3}" in dict(unknown_ap.evidence)["reason"]
    assert dict(unknown_ap.evidence)["allowed_bssids"] == f"{B1}, {B2}"
    assert unknown_ap.title == 'Rogue Wi-Fi: evil twin of a corporate network: "Corp"'
    findings = corp_device().judge(obs("Corp", B1, K.OPEN))
    assert [f.rule_id for f in findings] == ["wifi.evil_twin", "wifi.open_network"]
    assert "weaker than the profile's minimum" in dict(findings[0].evidence)["reason"]


def test_evil_twin_needs_the_exact_ssid() -> None:
    assert corp_device().report(obs("corp", B3, K.WPA2_PERSONAL)) == []
    assert corp_device().report(obs("Corp ", B3, K.WPA2_PERSONAL)) == []


def test_a_profile_without_bssids_allows_any_access_point() -> None:
    profile = CorporateNetworkProfile("Corp", minimum_security=K.ENTERPRISE)
    assert corp_device(profile).report(obs("Corp", B3, K.ENTERPRISE)) == []
    assert corp_device(profile).report(obs("Corp", B3, K.WPA3_PERSONAL)) == ["wifi.evil_twin"]


def test_ios_personal_is_no_downgrade_of_wpa3() -> None:
    wpa3 = CorporateNetworkProfile("Corp", minimum_security=K.WPA3_PERSONAL)
    ios = read(I, ssid="Corp", security="2")
    assert corp_device(wpa3).report(ios) == []
    android_psk = read(A, ssid="Corp", bssid=B1, security="2")
    assert corp_device(wpa3).report(android_psk) == ["wifi.evil_twin"]
    enterprise = CorporateNetworkProfile("Corp", minimum_security=K.ENTERPRISE)
    assert corp_device(enterprise).report(ios) == ["wifi.evil_twin"]


def test_fitting_any_profile_of_the_ssid_is_enough() -> None:
    site_b = CorporateNetworkProfile("Corp", frozenset({B3}), K.WPA2_PERSONAL)
    assert corp_device(CORP, site_b).report(obs("Corp", B3, K.WPA2_PERSONAL)) == []
    assert corp_device(CORP, site_b).report(obs("Corp", "0a:00:00:00:00:04", K.WPA2_PERSONAL)) == [
        "wifi.evil_twin"
    ]


# --------------------------------------------------------------------------------------------
# Known-bad networks
# --------------------------------------------------------------------------------------------

BAD = (
    WifiIndicator(WifiIndicatorType.SSID, "Free Public WiFi", "default lure SSID"),
    WifiIndicator(WifiIndicatorType.BSSID, "00-13-37-00-00-01", "Pineapple"),
)


def test_known_bad_ssid_ignores_case() -> None:
    (finding,) = Device(WifiPolicy(indicators=BAD)).judge(
        obs("FREE public wifi", B1, K.WPA2_PERSONAL)
    )
    assert finding.rule_id == "wifi.known_bad_network"
    assert (finding.severity, finding.timeline_only) == (Severity.LOW, False)
    assert dict(finding.evidence)["indicator_ssid_title"] == "default lure SSID"


def test_known_bad_bssid() -> None:
    device = Device(WifiPolicy(indicators=BAD))
    (finding,) = device.judge(obs("Anything", "00:13:37:00:00:01", K.WPA2_PERSONAL))
    assert dict(finding.evidence)["indicator_bssid"] == "00-13-37-00-00-01"
    assert device.report(obs("Anything", B2, K.WPA2_PERSONAL, T0 + HOUR)) == [
        "wifi.known_bad_network:resolved"
    ]


def test_both_indicators_make_one_finding() -> None:
    findings = Device(WifiPolicy(indicators=BAD)).judge(
        obs("Free Public WiFi", "00:13:37:00:00:01", K.OPEN)
    )
    assert [f.rule_id for f in findings] == ["wifi.known_bad_network", "wifi.open_network"]


# --------------------------------------------------------------------------------------------
# Resolution and de-duplication of rogue findings
# --------------------------------------------------------------------------------------------


def test_leaving_a_rogue_network_resolves_its_finding() -> None:
    device = corp_device()
    (raised,) = device.judge(obs("Corp", B3, K.WPA2_PERSONAL, T0))
    (resolved,) = device.judge(obs("Home", B2, K.WPA2_PERSONAL, T0 + HOUR))
    assert resolved.resolved and resolved.key == raised.key
    assert (resolved.rule_id, resolved.severity) == ("wifi.evil_twin", Severity.LOW)
    assert dict(resolved.evidence)["resolution"] == "the device moved to another network"
    assert wifi_detection(resolved).resolved


def test_a_disconnect_resolves_the_finding() -> None:
    device = corp_device()
    device.report(obs("Corp", B3, K.WPA2_PERSONAL, T0))
    assert device.report(left(T0 + HOUR)) == ["wifi.evil_twin:resolved"]
    assert device.report(left(T0 + 2 * HOUR)) == []  # resolved once


def test_a_named_disconnect_resolves_that_network() -> None:
    device = corp_device()
    device.report(obs("Corp", B3, K.WPA2_PERSONAL, T0))
    assert device.report(left(T0 + HOUR, "Elsewhere", B1)) == []
    assert device.report(left(T0 + HOUR, "Corp", None)) == ["wifi.evil_twin:resolved"]


def test_a_rogue_network_is_one_finding_while_the_device_stays() -> None:
    device = corp_device()
    assert device.report(obs("Corp", B3, K.WPA2_PERSONAL, T0)) == ["wifi.evil_twin"]
    for hours in (1, 2, 30, 80):
        assert device.report(obs("Corp", B3, K.WPA2_PERSONAL, T0 + hours * HOUR)) == []
    device.report(left(T0 + 100 * HOUR))
    assert device.report(obs("Corp", B3, K.WPA2_PERSONAL, T0 + 101 * HOUR)) == ["wifi.evil_twin"]


def test_a_finding_resolves_when_the_rule_stops_matching() -> None:
    device = corp_device()
    device.report(obs("Corp", B3, K.WPA2_PERSONAL, T0))
    device.policy = WifiPolicy(
        corporate_profiles=(CorporateNetworkProfile("Corp", frozenset({B1, B3})),)
    )
    assert device.report(obs("Corp", B3, K.WPA2_PERSONAL, T0 + HOUR)) == ["wifi.evil_twin:resolved"]


def test_without_auto_remediation_findings_wait_for_an_analyst() -> None:
    device = corp_device(auto_remediation=False)
    device.report(obs("Corp", B3, K.WPA2_PERSONAL, T0))
    assert device.report(obs("Home", B2, K.WPA2_PERSONAL, T0 + HOUR)) == []
    assert device.report(obs("Corp", B3, K.WPA2_PERSONAL, T0 + 2 * HOUR)) == ["wifi.evil_twin"]


def test_wifi_detection() -> None:
    (finding,) = corp_device().judge(obs("Corp", B3, K.WPA2_PERSONAL, T0))
    detection = wifi_detection(finding)
    assert (detection.category, detection.title, detection.severity, detection.key) == (
        "RogueWifi",
        finding.title,
        Severity.LOW,
        f"wifi.evil_twin|{B3}|Corp",
    )
    assert detection.evidence == finding.evidence
    assert not detection.timeline_only and not detection.resolved
    (event,) = Device().judge(obs())
    assert wifi_detection(event).timeline_only


# --------------------------------------------------------------------------------------------
# Gateway MAC change (ARP spoofing)
# --------------------------------------------------------------------------------------------


def gw(
    at: datetime, mac: str | None, ip: str | None = "192.168.1.1", bssid: str = B1
) -> WifiObservation:
    return obs("Home", bssid, K.WPA2_PERSONAL, at, gateway_ip=ip, gateway_mac=mac)


@pytest.mark.parametrize(
    ("gap", "spoofed"), [(DAY - SECOND, True), (DAY, False), (DAY + SECOND, False)]
)
def test_gateway_mac_change_within_the_window(gap: timedelta, spoofed: bool) -> None:
    device = Device()
    assert device.report(gw(T0, GW_MAC)) == []
    findings = device.judge(gw(T0 + gap, EVIL_MAC))
    assert [f.rule_id for f in findings] == (["wifi.gateway_mac_changed"] if spoofed else [])
    if spoofed:
        evidence = dict(findings[0].evidence)
        assert (evidence["previous_gateway_mac"], evidence["gateway_mac"]) == (GW_MAC, EVIL_MAC)
        assert (findings[0].severity, findings[0].timeline_only) == (Severity.LOW, False)


def test_the_window_counts_from_the_last_sighting() -> None:
    device = Device()
    device.report(gw(T0, GW_MAC))
    device.report(gw(T0 + 20 * HOUR, GW_MAC))
    assert device.report(gw(T0 + 40 * HOUR, EVIL_MAC)) == ["wifi.gateway_mac_changed"]


def test_the_attackers_mac_is_never_learnt() -> None:
    device = Device()
    device.report(gw(T0, GW_MAC))
    assert device.report(gw(T0 + HOUR, EVIL_MAC)) == ["wifi.gateway_mac_changed"]
    assert device.report(gw(T0 + 2 * HOUR, EVIL_MAC)) == []  # standing, not raised again
    assert device.report(gw(T0 + 3 * DAY, EVIL_MAC)) == []  # still standing past the window
    assert device.report(gw(T0 + 3 * DAY + HOUR, GW_MAC)) == ["wifi.gateway_mac_changed:resolved"]


def test_gateway_rule_needs_the_same_network_and_gateway() -> None:
    device = Device()
    device.report(gw(T0, GW_MAC))
    assert device.report(gw(T0 + HOUR, EVIL_MAC, ip="192.168.1.254")) == []  # another gateway
    other = Device()
    other.report(gw(T0, GW_MAC))
    assert other.report(gw(T0 + HOUR, EVIL_MAC, bssid=B2)) == []  # another access point
    hidden = Device()
    hidden.report(gw(T0, GW_MAC))
    assert hidden.report(gw(T0 + HOUR, None)) == []  # the platform hides the MAC
    assert hidden.report(gw(T0 + 2 * HOUR, EVIL_MAC)) == ["wifi.gateway_mac_changed"]


def test_gateway_rule_off_with_a_zero_window() -> None:
    device = Device(WifiPolicy(arp_window=timedelta(0)))
    device.report(gw(T0, GW_MAC))
    assert device.report(gw(T0 + HOUR, EVIL_MAC)) == []


# --------------------------------------------------------------------------------------------
# Time and history
# --------------------------------------------------------------------------------------------


def test_observations_are_judged_in_time_order() -> None:
    findings, _ = evaluate_wifi(
        [obs("Home", B2, K.WPA2_PERSONAL, T0 + HOUR), obs(at=T0)],
        WifiPolicy(),
        WifiHistory(),
        T0 + HOUR,
    )
    assert [f.rule_id for f in findings] == ["wifi.open_network", "wifi.open_network_disconnected"]


def test_a_future_device_clock_cannot_freeze_deduplication() -> None:
    device = Device()
    device.report(obs(at=T0 + 365 * DAY), now=T0)  # the device's clock is a year ahead
    assert device.history.networks[0].open_notified_at == T0
    device.report(left(T0 + HOUR))
    assert device.report(obs(at=T0 + WEEK), now=T0 + WEEK) == ["wifi.open_network"]


def test_history_is_bounded_and_keeps_the_current_network() -> None:
    device = Device()
    for n in range(MAX_HISTORY_NETWORKS + 40):
        device.report(obs(f"Net {n}", None, K.WPA2_PERSONAL, T0 + n * HOUR))
    assert len(device.history.networks) == MAX_HISTORY_NETWORKS
    last = f"Net {MAX_HISTORY_NETWORKS + 39}"
    assert device.history.current == NetworkId(last, None)
    assert device.history.networks[-1].network.ssid == last
    # a current network seen long ago (the device's clock went back) is still kept
    stale = WifiHistory(device.history.networks, device.history.current)
    _, history = evaluate_wifi(
        [obs("New", None, K.WPA2_PERSONAL, T0 - DAY)], WifiPolicy(), stale, T0 - DAY
    )
    assert len(history.networks) == MAX_HISTORY_NETWORKS and history.current == NetworkId(
        "New", None
    )


def test_many_observations_in_one_checkin_are_bounded() -> None:
    many = [obs(f"Net {n}", None, K.OPEN, T0 + n * SECOND) for n in range(1000)]
    findings, history = evaluate_wifi(many, WifiPolicy(), WifiHistory(), T0 + DAY)
    assert len(history.networks) == MAX_HISTORY_NETWORKS
    assert len([f for f in findings if f.rule_id == "wifi.open_network"]) == 256


def test_history_json_round_trip() -> None:
    device = corp_device()
    device.report(gw(T0, GW_MAC))
    device.report(obs("Corp", B3, K.WPA2_PERSONAL, T0 + HOUR))
    document = device.history.to_json()
    assert WifiHistory.from_json(document) == device.history
    import orjson

    assert WifiHistory.from_json(orjson.dumps(document)) == device.history
    assert WifiHistory.from_json(orjson.dumps(document).decode()) == device.history


@pytest.mark.parametrize(
    "document",
    [None, "", "not json", b"\xff", [], 42, {}, {"format": 2, "networks": []}, {"format": 1},
     {"format": 1, "networks": "x"}, {"format": 1, "networks": [None, 1, "x", {}]}],
)  # fmt: skip
def test_unreadable_history_is_empty(document: object) -> None:
    assert WifiHistory.from_json(document) == WifiHistory()


def test_bad_records_are_dropped_one_by_one() -> None:
    good = Device()
    good.report(obs(at=T0))
    record = good.history.to_json()["networks"][0]
    broken = [
        {**record, "ssid": "x" * 40},
        {**record, "bssid": "0A:00:00:00:00:01"},  # not canonical
        {**record, "security": "ultra"},
        {**record, "last_seen": "2025-05-01T09:00:00"},  # naive
        {**record, "last_seen": None},
        {**record, "gateway_ip": "999.1.1.1"},
        {**record, "gateway_mac": "nope"},
        {**record, "rogue": [["wifi.evil_twin"]]},
        {**record, "rogue": "x"},
    ]
    document = {
        "format": 1,
        "current": {"ssid": "Cafe", "bssid": B1},
        "networks": [*broken, record],
    }
    history = WifiHistory.from_json(document)
    assert history == good.history


def test_stored_history_is_bounded_on_reading() -> None:
    record: dict[str, object] = {
        "ssid": "x",
        "bssid": None,
        "security": "open",
        "last_seen": T0.isoformat(),
        "rogue": [],
    }
    networks = [{**record, "ssid": f"n{i}"} for i in range(1000)]
    history = WifiHistory.from_json({"format": 1, "current": None, "networks": networks})
    assert len(history.networks) == MAX_HISTORY_NETWORKS
    assert history.networks[-1].network.ssid == "n999"


NETWORKS = st.sampled_from([("Cafe", B1), ("Cafe", None), ("Corp", B1), ("Corp", B3), (None, None)])


@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(
        st.tuples(
            NETWORKS,
            st.sampled_from(list(K)),
            st.integers(min_value=-48, max_value=400),
            st.booleans(),
            st.sampled_from([None, GW_MAC, EVIL_MAC]),
        ),
        max_size=30,
    )
)
def test_any_sequence_of_reports_is_judged(
    steps: list[tuple[tuple[str | None, str | None], SecurityKind, int, bool, str | None]],
) -> None:
    policy = WifiPolicy(corporate_profiles=(CORP,), indicators=BAD)
    device = Device(policy)
    now = T0
    for (ssid, bssid), security, hours, leaving, mac in steps:
        at = T0 + hours * HOUR
        now = max(now, at)
        event = WifiEvent.DISCONNECTED if leaving else WifiEvent.CONNECTED
        o = obs(ssid, bssid, security, at, event=event, gateway_ip="10.0.0.1", gateway_mac=mac)
        for f in device.judge(o, now=now):
            assert f.resolved or f.rule_id in {r.id for r in RULES}
            assert len(f.key) <= 200
        assert len(device.history.networks) <= MAX_HISTORY_NETWORKS
        open_rogue = [r for r in device.history.networks if r.rogue]
        assert all(r.network == device.history.current for r in open_rogue)
