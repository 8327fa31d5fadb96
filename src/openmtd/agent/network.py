"""Network protection on the device: Wi-Fi networks and TLS canaries, judged where they are seen.

The server's policy (sync `policy.network`) says what to check. At each run the agent judges
the Wi-Fi observations its collector made (`engines.network.wifi`, with the per-device history
that de-duplicates open-network events) and makes a TLS handshake to every canary endpoint,
judging the presented chain (`engines.network.certs`) against the platform trust store and the
admin's trusted CA list. What it finds goes to the server as detections; with network
protection privacy on (the default) they carry no SSID, BSSID or certificate detail
(`reports.detection_json`). A canary whose chain is fine again resolves its earlier findings
when automatic remediation is on. The end-user trust flow, when the admin allows it, lets the
person trust a network or a certificate; the choice is kept here and reported.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from openmtd.agent.tls_probe import ProbeResult, probe_tls_chain
from openmtd.domain.device import Detection, NetworkObservation
from openmtd.domain.enums import Platform, Severity
from openmtd.domain.network import (
    CorporateNetworkProfile,
    DetectionMode,
    SecurityKind,
    WifiHistory,
    WifiIndicator,
    WifiIndicatorType,
    WifiPolicy,
    normalize_mac,
)
from openmtd.domain.network_certs import CanaryConfig, CertVerdict
from openmtd.engines.network.certs import TrustStore, assess_installed_roots, check_tls_chain
from openmtd.engines.network.wifi import evaluate_wifi, wifi_detection, wifi_observations

NETWORK_FILE = "network.json"
POLICY_FILE = "network-policy.json"
TRUST_CATEGORY = "NetworkTrust"

Probe = Callable[[str, int, str], ProbeResult]


def probe_canary(address: str, port: int, server_name: str) -> ProbeResult:
    return probe_tls_chain(address, port, server_name=server_name)


@dataclass(frozen=True, slots=True)
class Canary:
    config: CanaryConfig
    address: str  # where to connect; the name checked is config.host


@dataclass(frozen=True, slots=True)
class NetworkPolicy:
    """`policy.network` of the sync payload, read."""

    enabled: bool = True
    wifi: WifiPolicy = WifiPolicy()
    certificate_mode: DetectionMode = DetectionMode.ENABLE
    trusted_cas: frozenset[str] = frozenset()
    canaries: tuple[Canary, ...] = ()
    user_trust: bool = False
    auto_remediation: bool = True

    @classmethod
    def from_sync(cls, doc: Mapping[str, Any] | None) -> NetworkPolicy:
        if not doc:
            return cls()
        auto = bool(doc.get("auto_remediation", True))
        profiles = tuple(
            CorporateNetworkProfile(
                ssid=str(w["ssid"]),
                allowed_bssids=frozenset(
                    m for m in (normalize_mac(b) for b in w.get("bssids", [])) if m
                ),
                minimum_security=SecurityKind(w.get("minimum_security", "wpa2-personal")),
            )
            for w in doc.get("corporate_wifi", [])
        )
        canaries = tuple(
            Canary(
                CanaryConfig(
                    host=str(c["host"]), port=int(c.get("port", 443)), pins=tuple(c.get("pins", ()))
                ),  # fmt: skip
                address=str(c.get("address") or c["host"]),
            )
            for c in doc.get("canaries", [])
        )
        return cls(
            enabled=bool(doc.get("enabled", True)),
            wifi=WifiPolicy(
                open_network_mode=DetectionMode(int(doc.get("open_network_detection", 2))),
                corporate_profiles=profiles,
                indicators=tuple(
                    WifiIndicator(
                        WifiIndicatorType(i["type"]), str(i["value"]), str(i.get("title", ""))
                    )  # fmt: skip
                    for i in doc.get("known_bad_networks", [])
                ),
                auto_remediation=auto,
            ),
            certificate_mode=DetectionMode(int(doc.get("certificate_detection", 2))),
            trusted_cas=frozenset(str(t) for t in doc.get("trusted_ca_thumbprints", [])),
            canaries=canaries,
            user_trust=bool(doc.get("user_trust", False)),
            auto_remediation=auto,
        )


@dataclass(frozen=True, slots=True)
class NetworkMemory:
    """What the agent keeps between runs (state_dir/network.json)."""

    wifi: WifiHistory = WifiHistory()
    canary_findings: Mapping[str, tuple[dict[str, Any], ...]] = field(default_factory=dict)
    trusted_networks: tuple[str, ...] = ()  # SSIDs the person trusted
    trusted_certificates: tuple[str, ...] = ()  # SHA-1 of certificates the person trusted

    @classmethod
    def load(cls, state_dir: Path) -> NetworkMemory:
        try:
            doc = json.loads((state_dir / NETWORK_FILE).read_text())
        except (OSError, ValueError):
            return cls()
        if not isinstance(doc, dict):
            return cls()
        findings = doc.get("canary_findings") or {}
        return cls(
            wifi=WifiHistory.from_json(doc.get("wifi")),
            canary_findings={str(k): tuple(v) for k, v in findings.items() if isinstance(v, list)},
            trusted_networks=tuple(str(s) for s in doc.get("trusted_networks", [])),
            trusted_certificates=tuple(str(s) for s in doc.get("trusted_certificates", [])),
        )

    def save(self, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        doc = {
            "wifi": self.wifi.to_json(),
            "canary_findings": {k: list(v) for k, v in dict(self.canary_findings).items()},
            "trusted_networks": list(self.trusted_networks),
            "trusted_certificates": list(self.trusted_certificates),
        }
        path = state_dir / NETWORK_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, default=str))
        tmp.replace(path)


def save_policy(state_dir: Path, doc: Mapping[str, Any] | None) -> None:
    """Keep the server's network policy: a later sync may answer "unchanged"."""
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / POLICY_FILE).write_text(json.dumps(dict(doc or {})))


def has_policy(state_dir: Path) -> bool:
    return (state_dir / POLICY_FILE).is_file()


def load_policy(state_dir: Path) -> NetworkPolicy:
    try:
        doc = json.loads((state_dir / POLICY_FILE).read_text())
    except (OSError, ValueError):
        return NetworkPolicy(enabled=False)  # no policy received yet: nothing to check
    return NetworkPolicy.from_sync(doc if isinstance(doc, dict) else None)


def _detection_doc(d: Detection) -> dict[str, Any]:
    return {"category": d.category, "title": d.title, "severity": d.severity.value,
            "key": d.key, "evidence": [list(e) for e in d.evidence]}  # fmt: skip


def _detection_of(doc: Mapping[str, Any]) -> Detection:
    return Detection(
        category=str(doc["category"]),
        title=str(doc["title"]),
        severity=Severity(doc["severity"]),
        key=str(doc["key"]),
        evidence=tuple((str(k), str(v)) for k, v in doc.get("evidence", [])),
    )


def network_detections(
    state_dir: Path,
    policy: NetworkPolicy,
    platform: Platform,
    observations: Iterable[NetworkObservation],
    *,
    now: datetime,
    probe: Probe = probe_canary,
    store: TrustStore | None = None,
    installed_roots: Sequence[bytes] = (),
) -> list[Detection]:
    """Judge this run's Wi-Fi observations, the root certificates the user or a profile
    installed (DER), and the canaries; returns the detections to report."""
    if not policy.enabled:
        return []
    memory = NetworkMemory.load(state_dir)
    found: list[Detection] = []

    wifi, _problems = wifi_observations(platform, observations, default_time=now)
    trusted = set(memory.trusted_networks)
    wifi = tuple(o for o in wifi if o.ssid is None or o.ssid not in trusted)
    findings, history = evaluate_wifi(wifi, policy.wifi, memory.wifi, now)
    found.extend(wifi_detection(f) for f in findings)

    canary_findings = dict(memory.canary_findings)
    if policy.certificate_mode is not DetectionMode.DISABLE:
        trusted_cas = policy.trusted_cas | frozenset(memory.trusted_certificates)
        for root in assess_installed_roots(
            installed_roots, trusted_cas=trusted_cas, mode=policy.certificate_mode, store=store
        ):
            found.extend(f.as_detection() for f in root.findings)
        for canary in policy.canaries:
            endpoint = canary.config.endpoint
            result = probe(canary.address, canary.config.port, canary.config.host)
            if result.error:
                continue  # nothing presented: nothing to judge (offline, refused)
            check = check_tls_chain(
                result.chain,
                canary.config,
                now=now,
                trusted_cas=trusted_cas,
                mode=policy.certificate_mode,
                store=store,
                installed_roots=installed_roots,
            )
            current = [f.as_detection() for f in check.findings]
            previous = [_detection_of(d) for d in canary_findings.get(endpoint, ())]
            if check.verdict in (CertVerdict.TRUSTED, CertVerdict.ALLOWED_BY_ADMIN):
                if policy.auto_remediation:
                    found.extend(replace(d, resolved=True) for d in previous)
                canary_findings[endpoint] = ()
            else:
                found.extend(current)
                canary_findings[endpoint] = tuple(_detection_doc(d) for d in current)
    replace(memory, wifi=history, canary_findings=canary_findings).save(state_dir)
    return found


class TrustRefused(Exception):
    """The admin has not allowed people to trust networks or certificates themselves."""


def trust(
    state_dir: Path, policy: NetworkPolicy, *, network: str = "", certificate_sha1: str = ""
) -> Detection:
    """The person trusts a Wi-Fi network (by SSID) or a certificate (by SHA-1): kept on the
    device, and a timeline event for the server, so the choice is on record."""
    if not policy.user_trust:
        raise TrustRefused("the organisation does not allow trusting networks or certificates")
    memory = NetworkMemory.load(state_dir)
    if network:
        memory = replace(
            memory, trusted_networks=tuple(sorted({*memory.trusted_networks, network}))
        )
        what, evidence = "network", (("ssid", network),)
    elif certificate_sha1:
        sha1 = certificate_sha1.replace(" ", "").replace(":", "").lower()
        memory = replace(
            memory, trusted_certificates=tuple(sorted({*memory.trusted_certificates, sha1}))
        )
        what, evidence = "certificate", (("sha1", sha1),)
    else:
        raise ValueError("name a network or a certificate to trust")
    memory.save(state_dir)
    return Detection(
        category=TRUST_CATEGORY,
        title=f"The user trusted a {what}",
        severity=Severity.INFORMATIONAL,
        key=f"trust:{what}:{evidence[0][1]}",
        evidence=evidence,
        timeline_only=True,
    )
