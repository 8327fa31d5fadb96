"""Network protection's certificate vocabulary: detection modes, verdicts, findings, canaries.

Produced by engines.network.certs (TLS chains the agent saw at a canary endpoint, root
certificates a user or a profile installed); consumed by the server (alerts, timeline events,
the device page) and the agent (what it tells the user).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from enum import StrEnum

from openmtd.domain.device import Detection
from openmtd.domain.enums import Severity


class CertVerdict(StrEnum):
    """What a chain or an installed root amounts to."""

    TRUSTED = "trusted"  # the platform trust store vouches for it (and the pins match)
    ALLOWED_BY_ADMIN = "allowed_by_admin"  # trusted only thanks to the admin's trusted CA list
    INTERCEPTED = "intercepted"  # a valid chain to a pinned canary, but not the pinned key
    UNTRUSTED = "untrusted"  # neither vouches for it, or it is expired, misnamed ...
    MALFORMED = "malformed"  # the input is not a usable certificate chain


class CertFindingCode(StrEnum):
    """Stable codes of certificate findings (what a console filters and a key is made of)."""

    SELF_SIGNED = "self_signed"
    UNTRUSTED_ISSUER = "untrusted_issuer"
    NAME_MISMATCH = "name_mismatch"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    POLICY_VIOLATION = "policy_violation"  # any other web PKI rule the chain breaks
    UNEXPECTED_ISSUER = "unexpected_issuer"  # TLS interception of a pinned canary
    MALFORMED = "malformed"
    USER_INSTALLED_ROOT = "user_installed_root"


@dataclass(frozen=True, slots=True)
class CertSummary:
    """One certificate as a person reads it; thumbprints are lower-case hex of the DER (the
    SHA-1 is what the admin's trusted CA list holds), ``spki_sha256`` is the public key's pin."""

    subject: str  # RFC 4514
    issuer: str
    sha1: str
    sha256: str
    spki_sha256: str
    not_before: str  # ISO 8601, UTC
    not_after: str

    def evidence(self, prefix: str = "") -> tuple[tuple[str, str], ...]:
        return (
            (f"{prefix}subject", self.subject),
            (f"{prefix}issuer", self.issuer),
            (f"{prefix}sha1", self.sha1),
            (f"{prefix}sha256", self.sha256),
            (f"{prefix}not_after", self.not_after),
        )


@dataclass(frozen=True, slots=True)
class CertFinding:
    """One reason to doubt a TLS connection or a device's trust store.

    ``notify`` follows the detection mode: True when enabled (the user is told), False in audit
    mode (recorded only). Informational findings are timeline events; the Medium one (TLS
    interception of a pinned canary) is an alert.
    """

    code: CertFindingCode
    title: str
    explanation: str
    severity: Severity
    key: str  # what makes two findings on one device "the same thing"
    evidence: tuple[tuple[str, str], ...] = ()
    notify: bool = True

    @property
    def timeline_only(self) -> bool:
        return self.severity is Severity.INFORMATIONAL

    def as_detection(self) -> Detection:
        """The finding as the server's generic Detection (alert or timeline event)."""
        category = (
            "TlsInterception"
            if self.code is CertFindingCode.UNEXPECTED_ISSUER
            else "RogueCertificate"
        )
        return Detection(
            category=category,
            title=self.title,
            severity=self.severity,
            key=self.key,
            evidence=self.evidence,
            timeline_only=self.timeline_only,
        )


def parse_pin(text: str) -> bytes:
    """An SPKI SHA-256 pin from hex (64 digits, colons or spaces allowed) or base64 (as in
    HPKP and Android's network security config, an optional "sha256/" prefix)."""
    value = text.strip()
    if value.lower().startswith("sha256/"):
        value = value[len("sha256/") :]
    compact = value.replace(":", "").replace(" ", "")
    if len(compact) == 64:
        try:
            return bytes.fromhex(compact)
        except ValueError:
            pass
    try:
        digest = base64.b64decode(value.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        digest = b""
    if len(digest) != 32:
        raise ValueError(
            f"pin {text!r} is not a SHA-256 of a public key (64 hex digits or 44 base64 characters)"
        )
    return digest


@dataclass(frozen=True, slots=True)
class CanaryConfig:
    """An endpoint the agent handshakes with to catch TLS interception.

    ``pins`` name the SPKI SHA-256 of keys the chain must contain (the issuer's or the anchor's;
    the leaf's works too), hex or base64; ``expected_issuer``, when set, must occur in the leaf's
    issuer name (case-insensitive). A canary with neither is not pinned: its chain is judged
    against the trust stores only. Invalid pins raise ValueError here, at configuration time.
    """

    host: str
    port: int = 443
    pins: tuple[str, ...] = ()
    expected_issuer: str = ""
    pin_digests: frozenset[bytes] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.host or len(self.host) > 253:
            raise ValueError(f"canary host {self.host!r} is empty or longer than 253 characters")
        if not 0 < self.port < 65536:
            raise ValueError(f"canary port {self.port} is not between 1 and 65535")
        digests = frozenset(parse_pin(p) for p in self.pins)
        object.__setattr__(self, "pin_digests", digests)

    @property
    def pinned(self) -> bool:
        return bool(self.pin_digests or self.expected_issuer)

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class ChainCheck:
    """The judgement of one TLS chain the agent presented for an endpoint.

    ``certificates`` describe what was presented (leaf first; empty when unparseable),
    ``anchor`` the trust anchor the verified path ends in (None when no path was verified).
    ``findings`` is empty for trusted and admin-allowed chains, and always empty when the
    detection mode is disabled (the verdict is still computed).
    """

    verdict: CertVerdict
    host: str
    port: int
    reason: str  # one sentence
    findings: tuple[CertFinding, ...] = ()
    certificates: tuple[CertSummary, ...] = ()
    anchor: CertSummary | None = None


@dataclass(frozen=True, slots=True)
class RootCheck:
    """The judgement of one root certificate installed by the user or a profile.

    TRUSTED: it is in the platform store; ALLOWED_BY_ADMIN: its SHA-1 is on the trusted CA
    list; UNTRUSTED: neither (a user_installed_root finding); MALFORMED: not a certificate.
    """

    verdict: CertVerdict
    reason: str
    certificate: CertSummary | None = None
    findings: tuple[CertFinding, ...] = ()


@dataclass(frozen=True, slots=True)
class TlsObservation:
    """A "tls" NetworkObservation read: the endpoint and the DER chain, leaf first.

    ``problem`` is non-empty when the observation could not be read (then ``chain`` is empty).
    """

    host: str
    port: int
    chain: tuple[bytes, ...]
    problem: str = ""
