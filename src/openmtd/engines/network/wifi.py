"""Wi-Fi threats: open and weak networks, evil twins, known-bad networks and ARP spoofing.

Pure: the server hands in the device's Wi-Fi observations, the admin's `WifiPolicy`, the
device's `WifiHistory` and the time; it gets back findings and the new history to store.

Attributes (``NetworkObservation(kind="wifi", attributes=...)``; every value is a string, empty
means "not reported", unknown names are ignored)

    ``event``          "connected" (default: the device is on this network) or "disconnected"
                       (it left this network, or whatever network it was on when none is named)
    ``ssid``           the network name; Android's quoted form ("\\"Corp\\"") is unquoted and its
                       "<unknown ssid>" (no location permission) means unknown
    ``bssid``          the access point's MAC; "0:1b:63:84:45:e6" (iOS drops leading zeros) is
                       fine; Android's 02:00:00:00:00:00 placeholder means unknown. iOS reports
                       no BSSID without the Wi-Fi information entitlement: that is fine too
    ``security``       the platform's security code, an integer (see the tables below)
    ``capabilities``   Android ScanResult.capabilities of the access point, e.g.
                       "[WPA2-PSK-CCMP][RSN-PSK-CCMP][ESS]", "[WPA-PSK-TKIP][ESS]", "[WEP][ESS]"
    ``captive_portal`` "true"/"false": the network held the device behind a sign-in page
    ``gateway_ip``     the default gateway's IPv4 or IPv6 address
    ``gateway_mac``    the gateway's MAC, where the platform exposes it (rarely: privileged or
                       rooted Android); Android's placeholder means unknown
    ``dns``            the DNS servers, comma-separated IP addresses
    ``observed_at``    ISO 8601 time with a time zone ("2025-05-01T09:30:00+02:00", "...Z")

Security codes, by platform (`wifi_observation_from_attributes` takes the platform):

    Android WifiInfo.getCurrentSecurityType: OPEN 0, WEP 1, PSK 2 (WPA/WPA2 Personal), EAP 3,
    SAE 4 (WPA3 Personal), EAP_WPA3_ENTERPRISE_192_BIT 5, OWE 6, WAPI_PSK 7, WAPI_CERT 8,
    EAP_WPA3_ENTERPRISE 9, OSEN 10, PASSPOINT_R1_R2 11, PASSPOINT_R3 12, DPP 13, UNKNOWN -1.
    WAPI-PSK counts as WPA2 Personal (a shared key with a modern cipher), WAPI-CERT, OSEN and
    Passpoint as Enterprise (certificate or 802.1X authentication), DPP (Wi-Fi Easy Connect) as
    WPA3 Personal.

    iOS NEHotspotNetworkSecurityType: open 0, WEP 1, personal 2, enterprise 3, unknown 4.
    "personal" does not say WPA, WPA2 or WPA3: it reads as WPA2 Personal with WPA3 Personal as
    its ceiling (`WifiObservation.security_ceiling`), so a corporate profile asking for WPA3
    never calls an iOS device's network a downgrade on this vague evidence.

    The code is the security the device negotiated; the capabilities are what the access point
    offers. They refine a PSK code into WPA_TKIP when every PSK offer is WPA (version 1) or
    TKIP-only, and decide alone when no code (or an "unknown" code) came: then the strongest
    offer counts, as a modern device would pick it. Only "[ESS]"-style flags means open.

Rules (stable ids; severities and event kinds as the reference product, see `RULES`)

    wifi.open_network           an open network (OWE is not open): a timeline event, never an
                                alert, at most once per network every 7 days; the user is
                                notified in Enable mode, not in Audit mode; Disable: nothing.
    wifi.open_network_connected / wifi.open_network_disconnected
                                timeline events for joining (again) and leaving an open
                                network, at most one of each per network per 24 h. The
                                open_network finding stands for that day's connect event.
    wifi.weak_security          WEP or WPA/TKIP: a timeline event (Informational), at most once
                                per network per 24 h. Not an alert: such a network is weak, not
                                shown to be hostile, and an alert would raise the device's risk
                                level (and can cut its access to company resources) over the
                                settings of a home router; open networks, weaker still, are
                                timeline events in the reference product too.
    wifi.evil_twin              the SSID of a corporate profile with a BSSID the profile does
                                not allow, or security weaker than its minimum: Low alert.
    wifi.known_bad_network      the SSID (ignoring case) or BSSID is a known-bad indicator:
                                Low alert.
    wifi.gateway_mac_changed    the same network (SSID, BSSID, gateway IP) answers with another
                                gateway MAC than the one seen there less than `arp_window` ago:
                                ARP spoofing, Low alert. Needs the gateway MAC, so it only runs
                                where the platform exposes it. The attacker's MAC is never
                                learnt as the trusted one while the alert stands.

A captive portal is evidence on every finding about that network, not a finding of its own.

"The same network" is the same SSID and BSSID, or the same SSID when either BSSID is unknown.
Observations are judged in time order (each at the earlier of its own time and `now`, so a
device clock in the future cannot freeze de-duplication). A "connected" report of the network
the device is already on, less than 24 h after it was last seen, continues that connection: it
adds no connect event (rogue rules are judged again all the same).

Rogue findings (the three Low alerts) are remembered per network until resolved: one alert per
rule and network, not one per report. When the device leaves (a later report names another
network, or a "disconnected" report comes) or a rule stops matching (the admin allowed the
BSSID, the gateway MAC is back), the finding is returned again with ``resolved=True`` — unless
the policy turns auto-remediation off, in which case the alert waits for an analyst.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from openmtd.domain.device import Detection, NetworkObservation
from openmtd.domain.enums import Platform, Severity
from openmtd.domain.network import (
    MAX_HISTORY_NETWORKS,
    PLACEHOLDER_MACS,
    CorporateNetworkProfile,
    DetectionMode,
    NetworkId,
    SecurityKind,
    WifiEvent,
    WifiFinding,
    WifiHistory,
    WifiIndicatorType,
    WifiNetworkRecord,
    WifiObservation,
    WifiPolicy,
    WifiProblem,
    is_multicast_mac,
    normalize_mac,
    printable,
    ssid_problem,
)

__all__ = [
    "ANDROID_SECURITY_TYPES",
    "IOS_SECURITY_TYPES",
    "RULES",
    "RULES_BY_ID",
    "WifiRule",
    "evaluate_wifi",
    "security_from_capabilities",
    "wifi_detection",
    "wifi_observation_from_attributes",
    "wifi_observations",
]

#: No new open-network finding for the same network within this long.
OPEN_NETWORK_REPEAT = timedelta(days=7)
#: At most one connect, one disconnect and one weak-security event per network within this long.
EVENT_REPEAT = timedelta(hours=24)
#: A "connected" report of the current network within this long of the last one continues it.
CONTINUATION = timedelta(hours=24)
#: At most this many observations are judged per call (the latest ones).
MAX_OBSERVATIONS = 256
#: Longer attribute values are refused.
MAX_ATTRIBUTE_CHARS = 1024
MAX_CAPABILITIES_CHARS = 512
MAX_DNS_SERVERS = 16
#: Evidence values are cut to this length.
MAX_EVIDENCE_CHARS = 200

_K = SecurityKind

#: Android WifiInfo.getCurrentSecurityType codes: (constant name, kind).
ANDROID_SECURITY_TYPES: Mapping[int, tuple[str, SecurityKind]] = {
    -1: ("SECURITY_TYPE_UNKNOWN", _K.UNKNOWN),
    0: ("SECURITY_TYPE_OPEN", _K.OPEN),
    1: ("SECURITY_TYPE_WEP", _K.WEP),
    2: ("SECURITY_TYPE_PSK", _K.WPA2_PERSONAL),
    3: ("SECURITY_TYPE_EAP", _K.ENTERPRISE),
    4: ("SECURITY_TYPE_SAE", _K.WPA3_PERSONAL),
    5: ("SECURITY_TYPE_EAP_WPA3_ENTERPRISE_192_BIT", _K.ENTERPRISE),
    6: ("SECURITY_TYPE_OWE", _K.OWE),
    7: ("SECURITY_TYPE_WAPI_PSK", _K.WPA2_PERSONAL),
    8: ("SECURITY_TYPE_WAPI_CERT", _K.ENTERPRISE),
    9: ("SECURITY_TYPE_EAP_WPA3_ENTERPRISE", _K.ENTERPRISE),
    10: ("SECURITY_TYPE_OSEN", _K.ENTERPRISE),
    11: ("SECURITY_TYPE_PASSPOINT_R1_R2", _K.ENTERPRISE),
    12: ("SECURITY_TYPE_PASSPOINT_R3", _K.ENTERPRISE),
    13: ("SECURITY_TYPE_DPP", _K.WPA3_PERSONAL),
}
#: iOS NEHotspotNetworkSecurityType raw values: (case name, kind).
IOS_SECURITY_TYPES: Mapping[int, tuple[str, SecurityKind]] = {
    0: ("open", _K.OPEN),
    1: ("WEP", _K.WEP),
    2: ("personal", _K.WPA2_PERSONAL),
    3: ("enterprise", _K.ENTERPRISE),
    4: ("unknown", _K.UNKNOWN),
}
_SECURITY_TABLES = {Platform.ANDROID: ANDROID_SECURITY_TYPES, Platform.IOS: IOS_SECURITY_TYPES}
#: Codes that lump several kinds together: the strongest kind they may mean.
_CEILINGS = {(Platform.IOS, 2): _K.WPA3_PERSONAL}
#: Codes whose kind the capabilities may refine (a PSK network offering only WPA1 or TKIP).
_PSK_CODES = {(Platform.ANDROID, 2), (Platform.IOS, 2)}


# --------------------------------------------------------------------------------------------
# Rules
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WifiRule:
    """One Wi-Fi rule: what it is called, how serious it is and why it matters."""

    id: str
    category: str
    title: str
    severity: Severity
    timeline_only: bool
    explanation: str


ROGUE = "RogueWifi"
OPEN = "OpenWifi"
WEAK = "WeakWifi"

RULES: tuple[WifiRule, ...] = (
    WifiRule(
        "wifi.open_network", OPEN, "Connected to an open Wi-Fi network",
        Severity.INFORMATIONAL, True,
        "The network has no encryption: anyone nearby can read and alter what the device "
        "sends without TLS, and anyone can set up a network of the same name. Recorded on the "
        "timeline, not raised as an alert; repeated at most once a week per network.",
    ),
    WifiRule(
        "wifi.open_network_connected", OPEN, "Open Wi-Fi network connected",
        Severity.INFORMATIONAL, True,
        "The device joined an open Wi-Fi network it was already told about this week; "
        "recorded at most once a day per network.",
    ),
    WifiRule(
        "wifi.open_network_disconnected", OPEN, "Open Wi-Fi network disconnected",
        Severity.INFORMATIONAL, True,
        "The device left an open Wi-Fi network; recorded at most once a day per network.",
    ),
    WifiRule(
        "wifi.weak_security", WEAK, "Wi-Fi network with weak security",
        Severity.INFORMATIONAL, True,
        "WEP keys are recovered from captured traffic in minutes and WPA with TKIP has known "
        "key-stream attacks: traffic on this network is little safer than on an open one. A "
        "timeline event, not an alert: the network is weak, not shown to be hostile.",
    ),
    WifiRule(
        "wifi.evil_twin", ROGUE, "Rogue Wi-Fi: evil twin of a corporate network",
        Severity.LOW, False,
        "The network carries the name of a corporate Wi-Fi network but from an access point, "
        "or with a security, that the admin's profile does not allow: the mark of an attacker's "
        "access point imitating the corporate network to capture credentials and traffic.",
    ),
    WifiRule(
        "wifi.known_bad_network", ROGUE, "Rogue Wi-Fi: known malicious network",
        Severity.LOW, False,
        "The network's name or access point address is on the list of known-bad networks.",
    ),
    WifiRule(
        "wifi.gateway_mac_changed", ROGUE, "Rogue Wi-Fi: gateway MAC address changed",
        Severity.LOW, False,
        "On the same network (same name, access point and gateway address) another hardware "
        "address now answers for the gateway than shortly before: the mark of ARP spoofing, a "
        "machine on the network placing itself between the device and the internet.",
    ),
)  # fmt: skip
RULES_BY_ID: Mapping[str, WifiRule] = {rule.id: rule for rule in RULES}
_R = RULES_BY_ID


# --------------------------------------------------------------------------------------------
# Reading the agent's attributes
# --------------------------------------------------------------------------------------------


class _Bad(ValueError):
    """An attribute that cannot be read; becomes a WifiProblem."""

    def __init__(self, attribute: str, reason: str) -> None:
        super().__init__(reason)
        self.problem = WifiProblem(attribute, reason)


_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})
_ANDROID_UNKNOWN_SSID = "<unknown ssid>"
_KNOWN_ATTRIBUTES = (
    "event",
    "ssid",
    "bssid",
    "security",
    "capabilities",
    "captive_portal",
    "gateway_ip",
    "gateway_mac",
    "dns",
    "observed_at",
)


def wifi_observation_from_attributes(
    attrs: Mapping[str, str], platform: Platform, *, default_time: datetime | None = None
) -> WifiObservation | WifiProblem:
    """The observation the agent's `attrs` describe, or the first problem that prevents it.

    `default_time` (timezone-aware) stands in for a missing ``observed_at`` (the server passes
    the check-in's collection time). Never raises, whatever the mapping holds.
    """
    try:
        return _read(attrs, platform, default_time)
    except _Bad as bad:
        return bad.problem


def wifi_observations(
    platform: Platform,
    observations: Iterable[NetworkObservation],
    *,
    default_time: datetime | None = None,
) -> tuple[tuple[WifiObservation, ...], tuple[WifiProblem, ...]]:
    """The Wi-Fi observations among a check-in's network observations, and the problems of
    those that could not be read (other kinds, such as "tls", are skipped)."""
    good: list[WifiObservation] = []
    bad: list[WifiProblem] = []
    for obs in observations:
        if getattr(obs, "kind", None) != "wifi":
            continue
        attributes = getattr(obs, "attributes", ())
        try:
            attrs = dict(attributes)
        except (TypeError, ValueError):
            bad.append(WifiProblem("attributes", "the attributes are not name/value pairs"))
            continue
        result = wifi_observation_from_attributes(attrs, platform, default_time=default_time)
        if isinstance(result, WifiProblem):
            bad.append(result)
        else:
            good.append(result)
    return tuple(good), tuple(bad)


def _read(
    attrs: Mapping[str, str], platform: Platform, default_time: datetime | None
) -> WifiObservation:
    if not isinstance(attrs, Mapping):
        raise _Bad("attributes", "the attributes are not a mapping of names to text")
    if platform not in _SECURITY_TABLES:
        raise _Bad("platform", f"unknown platform {printable(str(platform), 40)!r}")
    values = {name: _value(attrs, name) for name in _KNOWN_ATTRIBUTES}
    code, security, ceiling = _security(values["security"], values["capabilities"], platform)
    return WifiObservation(
        platform=platform,
        observed_at=_observed_at(values["observed_at"], default_time),
        event=_event(values["event"]),
        ssid=_ssid(values["ssid"]),
        bssid=_mac("bssid", values["bssid"]),
        security=security,
        security_ceiling=ceiling,
        security_code=code,
        capabilities=values["capabilities"],
        captive_portal=_flag("captive_portal", values["captive_portal"]),
        gateway_ip=_ip("gateway_ip", values["gateway_ip"]),
        gateway_mac=_mac("gateway_mac", values["gateway_mac"]),
        dns=_dns(values["dns"]),
    )


def _value(attrs: Mapping[str, str], name: str) -> str:
    """The attribute as text ("" when absent), refused when not text or too long."""
    try:
        value = attrs.get(name)
    except Exception:  # a hostile Mapping; the caller only promised Mapping[str, str]
        raise _Bad(name, "the attribute could not be read") from None
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _Bad(name, f"must be text, not {type(value).__name__}")
    limit = MAX_CAPABILITIES_CHARS if name == "capabilities" else MAX_ATTRIBUTE_CHARS
    if len(value) > limit:
        raise _Bad(name, f"is {len(value)} characters long; at most {limit} are accepted")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _Bad(name, "is not valid Unicode text") from None
    if "\x00" in value:
        raise _Bad(name, "contains a NUL character")
    return value if name == "ssid" else value.strip()


def _event(value: str) -> WifiEvent:
    if not value:
        return WifiEvent.CONNECTED
    try:
        return WifiEvent(value.lower())
    except ValueError:
        raise _Bad(
            "event", f'must be "connected" or "disconnected", not {printable(value, 40)!r}'
        ) from None


def _ssid(value: str) -> str | None:
    ssid = value
    if len(ssid) >= 2 and ssid.startswith('"') and ssid.endswith('"'):
        ssid = ssid[1:-1]  # Android's WifiInfo.getSSID() quotes UTF-8 names
    if not ssid or value == _ANDROID_UNKNOWN_SSID:
        return None
    problem = ssid_problem(ssid)
    if problem is not None:
        raise _Bad("ssid", problem)
    return ssid


def _mac(name: str, value: str) -> str | None:
    if not value:
        return None
    mac = normalize_mac(value)
    if mac is None:
        raise _Bad(name, f"{printable(value, 40)!r} is not a MAC address of 6 hex octets")
    if mac in PLACEHOLDER_MACS:
        return None
    if is_multicast_mac(mac):
        raise _Bad(name, f"{mac} is a group address; no access point or gateway has one")
    return mac


def _flag(name: str, value: str) -> bool | None:
    word = value.lower()
    if not word:
        return None
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise _Bad(name, f'must be "true" or "false", not {printable(value, 40)!r}')


def _ip(name: str, value: str) -> str | None:
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise _Bad(name, f"{printable(value, 60)!r} is not an IP address") from None


def _dns(value: str) -> tuple[str, ...]:
    entries = [entry.strip() for entry in value.split(",") if entry.strip()]
    if len(entries) > MAX_DNS_SERVERS:
        raise _Bad("dns", f"names {len(entries)} servers; at most {MAX_DNS_SERVERS} are accepted")
    servers = tuple(_ip("dns", entry) or "" for entry in entries)
    return tuple(dict.fromkeys(servers))


def _observed_at(value: str, default_time: datetime | None) -> datetime:
    if not value:
        if default_time is None or default_time.utcoffset() is None:
            raise _Bad("observed_at", "is missing, and no check-in time stands in for it")
        return default_time
    try:
        parsed = datetime.fromisoformat(value)
    except (ValueError, OverflowError):
        raise _Bad(
            "observed_at", f"{printable(value, 60)!r} is not an ISO 8601 date and time"
        ) from None
    if parsed.utcoffset() is None:
        raise _Bad("observed_at", 'has no time zone; add one ("Z" or "+02:00")')
    return parsed


def _security(
    code_text: str, capabilities: str, platform: Platform
) -> tuple[int | None, SecurityKind, SecurityKind | None]:
    """(raw code, kind, ceiling) from the platform's code and the Android capabilities."""
    code: int | None = None
    kind, ceiling = _K.UNKNOWN, None
    if code_text:
        if not re.fullmatch(r"[+-]?[0-9]{1,4}", code_text):
            raise _Bad("security", f"{printable(code_text, 40)!r} is not a security code")
        code = int(code_text)
        table = _SECURITY_TABLES[platform]
        if code not in table:
            known = ", ".join(str(c) for c in sorted(table))
            raise _Bad("security", f"{code} is not a {platform.value} security code ({known})")
        kind = table[code][1]
        ceiling = _CEILINGS.get((platform, code))
    if capabilities:
        offered = security_from_capabilities(capabilities)
        if offered is None:
            raise _Bad(
                "capabilities",
                f"{printable(capabilities, 60)!r} is not a list of bracketed flags "
                "such as [WPA2-PSK-CCMP][ESS]",
            )
        best, psk_kinds = offered
        if not kind.is_known:
            kind, ceiling = best, None
        elif (platform, code) in _PSK_CODES and psk_kinds == {_K.WPA_TKIP}:
            kind, ceiling = _K.WPA_TKIP, None
    return code, kind, ceiling


_CAPABILITY_LIST = re.compile(r"\s*(?:\[[^\[\]]{0,100}\]\s*)*")
_CAPABILITY_GROUP = re.compile(r"\[([^\[\]]*)\]")
_PROTOCOLS = frozenset({"WPA", "WPA2", "RSN", "OSEN", "WAPI"})
_TOKEN = re.compile(
    r"(?:^|(?<=[-+]))("
    r"EAP_SUITE_B_192|OWE_TRANSITION|FILS-SHA256|FILS-SHA384|PSK-SHA256|EAP-SHA256|WAPI-PSK|"
    r"WAPI-CERT|FT/PSK|FT/EAP|FT/SAE|GCMP-256|GCMP-128|CCMP-256|PSK|EAP|SAE|OWE|OSEN|DPP|CERT|"
    r"CCMP|GCMP|TKIP|SMS4|NONE"
    r")(?=$|[-+])"
)
_ENTERPRISE_AKMS = frozenset(
    {"EAP", "FT/EAP", "EAP-SHA256", "EAP_SUITE_B_192", "FILS-SHA256", "FILS-SHA384", "OSEN"}
    | {"WAPI-CERT", "CERT"}
)
_SAE_AKMS = frozenset({"SAE", "FT/SAE", "DPP"})
_PSK_AKMS = frozenset({"PSK", "FT/PSK", "PSK-SHA256", "WAPI-PSK"})
_STRONG_CIPHERS = frozenset({"CCMP", "CCMP-256", "GCMP", "GCMP-128", "GCMP-256", "SMS4"})
_CIPHERS = _STRONG_CIPHERS | {"TKIP", "NONE"}


def security_from_capabilities(text: str) -> tuple[SecurityKind, frozenset[SecurityKind]] | None:
    """What an Android ScanResult.capabilities string offers, or None if it is not one.

    Returns (the strongest kind offered, the kinds its pre-shared-key offers come to). Groups
    are "[PROTOCOL-AKM+AKM-CIPHER+CIPHER]" (protocols WPA, WPA2, RSN, OSEN, WAPI), "[WEP]", or
    flags ("[ESS]", "[WPS]", "[MFPR]" ...); unknown groups and tokens are ignored. Only flags
    means open; protocol groups that name nothing known mean UNKNOWN. OWE_TRANSITION is the
    open half of an OWE transition pair, so open.
    """
    if len(text) > MAX_CAPABILITIES_CHARS or not _CAPABILITY_LIST.fullmatch(text):
        return None
    kinds: set[SecurityKind] = set()
    psk_kinds: set[SecurityKind] = set()
    protocol_groups = 0
    for group in _CAPABILITY_GROUP.findall(text.upper()):
        protocol, _, rest = group.partition("-")
        if group == "WEP":
            kinds.add(_K.WEP)
        if protocol not in _PROTOCOLS:
            continue
        protocol_groups += 1
        tokens = set(_TOKEN.findall(rest))
        ciphers = tokens & _CIPHERS
        akms = tokens - _CIPHERS
        strong = bool(ciphers & _STRONG_CIPHERS) or (not ciphers and protocol != "WPA")
        if akms & _ENTERPRISE_AKMS or protocol == "OSEN":
            kinds.add(_K.ENTERPRISE)
        if akms & _SAE_AKMS:
            kinds.add(_K.WPA3_PERSONAL)
        if akms & _PSK_AKMS:
            psk = _K.WPA2_PERSONAL if strong and protocol != "WPA" else _K.WPA_TKIP
            kinds.add(psk)
            psk_kinds.add(psk)
        if "OWE" in akms:
            kinds.add(_K.OWE)
        if "OWE_TRANSITION" in akms or akms == {"NONE"}:
            kinds.add(_K.OPEN)
    if not kinds:
        return (_K.UNKNOWN if protocol_groups else _K.OPEN), frozenset()
    return max(kinds, key=lambda k: k.strength), frozenset(psk_kinds)


# --------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------


def evaluate_wifi(
    observations: Sequence[WifiObservation],
    policy: WifiPolicy,
    history: WifiHistory,
    now: datetime,
) -> tuple[tuple[WifiFinding, ...], WifiHistory]:
    """The findings `observations` give under `policy`, and the history to store next.

    Observations are judged in time order, each at min(its time, `now`); at most the latest
    `MAX_OBSERVATIONS`. The returned history holds at most `MAX_HISTORY_NETWORKS` networks
    (the most recently seen, always including the one the device is on).
    """
    state = _State(history, policy)
    timed = sorted(
        ((min(obs.observed_at, now), n, obs) for n, obs in enumerate(observations)),
        key=lambda item: (item[0], item[1]),
    )
    findings: list[WifiFinding] = []
    for t, _, obs in timed[-MAX_OBSERVATIONS:]:
        if obs.event is WifiEvent.DISCONNECTED:
            findings.extend(state.disconnected(obs, t))
        else:
            findings.extend(state.connected(obs, t))
    return tuple(findings), state.history()


def wifi_detection(finding: WifiFinding) -> Detection:
    """The finding as the detection the server turns into an alert or a timeline event."""
    return Detection(
        category=finding.category,
        title=finding.title,
        severity=finding.severity,
        key=finding.key,
        evidence=finding.evidence,
        timeline_only=finding.timeline_only,
        resolved=finding.resolved,
    )


def _due(last: datetime | None, t: datetime, window: timedelta) -> bool:
    """Nothing of the kind within `window` before `t` (a `last` after `t` counts as recent)."""
    return last is None or t - last >= window


def _key(rule_id: str, network: NetworkId) -> str:
    return f"{rule_id}|{network.bssid or ''}|{network.ssid or ''}"


def _bounded(text: str) -> str:
    return printable(text, MAX_EVIDENCE_CHARS)


class _State:
    """The history being updated while one batch of observations is judged."""

    def __init__(self, history: WifiHistory, policy: WifiPolicy) -> None:
        self.policy = policy
        self.records: list[WifiNetworkRecord] = list(history.networks)
        self.current: int | None = next(
            (i for i, r in enumerate(self.records) if r.network == history.current), None
        )
        self.bad_ssids = {
            i.value.casefold(): i for i in policy.indicators if i.type is WifiIndicatorType.SSID
        }
        self.bad_bssids = {
            mac: i
            for i in policy.indicators
            if i.type is WifiIndicatorType.BSSID and (mac := normalize_mac(i.value)) is not None
        }

    # --- finding networks ---------------------------------------------------------------

    def find(self, network: NetworkId) -> int | None:
        """The record of `network`: the current one if it matches, else an exact match, else
        the most recently seen match (a report without BSSID matches any of that SSID's)."""
        if self.current is not None and self.records[self.current].network.matches(network):
            return self.current
        best: int | None = None
        for i, record in enumerate(self.records):
            if record.network == network:
                return i
            if record.network.matches(network) and (
                best is None or record.last_seen >= self.records[best].last_seen
            ):
                best = i
        return best

    # --- events -------------------------------------------------------------------------

    def connected(self, obs: WifiObservation, t: datetime) -> list[WifiFinding]:
        out: list[WifiFinding] = []
        previous = self.current
        index = self.find(obs.network)
        continuing = (
            index is not None
            and index == previous
            and t - self.records[index].last_seen < CONTINUATION
        )
        if previous is not None and previous != index:
            out.extend(self.leave(previous, t, "the device moved to another network"))
        if index is None:
            self.records.append(WifiNetworkRecord(obs.network, obs.security, last_seen=t))
            index = len(self.records) - 1
        record = self._identified(index, obs)
        record, rogue = self._rogue(record, obs, t)
        out.extend(rogue)
        if not continuing:
            record, events = self._exposure(record, obs, t)
            out.extend(events)
        self.records[index] = replace(
            record,
            security=obs.security if obs.security.is_known else record.security,
            last_seen=max(record.last_seen, t),
        )
        self.current = index
        return out

    def disconnected(self, obs: WifiObservation, t: datetime) -> list[WifiFinding]:
        named = obs.ssid is not None or obs.bssid is not None
        index = self.find(obs.network) if named else self.current
        if index is None:
            return []
        return self.leave(index, t, "the device disconnected from the network")

    def leave(self, index: int, t: datetime, why: str) -> list[WifiFinding]:
        """The device is no longer on this network: resolve its rogue findings, log the
        disconnect from an open network."""
        record = self.records[index]
        out = [self._resolved(record, rule_id, key, t, why) for rule_id, key in record.rogue]
        if not self.policy.auto_remediation:
            out = []
        disconnect_at = record.disconnect_logged_at
        if (
            record.security is _K.OPEN
            and self.policy.open_network_mode is not DetectionMode.DISABLE
            and _due(disconnect_at, t, EVENT_REPEAT)
        ):
            evidence = (*_record_evidence(record), ("reason", why))
            out.append(_finding(_R["wifi.open_network_disconnected"], record.network, t, evidence))
            disconnect_at = t
        self.records[index] = replace(
            record,
            rogue=(),
            disconnect_logged_at=disconnect_at,
            last_seen=max(record.last_seen, t),
        )
        if self.current == index:
            self.current = None
        return out

    # --- rules --------------------------------------------------------------------------

    def _identified(self, index: int, obs: WifiObservation) -> WifiNetworkRecord:
        """The record with the BSSID it did not know filled in (unless another record already
        holds that network: one record per network)."""
        record = self.records[index]
        if record.network.bssid is None and obs.bssid is not None:
            network = NetworkId(record.network.ssid, obs.bssid)
            if all(other.network != network for other in self.records):
                return replace(record, network=network)
        return record

    def _rogue(
        self, record: WifiNetworkRecord, obs: WifiObservation, t: datetime
    ) -> tuple[WifiNetworkRecord, list[WifiFinding]]:
        """Raise new rogue findings, keep standing ones, resolve those no longer matching."""
        active = {rule_id for rule_id, _ in record.rogue}
        hits: dict[str, tuple[tuple[str, str], ...]] = {}
        for rule_id, evidence in (
            *self._known_bad(obs),
            *self._evil_twin(obs),
            *self._gateway_changed(record, obs, t, "wifi.gateway_mac_changed" in active),
        ):
            hits.setdefault(rule_id, evidence)
        out: list[WifiFinding] = []
        kept: list[tuple[str, str]] = []
        for rule_id, key in record.rogue:
            if rule_id in hits:
                kept.append((rule_id, key))
            elif self.policy.auto_remediation:
                why = "the network no longer matches the rule"
                out.append(self._resolved(record, rule_id, key, t, why))
        for rule_id, extra in hits.items():
            if rule_id in active:
                continue
            finding = _finding(
                _R[rule_id], record.network, t, (*_observation_evidence(obs), *extra)
            )
            out.append(finding)
            kept.append((rule_id, finding.key))
        gateway_spoofed = "wifi.gateway_mac_changed" in hits
        if obs.gateway_ip is not None and obs.gateway_mac is not None and not gateway_spoofed:
            record = replace(
                record, gateway_ip=obs.gateway_ip, gateway_mac=obs.gateway_mac, gateway_seen_at=t
            )
        return replace(record, rogue=tuple(kept)), out

    def _known_bad(self, obs: WifiObservation) -> Iterator[tuple[str, tuple[tuple[str, str], ...]]]:
        matches = []
        if obs.bssid is not None and obs.bssid in self.bad_bssids:
            matches.append(self.bad_bssids[obs.bssid])
        if obs.ssid is not None and obs.ssid.casefold() in self.bad_ssids:
            matches.append(self.bad_ssids[obs.ssid.casefold()])
        if not matches:
            return
        evidence: list[tuple[str, str]] = []
        for indicator in matches:
            evidence.append((f"indicator_{indicator.type.value}", _bounded(indicator.value)))
            if indicator.title:
                evidence.append(
                    (f"indicator_{indicator.type.value}_title", _bounded(indicator.title))
                )
        yield "wifi.known_bad_network", tuple(evidence)

    def _evil_twin(self, obs: WifiObservation) -> Iterator[tuple[str, tuple[tuple[str, str], ...]]]:
        if obs.ssid is None:
            return
        profiles = [p for p in self.policy.corporate_profiles if p.ssid == obs.ssid]
        if not profiles:
            return
        failures = [_profile_failures(profile, obs) for profile in profiles]
        if any(not reasons for reasons in failures):
            return
        profile, reasons = profiles[0], failures[0]
        allowed = sorted(filter(None, map(normalize_mac, profile.allowed_bssids)))
        evidence = [
            ("profile", _bounded(profile.name or profile.ssid)),
            ("reason", _bounded("; ".join(reasons))),
            ("minimum_security", profile.minimum_security.value),
        ]
        if allowed:
            shown = ", ".join(allowed[:8]) + (
                f" and {len(allowed) - 8} more" if len(allowed) > 8 else ""
            )
            evidence.append(("allowed_bssids", shown))
        if len(profiles) > 1:
            evidence.append(("profiles_checked", str(len(profiles))))
        yield "wifi.evil_twin", tuple(evidence)

    def _gateway_changed(
        self, record: WifiNetworkRecord, obs: WifiObservation, t: datetime, standing: bool
    ) -> Iterator[tuple[str, tuple[tuple[str, str], ...]]]:
        window = self.policy.arp_window
        if (
            window <= timedelta(0)
            or obs.gateway_ip is None
            or obs.gateway_mac is None
            or record.gateway_mac is None
            or record.gateway_seen_at is None
            or record.gateway_ip != obs.gateway_ip
            or record.gateway_mac == obs.gateway_mac
        ):
            return
        if not standing and t - record.gateway_seen_at >= window:
            return  # the old MAC is too old to vouch for: the gateway may have been replaced
        yield (
            "wifi.gateway_mac_changed",
            (
                ("previous_gateway_mac", record.gateway_mac),
                ("previous_gateway_seen_at", record.gateway_seen_at.isoformat()),
                ("arp_window", str(window)),
            ),
        )

    def _exposure(
        self, record: WifiNetworkRecord, obs: WifiObservation, t: datetime
    ) -> tuple[WifiNetworkRecord, list[WifiFinding]]:
        """Open and weak networks: timeline events, de-duplicated per network."""
        out: list[WifiFinding] = []
        evidence = _observation_evidence(obs)
        mode = self.policy.open_network_mode
        if obs.security is _K.OPEN and mode is not DetectionMode.DISABLE:
            notify = mode is DetectionMode.ENABLE
            if _due(record.open_notified_at, t, OPEN_NETWORK_REPEAT):
                extra = (("mode", mode.name.lower()), ("user_notified", str(notify).lower()))
                out.append(
                    _finding(
                        _R["wifi.open_network"], record.network, t, (*evidence, *extra),
                        notify=notify,
                    )
                )  # fmt: skip
                record = replace(record, open_notified_at=t, connect_logged_at=t)
            elif _due(record.connect_logged_at, t, EVENT_REPEAT):
                rule = _R["wifi.open_network_connected"]
                out.append(_finding(rule, record.network, t, evidence))
                record = replace(record, connect_logged_at=t)
        weak_mode = self.policy.weak_security_mode
        if (
            obs.security in (_K.WEP, _K.WPA_TKIP)
            and weak_mode is not DetectionMode.DISABLE
            and _due(record.weak_logged_at, t, EVENT_REPEAT)
        ):
            notify = weak_mode is DetectionMode.ENABLE
            extra = (("mode", weak_mode.name.lower()), ("user_notified", str(notify).lower()))
            rule = _R["wifi.weak_security"]
            out.append(_finding(rule, record.network, t, (*evidence, *extra), notify=notify))
            record = replace(record, weak_logged_at=t)
        return record, out

    def _resolved(
        self, record: WifiNetworkRecord, rule_id: str, key: str, t: datetime, why: str
    ) -> WifiFinding:
        rule = RULES_BY_ID.get(rule_id) or _UNKNOWN_ROGUE
        evidence = (*_record_evidence(record), ("resolution", why))
        return replace(_finding(rule, record.network, t, evidence), key=key, resolved=True)

    # --- the history to store ------------------------------------------------------------

    def history(self) -> WifiHistory:
        current = self.records[self.current] if self.current is not None else None
        ordered = sorted(self.records, key=lambda r: r.last_seen)
        if len(ordered) > MAX_HISTORY_NETWORKS:
            kept = ordered[-MAX_HISTORY_NETWORKS:]
            if current is not None and current not in kept:
                kept = [current, *kept[1:]]
            ordered = kept
        return WifiHistory(tuple(ordered), current.network if current is not None else None)


_UNKNOWN_ROGUE = WifiRule(
    "wifi.rogue", ROGUE, "Rogue Wi-Fi", Severity.LOW, False, "A rogue Wi-Fi finding."
)


def _profile_failures(profile: CorporateNetworkProfile, obs: WifiObservation) -> list[str]:
    """Why `obs` does not fit `profile` (empty: it fits)."""
    reasons = []
    allowed = {mac for mac in map(normalize_mac, profile.allowed_bssids) if mac is not None}
    if allowed and obs.bssid is not None and obs.bssid not in allowed:
        reasons.append(f"access point {obs.bssid} is not one of the profile's")
    if obs.strongest_possible.weaker_than(profile.minimum_security):
        reasons.append(
            f"security {obs.security.label} is weaker than the profile's minimum "
            f"{profile.minimum_security.label}"
        )
    return reasons


def _finding(
    rule: WifiRule,
    network: NetworkId,
    t: datetime,
    evidence: tuple[tuple[str, str], ...],
    *,
    notify: bool = False,
) -> WifiFinding:
    return WifiFinding(
        rule_id=rule.id,
        category=rule.category,
        title=f"{rule.title}: {network.label}",
        severity=rule.severity,
        explanation=rule.explanation,
        key=_key(rule.id, network),
        observed_at=t,
        evidence=evidence,
        timeline_only=rule.timeline_only,
        notify_user=notify,
    )


def _observation_evidence(obs: WifiObservation) -> tuple[tuple[str, str], ...]:
    pairs: list[tuple[str, str]] = [("platform", obs.platform.value), ("event", obs.event.value)]
    if obs.ssid is not None:
        pairs.append(("ssid", _bounded(obs.ssid)))
    if obs.bssid is not None:
        pairs.append(("bssid", obs.bssid))
    pairs.append(("security", obs.security.value))
    if obs.security_code is not None:
        name = _SECURITY_TABLES[obs.platform].get(obs.security_code, ("?", _K.UNKNOWN))[0]
        pairs.append(("security_code", f"{obs.security_code} ({name})"))
    if obs.capabilities:
        pairs.append(("capabilities", _bounded(obs.capabilities)))
    if obs.captive_portal is not None:
        pairs.append(("captive_portal", str(obs.captive_portal).lower()))
    if obs.gateway_ip is not None:
        pairs.append(("gateway_ip", obs.gateway_ip))
    if obs.gateway_mac is not None:
        pairs.append(("gateway_mac", obs.gateway_mac))
    if obs.dns:
        pairs.append(("dns", _bounded(",".join(obs.dns))))
    return tuple(pairs)


def _record_evidence(record: WifiNetworkRecord) -> tuple[tuple[str, str], ...]:
    pairs: list[tuple[str, str]] = []
    if record.network.ssid is not None:
        pairs.append(("ssid", _bounded(record.network.ssid)))
    if record.network.bssid is not None:
        pairs.append(("bssid", record.network.bssid))
    pairs.append(("security", record.security.value))
    return tuple(pairs)
