"""Network protection's vocabulary for Wi-Fi: security kinds, observations, policy, findings, and
the small per-device history that lets the engine de-duplicate and resolve its findings.

Produced and consumed by engines.network.wifi (rules) and engines.network.wifi_indicators (the
known-bad network list importer); the server stores `WifiHistory` per device (as the JSON its
`to_json` writes) and turns `WifiFinding`s into alerts and timeline events.

Identifiers are canonical everywhere in this module: a MAC address (BSSID, gateway MAC) is six
lower-case, zero-padded, colon-separated octets ("0a:1b:2c:3d:4e:5f"); an IP address is the
`ipaddress` module's compressed text; an SSID is the network name as text (at most 32 bytes of
UTF-8, as 802.11 allows), None when the device could not tell it.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import IntEnum, StrEnum
from typing import Any

import orjson

from openmtd.domain.enums import Platform, Severity

#: 802.11 allows an SSID of at most 32 octets.
MAX_SSID_BYTES = 32
#: The history keeps at most this many networks (the most recently seen ones).
MAX_HISTORY_NETWORKS = 64
#: Version of the document `WifiHistory.to_json` writes.
HISTORY_FORMAT = 1


class SecurityKind(StrEnum):
    """How a Wi-Fi network protects its traffic, as one scale for Android and iOS.

    Strength order (`strength`), weakest first, and why:

    * OPEN: nothing; anyone nearby reads the traffic.
    * WEP: broken; the key is recovered from captured traffic in minutes.
    * WPA_TKIP: WPA (version 1) or a TKIP-only cipher; TKIP has known key-stream attacks.
    * OWE: "encrypted open" (Wi-Fi Enhanced Open): strong encryption without authentication, so
      safe from eavesdroppers but not from an impostor access point. Not an open network.
    * WPA2_PERSONAL: a pre-shared key with CCMP/GCMP.
    * WPA3_PERSONAL: SAE, which resists offline guessing of the password.
    * ENTERPRISE: 802.1X/EAP, each user authenticated and the network proven by its certificate.

    UNKNOWN has no place on the scale: it is never weaker or stronger than anything.
    """

    OPEN = "open"
    WEP = "wep"
    WPA_TKIP = "wpa-tkip"
    OWE = "owe"
    WPA2_PERSONAL = "wpa2-personal"
    WPA3_PERSONAL = "wpa3-personal"
    ENTERPRISE = "enterprise"
    UNKNOWN = "unknown"

    @property
    def strength(self) -> int:
        """0 (open) .. 6 (enterprise); -1 for UNKNOWN."""
        return _STRENGTH[self]

    @property
    def is_known(self) -> bool:
        return self is not SecurityKind.UNKNOWN

    def weaker_than(self, other: SecurityKind) -> bool:
        """Strictly weaker; False when either side is UNKNOWN (no evidence of a downgrade)."""
        if not (self.is_known and other.is_known):
            return False
        return self.strength < other.strength

    @property
    def label(self) -> str:
        return _LABELS[self]


_STRENGTH = {
    SecurityKind.UNKNOWN: -1,
    SecurityKind.OPEN: 0,
    SecurityKind.WEP: 1,
    SecurityKind.WPA_TKIP: 2,
    SecurityKind.OWE: 3,
    SecurityKind.WPA2_PERSONAL: 4,
    SecurityKind.WPA3_PERSONAL: 5,
    SecurityKind.ENTERPRISE: 6,
}
_LABELS = {
    SecurityKind.UNKNOWN: "unknown security",
    SecurityKind.OPEN: "open (no encryption)",
    SecurityKind.WEP: "WEP",
    SecurityKind.WPA_TKIP: "WPA/TKIP",
    SecurityKind.OWE: "OWE (encrypted open)",
    SecurityKind.WPA2_PERSONAL: "WPA2 Personal",
    SecurityKind.WPA3_PERSONAL: "WPA3 Personal",
    SecurityKind.ENTERPRISE: "Enterprise (802.1X)",
}


class WifiEvent(StrEnum):
    CONNECTED = "connected"  # the device is on this network (joined it, or still on it)
    DISCONNECTED = "disconnected"  # the device left this network (or any, when none is named)


class DetectionMode(IntEnum):
    """The reference product's three-way switch: its open network detection and certificate
    detection keys both take 0/1/2."""

    DISABLE = 0  # nothing is detected or recorded
    AUDIT = 1  # recorded for the admin, the user is not notified
    ENABLE = 2  # recorded, and the user is notified


# --------------------------------------------------------------------------------------------
# Identifiers
# --------------------------------------------------------------------------------------------

_MAC_SEPARATED = re.compile(r"[0-9a-f]{1,2}(?P<sep>[:-])(?:[0-9a-f]{1,2}(?P=sep)){4}[0-9a-f]{1,2}")
_MAC_BARE = re.compile(r"[0-9a-f]{12}")
_MAC_DOTTED = re.compile(r"[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4}")
#: Addresses that mean "not available": Android answers 02:00:00:00:00:00 to apps without the
#: location permission (and for the gateway MAC, which it hides); some APIs answer all zeros.
PLACEHOLDER_MACS = frozenset({"02:00:00:00:00:00", "00:00:00:00:00:00"})


def normalize_mac(text: str) -> str | None:
    """The canonical form of a MAC address ("0a:1b:2c:3d:4e:5f"), or None if it is not one.

    Accepts colon- or hyphen-separated octets of one or two hex digits (iOS prints BSSIDs
    without leading zeros: "0:1b:63:84:45:e6"), twelve bare hex digits, or Cisco's dotted form
    ("0a1b.2c3d.4e5f"), in any case. Placeholders (`PLACEHOLDER_MACS`) come back canonical too;
    callers decide what they mean.
    """
    if not isinstance(text, str) or len(text) > 32 or not text.isascii():
        return None
    value = text.strip().lower()
    match = _MAC_SEPARATED.fullmatch(value)
    if match is not None:
        octets = value.split(match["sep"])
        return ":".join(octet.rjust(2, "0") for octet in octets)
    if _MAC_BARE.fullmatch(value) or _MAC_DOTTED.fullmatch(value):
        digits = value.replace(".", "")
        return ":".join(digits[i : i + 2] for i in range(0, 12, 2))
    return None


def is_multicast_mac(mac: str) -> bool:
    """The group bit of the first octet: no station or access point has such an address."""
    return bool(int(mac[:2], 16) & 1)


def ssid_problem(ssid: str) -> str | None:
    """Why `ssid` cannot be a network name, or None when it can."""
    try:
        size = len(ssid.encode("utf-8"))
    except UnicodeEncodeError:
        return "the SSID is not valid Unicode text"
    if size > MAX_SSID_BYTES:
        return f"the SSID is {size} bytes of UTF-8; 802.11 allows at most {MAX_SSID_BYTES}"
    if "\x00" in ssid:
        return "the SSID contains a NUL character"
    return None


def printable(text: str, limit: int = 200) -> str:
    """Text for evidence and titles: control characters become "?", long text is cut."""
    clean = "".join(c if c.isprintable() else "?" for c in text[: limit + 1])
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"


@dataclass(frozen=True, slots=True)
class NetworkId:
    """Which network: SSID and BSSID, either unknown (None) when the device could not tell.

    Two ids name the same network when their SSIDs are equal and their BSSIDs are equal or
    either BSSID is unknown (iOS hides the BSSID from apps without the Wi-Fi entitlement).
    """

    ssid: str | None
    bssid: str | None

    def matches(self, other: NetworkId) -> bool:
        if self.ssid != other.ssid:
            return False
        return self.bssid is None or other.bssid is None or self.bssid == other.bssid

    @property
    def label(self) -> str:
        """For titles: the quoted SSID, else the BSSID, else "an unidentified network"."""
        if self.ssid is not None:
            return f'"{printable(self.ssid, 64)}"'
        return self.bssid or "an unidentified network"


# --------------------------------------------------------------------------------------------
# Observations
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WifiObservation:
    """One Wi-Fi report of a device, normalised (see engines.network.wifi for the attributes).

    `security` is the kind the report most likely means. `security_ceiling` is the strongest
    kind the report is compatible with when the platform lumps several together (iOS "personal"
    is WPA, WPA2 or WPA3 Personal: security WPA2_PERSONAL, ceiling WPA3_PERSONAL); None means
    the same as `security`. Rules that accuse a network (downgrade) use the ceiling, so a vague
    report never looks like an attack.
    """

    platform: Platform
    observed_at: datetime  # timezone-aware
    event: WifiEvent = WifiEvent.CONNECTED
    ssid: str | None = None
    bssid: str | None = None
    security: SecurityKind = SecurityKind.UNKNOWN
    security_ceiling: SecurityKind | None = None
    security_code: int | None = None  # the platform's raw code, for evidence
    capabilities: str = ""  # Android ScanResult.capabilities, for evidence
    captive_portal: bool | None = None
    gateway_ip: str | None = None
    gateway_mac: str | None = None  # only where the platform exposes it
    dns: tuple[str, ...] = ()

    @property
    def network(self) -> NetworkId:
        return NetworkId(self.ssid, self.bssid)

    @property
    def strongest_possible(self) -> SecurityKind:
        return self.security if self.security_ceiling is None else self.security_ceiling


@dataclass(frozen=True, slots=True)
class WifiProblem:
    """Why a Wi-Fi report could not be read: the attribute at fault and a sentence."""

    attribute: str
    reason: str

    def __str__(self) -> str:
        return f"{self.attribute}: {self.reason}"


# --------------------------------------------------------------------------------------------
# Policy
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CorporateNetworkProfile:
    """A corporate Wi-Fi network as the admin describes it.

    A device on a network with this SSID (exact, case-sensitive, as devices join by it) whose
    BSSID is not among `allowed_bssids` (empty: any BSSID) or whose security is weaker than
    `minimum_security` is on an evil twin. BSSIDs are compared canonically (`normalize_mac`).
    Several profiles may share an SSID (sites, bands): a network fitting any of them is fine.
    """

    ssid: str
    allowed_bssids: frozenset[str] = frozenset()
    minimum_security: SecurityKind = SecurityKind.WPA2_PERSONAL
    name: str = ""  # how the admin calls it; the SSID when empty


class WifiIndicatorType(StrEnum):
    SSID = "ssid"  # a network name, matched ignoring case
    BSSID = "bssid"  # an access point's MAC address, canonical


@dataclass(frozen=True, slots=True)
class WifiIndicator:
    """One known-bad network: an SSID or a BSSID, with a title saying why it is bad."""

    type: WifiIndicatorType
    value: str
    title: str = ""


@dataclass(frozen=True, slots=True)
class WifiPolicy:
    """The admin's Wi-Fi settings.

    `open_network_mode` is the reference product's open network detection (default Enable).
    `weak_security_mode` is ours (the reference product has no such rule): WEP and WPA/TKIP
    networks are recorded on the timeline, by default without notifying the user.
    `arp_window`: a gateway MAC change counts as ARP spoofing when the previous MAC was seen on
    the same network less than this long ago; zero turns the rule off.
    `auto_remediation` mirrors the reference product's network protection auto-remediation key:
    when the device leaves a rogue network its alert is resolved.
    """

    open_network_mode: DetectionMode = DetectionMode.ENABLE
    weak_security_mode: DetectionMode = DetectionMode.AUDIT
    corporate_profiles: tuple[CorporateNetworkProfile, ...] = ()
    indicators: tuple[WifiIndicator, ...] = ()
    arp_window: timedelta = timedelta(hours=24)
    auto_remediation: bool = True


# --------------------------------------------------------------------------------------------
# Findings
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WifiFinding:
    """One thing the Wi-Fi rules found, ready to become an alert or a timeline event.

    `key` is stable per rule and network ("wifi.evil_twin|aa:bb:cc:dd:ee:ff|CorpNet"): the
    server de-duplicates alerts by it, and a later finding with the same key and
    `resolved=True` resolves the alert. `timeline_only` findings are events, never alerts.
    `notify_user` says whether the device should tell its user (false in audit mode).
    """

    rule_id: str
    category: str  # "RogueWifi", "OpenWifi", "WeakWifi"
    title: str
    severity: Severity
    explanation: str
    key: str
    observed_at: datetime
    evidence: tuple[tuple[str, str], ...] = ()
    timeline_only: bool = False
    notify_user: bool = False
    resolved: bool = False


# --------------------------------------------------------------------------------------------
# History
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WifiNetworkRecord:
    """What the engine remembers about one network a device was on."""

    network: NetworkId
    security: SecurityKind
    last_seen: datetime
    open_notified_at: datetime | None = None  # last open-network finding (7-day rule)
    connect_logged_at: datetime | None = None  # last open-network connect event (24 h rule)
    disconnect_logged_at: datetime | None = None  # last open-network disconnect event
    weak_logged_at: datetime | None = None  # last weak-security event
    gateway_ip: str | None = None
    gateway_mac: str | None = None  # the trusted gateway MAC (an attacker's is never learnt)
    gateway_seen_at: datetime | None = None
    rogue: tuple[tuple[str, str], ...] = ()  # (rule id, finding key) raised, not yet resolved


@dataclass(frozen=True, slots=True)
class WifiHistory:
    """The per-device memory of the Wi-Fi engine: at most `MAX_HISTORY_NETWORKS` networks,
    least recently seen first, and the network the device is on now (None: none or unknown)."""

    networks: tuple[WifiNetworkRecord, ...] = field(default=())
    current: NetworkId | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe document ("format": 1) that `from_json` reads back to an equal value."""
        return {
            "format": HISTORY_FORMAT,
            "current": _id_to_json(self.current) if self.current is not None else None,
            "networks": [_record_to_json(r) for r in self.networks],
        }

    @classmethod
    def from_json(cls, document: object) -> WifiHistory:
        """The history in `document` (a dict from `to_json`, or its JSON text).

        Never raises: a document of another format or no document at all is an empty history,
        a record that does not read back is dropped, and at most `MAX_HISTORY_NETWORKS` of the
        most recent records are kept. Losing history only costs de-duplication.
        """
        if isinstance(document, str | bytes):
            try:
                document = orjson.loads(document)
            except orjson.JSONDecodeError:
                return cls()
        if not isinstance(document, Mapping) or document.get("format") != HISTORY_FORMAT:
            return cls()
        raw = document.get("networks")
        records = []
        for item in raw[-MAX_HISTORY_NETWORKS * 4 :] if isinstance(raw, list) else ():
            record = _record_from_json(item)
            if record is not None:
                records.append(record)
        records = records[-MAX_HISTORY_NETWORKS:]
        current = _id_from_json(document.get("current"))
        if current is not None and not any(r.network == current for r in records):
            current = None
        return cls(tuple(records), current)


def _id_to_json(network: NetworkId) -> dict[str, Any]:
    return {"ssid": network.ssid, "bssid": network.bssid}


def _time_to_json(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _record_to_json(r: WifiNetworkRecord) -> dict[str, Any]:
    return {
        **_id_to_json(r.network),
        "security": r.security.value,
        "last_seen": _time_to_json(r.last_seen),
        "open_notified_at": _time_to_json(r.open_notified_at),
        "connect_logged_at": _time_to_json(r.connect_logged_at),
        "disconnect_logged_at": _time_to_json(r.disconnect_logged_at),
        "weak_logged_at": _time_to_json(r.weak_logged_at),
        "gateway_ip": r.gateway_ip,
        "gateway_mac": r.gateway_mac,
        "gateway_seen_at": _time_to_json(r.gateway_seen_at),
        "rogue": [[rule_id, key] for rule_id, key in r.rogue],
    }


class _Unreadable(ValueError):
    """A stored record that does not read back (dropped by `WifiHistory.from_json`)."""


def _id_from_json(item: object) -> NetworkId | None:
    if not isinstance(item, Mapping):
        return None
    ssid, bssid = item.get("ssid"), item.get("bssid")
    if ssid is not None and (not isinstance(ssid, str) or not ssid or ssid_problem(ssid)):
        return None
    if bssid is not None and (not isinstance(bssid, str) or normalize_mac(bssid) != bssid):
        return None
    return NetworkId(ssid, bssid)


def _time_from_json(value: object) -> datetime | None:
    return None if value is None else _required_time(value)


def _required_time(value: object) -> datetime:
    if not isinstance(value, str) or len(value) > 64:
        raise _Unreadable("time")
    try:
        parsed = datetime.fromisoformat(value)
    except (ValueError, OverflowError):
        raise _Unreadable("time") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise _Unreadable("naive time")
    return parsed


def _ip_from_json(value: object) -> str | None:
    text = _text_from_json(value, 64)
    if text is None:
        return None
    try:
        canonical = str(ipaddress.ip_address(text))
    except ValueError:
        raise _Unreadable("ip") from None
    if canonical != text:
        raise _Unreadable("ip")
    return text


def _text_from_json(value: object, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise _Unreadable("text")
    return value


def _record_from_json(item: object) -> WifiNetworkRecord | None:
    network = _id_from_json(item)
    if network is None or not isinstance(item, Mapping):
        return None
    try:
        security = SecurityKind(_text_from_json(item.get("security"), 32) or "")
        last_seen = _required_time(item.get("last_seen"))
        gateway_mac = _text_from_json(item.get("gateway_mac"), 17)
        if gateway_mac is not None and normalize_mac(gateway_mac) != gateway_mac:
            raise _Unreadable("gateway_mac")
        return WifiNetworkRecord(
            network=network,
            security=security,
            last_seen=last_seen,
            open_notified_at=_time_from_json(item.get("open_notified_at")),
            connect_logged_at=_time_from_json(item.get("connect_logged_at")),
            disconnect_logged_at=_time_from_json(item.get("disconnect_logged_at")),
            weak_logged_at=_time_from_json(item.get("weak_logged_at")),
            gateway_ip=_ip_from_json(item.get("gateway_ip")),
            gateway_mac=gateway_mac,
            gateway_seen_at=_time_from_json(item.get("gateway_seen_at")),
            rogue=_rogue_from_json(item.get("rogue")),
        )
    except (_Unreadable, ValueError):
        return None


def _rogue_from_json(value: object) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, list) or len(value) > 16:
        raise _Unreadable("rogue")
    pairs = []
    for pair in value:
        if (
            not isinstance(pair, list)
            or len(pair) != 2
            or not all(isinstance(part, str) and 0 < len(part) <= 200 for part in pair)
        ):
            raise _Unreadable("rogue")
        pairs.append((pair[0], pair[1]))
    return tuple(pairs)
