"""Rogue certificates and TLS interception: the chains an agent saw, the roots a user installed.

The agent handshakes with canary endpoints (host:port) and reports the certificate chain it
was presented, leaf first, as DER. This engine judges that chain the way a browser would,
against the platform trust store (the Mozilla roots that ``certifi`` bundles, or a store the
caller passes), plus the admin's trusted CA list (SHA-1 thumbprints, engines.network.thumbprints):
a chain is allowed when any certificate in it, or the anchor it chains to, is on that list.
That is how a company's own TLS inspection proxy is told apart from an attacker's.

Path building, signatures, validity periods, names and the web PKI's extension rules are left
to cryptography's verifier (``cryptography.x509.verification``), a maintained implementation
of RFC 5280 and the CA/Browser Forum profile, rather than written here (engines.integrity's
x509chain walks attestation chains, which are not web PKI). The verifier stops at the first
problem and says it in a sentence; its sentences are mapped to stable finding codes, and the
condition that failed is relaxed (the time moved inside every certificate's validity, the name
replaced by one the leaf carries) and the verifier asked again, so that an expired certificate
from an unknown issuer is reported as both.

A canary can be pinned: the SPKI SHA-256 of keys its chain must contain (its issuer's or its
anchor's), and an optional part of the issuer's name. A valid chain without a pinned key is TLS
interception even when the platform trusts the interceptor's root (a root installed by a
profile, a compromised or coerced CA): a Medium alert, unless the admin's list names a
certificate of that chain. Every other suspicious certificate is an Informational timeline
event, as in the reference product. The detection mode (0 disable, 1 audit, 2 enable) decides
whether findings are produced and whether the user is notified.

Nothing a device sends makes this engine raise: garbage DER, empty or overlong chains,
oversized certificates, an unusable host name are all the verdict ``malformed``.

Observation vocabulary (``NetworkObservation(kind="tls", attributes)``, string values):

    ``host``   the canary's host name or IP address, as the agent connected to it
    ``port``   its port, "443" when absent
    ``chain``  the presented certificates, leaf first: base64 of each DER, comma-separated
"""

from __future__ import annotations

import binascii
import functools
import hashlib
import ipaddress
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import certifi
import idna
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509 import verification

from openmtd.domain.device import NetworkObservation
from openmtd.domain.enums import Severity
from openmtd.domain.network import DetectionMode
from openmtd.domain.network_certs import (
    CanaryConfig,
    CertFinding,
    CertFindingCode,
    CertSummary,
    CertVerdict,
    ChainCheck,
    RootCheck,
    TlsObservation,
)

__all__ = [
    "MAX_CERTIFICATE_BYTES",
    "MAX_CHAIN_LENGTH",
    "MAX_INSTALLED_ROOTS",
    "RULES",
    "RULES_BY_CODE",
    "CertRule",
    "TrustStore",
    "assess_installed_roots",
    "check_tls_chain",
    "check_tls_observation",
    "parse_tls_observation",
    "platform_store",
    "summarize",
]

MAX_CHAIN_LENGTH = 10
MAX_CERTIFICATE_BYTES = 16 * 1024
#: At most this many installed roots are assessed per report (the rest is one malformed check).
MAX_INSTALLED_ROOTS = 256
#: A PEM text larger than this is not read (256 roots of 16 KiB, in base64).
MAX_PEM_CHARS = MAX_INSTALLED_ROOTS * MAX_CERTIFICATE_BYTES * 4 // 3
#: Evidence values are cut to this length.
MAX_EVIDENCE_CHARS = 200

_C = CertFindingCode
_INFO = Severity.INFORMATIONAL


@dataclass(frozen=True, slots=True)
class CertRule:
    """What one finding code is called, how severe it is and why it matters."""

    code: CertFindingCode
    severity: Severity
    title: str
    explanation: str


RULES: tuple[CertRule, ...] = (
    CertRule(
        _C.UNEXPECTED_ISSUER,
        Severity.MEDIUM,
        "TLS interception of a pinned endpoint",
        "The canary endpoint answered with a chain that does not contain its pinned key: "
        "something between the device and the endpoint re-signs TLS traffic (with a root the "
        "device trusts, such as a profile-installed root, an inspection proxy or a misissuing "
        "CA, or with its own, as mitmproxy does) and can read and change it. If this is the "
        "company's own TLS inspection, add its root's SHA-1 "
        "to the trusted CA list.",
    ),
    CertRule(
        _C.SELF_SIGNED,
        _INFO,
        "Self-signed certificate",
        "The endpoint presented a single certificate signed by its own key: no authority vouches "
        "for it, and anyone can make one for any name, as interception tools do.",
    ),
    CertRule(
        _C.UNTRUSTED_ISSUER,
        _INFO,
        "Certificate from an untrusted issuer",
        "The chain does not lead to a root of the platform trust store, and no certificate of it "
        "is on the admin's trusted CA list: an interception proxy, a private CA or a forged chain.",
    ),
    CertRule(
        _C.NAME_MISMATCH,
        _INFO,
        "Certificate issued for another name",
        "The certificate's subjectAltName entries do not cover the host the device connected to: "
        "the connection may have been redirected to another server.",
    ),
    CertRule(
        _C.EXPIRED,
        _INFO,
        "Expired certificate",
        "A certificate of the chain is past its validity period; a trustworthy endpoint renews "
        "its certificates, interception tools and stale captive portals do not always.",
    ),
    CertRule(
        _C.NOT_YET_VALID,
        _INFO,
        "Certificate not yet valid",
        "A certificate of the chain starts its validity in the future: freshly forged, or the "
        "device's clock is wrong.",
    ),
    CertRule(
        _C.POLICY_VIOLATION,
        _INFO,
        "Certificate breaks web PKI rules",
        "The chain breaks a rule browsers enforce (key usage, basic constraints, signature "
        "algorithm, key size ...), which certificates of public CAs do not.",
    ),
    CertRule(
        _C.MALFORMED,
        _INFO,
        "Malformed certificate chain",
        "What the device reported for the endpoint is not a usable certificate chain.",
    ),
    CertRule(
        _C.USER_INSTALLED_ROOT,
        _INFO,
        "User-installed root CA",
        "A root certificate installed by the user or a profile, neither in the platform trust "
        "store nor on the admin's trusted CA list: apps that accept user roots trust every "
        "certificate it signs, so whoever holds its key can intercept their TLS traffic.",
    ),
)
RULES_BY_CODE = {rule.code: rule for rule in RULES}


# --- trust stores --------------------------------------------------------------------------------


def _spki_der(cert: x509.Certificate) -> bytes | None:
    """The certificate's SubjectPublicKeyInfo, None when the key cannot be read."""
    try:
        return cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return None


class TrustStore:
    """Trust anchors for web PKI: the verifier's ``store``, built once, and what identifies its
    roots: ``sha256`` (hex digests of their DER) and the subject with the key (which survives
    a re-encoding)."""

    __slots__ = ("_facts", "_identities", "_index", "certificates", "sha256", "store")

    def __init__(self, certificates: Iterable[x509.Certificate]) -> None:
        self.certificates = tuple(certificates)
        if not self.certificates:
            raise ValueError("a trust store needs at least one certificate")
        self.store = verification.Store(list(self.certificates))
        # the verifier returns the store's own objects as anchors: their facts by identity
        self._index = {id(c): i for i, c in enumerate(self.certificates)}
        self._facts: list[_Presented | None] = [None] * len(self.certificates)
        self.sha256 = frozenset(
            hashlib.sha256(c.public_bytes(serialization.Encoding.DER)).hexdigest()
            for c in self.certificates
        )
        self._identities = frozenset(
            (c.subject.public_bytes(), _spki_der(c)) for c in self.certificates
        )

    @classmethod
    def from_pem(cls, pem: bytes | str) -> TrustStore:
        data = pem.encode() if isinstance(pem, str) else pem
        with warnings.catch_warnings():
            # the Mozilla bundle has a root with a negative serial number
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            return cls(x509.load_pem_x509_certificates(data))

    def __len__(self) -> int:
        return len(self.certificates)

    def _root_facts(self, cert: x509.Certificate) -> _Presented | None:
        """The facts of one of this store's own certificate objects (None for any other)."""
        index = self._index.get(id(cert))
        if index is None or self.certificates[index] is not cert:
            return None
        facts = self._facts[index]
        if facts is None:
            facts = _facts(cert, cert.public_bytes(serialization.Encoding.DER))
            self._facts[index] = facts
        return facts

    def contains(self, cert: x509.Certificate, der: bytes | None = None) -> bool:
        """Whether the certificate is one of this store's roots (same DER, or same subject
        and public key)."""
        der = der if der is not None else cert.public_bytes(serialization.Encoding.DER)
        if hashlib.sha256(der).hexdigest() in self.sha256:
            return True
        return (cert.subject.public_bytes(), _spki_der(cert)) in self._identities


@functools.cache
def platform_store() -> TrustStore:
    """The Mozilla root store that certifi bundles, read once per process."""
    return TrustStore.from_pem(certifi.contents())


# --- certificates --------------------------------------------------------------------------------


class _Malformed(Exception):
    """Internal: the chain cannot be read; the message says exactly why."""


@dataclass(slots=True)
class _Presented:
    """A parsed certificate with what the engine reads of it, computed once (treat it as
    immutable; ``_self_signed`` is filled when first asked)."""

    der: bytes
    cert: x509.Certificate
    summary: CertSummary
    pin: bytes | None  # SHA-256 of the SubjectPublicKeyInfo; None when the key is unreadable
    _self_signed: bool | None = None

    @property
    def self_signed(self) -> bool:
        """Its issuer is its subject and its own key verifies its signature."""
        if self._self_signed is None:
            same = self.summary.subject == self.summary.issuer
            self._self_signed = same and _signed_by_itself(self.cert)
        return self._self_signed


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _facts(cert: x509.Certificate, der: bytes) -> _Presented:
    """Read everything the engine uses now: cryptography parses names lazily, so a hostile
    name raises here (and is a malformed certificate) rather than later in a summary."""
    spki = _spki_der(cert)
    pin = hashlib.sha256(spki).digest() if spki is not None else None
    summary = CertSummary(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        sha1=hashlib.sha1(der).hexdigest(),
        sha256=hashlib.sha256(der).hexdigest(),
        spki_sha256=pin.hex() if pin is not None else "",
        not_before=_iso(cert.not_valid_before_utc),
        not_after=_iso(cert.not_valid_after_utc),
    )
    return _Presented(der, cert, summary, pin)


def _signed_by_itself(cert: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(cert)
    except Exception:  # InvalidSignature, ValueError, TypeError ... all mean "not self-signed"
        return False
    return True


def summarize(cert: x509.Certificate, der: bytes | None = None) -> CertSummary:
    """A certificate as a person reads it, with its thumbprints and its key's pin."""
    der = der if der is not None else cert.public_bytes(serialization.Encoding.DER)
    return _facts(cert, der).summary


# CA certificates of verified paths, by DER, parsed and summarised: a fleet's canary chains
# share a few intermediates and roots, which are then neither parsed nor summarised again.
# Only certificates above the leaf of a path the verifier accepted enter, so hostile input
# cannot fill the memo (it is emptied when full); leaves never enter.
_CA_MEMO: dict[bytes, _Presented] = {}
_CA_MEMO_MAX = 1024


def _remember(facts: _Presented) -> _Presented:
    if facts.der not in _CA_MEMO:
        if len(_CA_MEMO) >= _CA_MEMO_MAX:
            _CA_MEMO.clear()
        _CA_MEMO[facts.der] = facts
    return facts


def _anchor_facts(cert: x509.Certificate) -> _Presented:
    """The facts of a verified path's anchor (from the store, or presented)."""
    der = cert.public_bytes(serialization.Encoding.DER)
    known = _CA_MEMO.get(der)
    return known if known is not None else _remember(_facts(cert, der))


def _load_der(der: object, what: str) -> _Presented:
    if not isinstance(der, bytes | bytearray | memoryview):
        raise _Malformed(f"{what} is not bytes but {type(der).__name__}")
    data = bytes(der)
    known = _CA_MEMO.get(data)
    if known is not None:
        return known
    if len(data) > MAX_CERTIFICATE_BYTES:
        raise _Malformed(
            f"{what} is {len(data)} bytes; at most {MAX_CERTIFICATE_BYTES} are accepted"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            cert = x509.load_der_x509_certificate(data)
        return _facts(cert, data)
    except Exception as e:  # ValueError, InvalidVersion, TypeError ... on hostile DER
        raise _Malformed(f"{what} is not a DER X.509 certificate: {e}") from None


def _load_chain(ders: Sequence[bytes]) -> list[_Presented]:
    if not ders:
        raise _Malformed("the certificate chain is empty")
    if len(ders) > MAX_CHAIN_LENGTH:
        raise _Malformed(
            f"the chain has {len(ders)} certificates; at most {MAX_CHAIN_LENGTH} are accepted"
        )
    return [_load_der(der, f"certificate {i}") for i, der in enumerate(ders)]


# --- verification --------------------------------------------------------------------------------


def _subject(host: str) -> verification.Subject:
    """The name to verify: an IP address, or a DNS name in its ASCII (A-label) form."""
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        pass
    name = host.rstrip(".").lower()
    if not name.isascii():
        try:
            name = idna.encode(name, uts46=True).decode("ascii")
        except (UnicodeError, ValueError) as e:  # idna.IDNAError is a UnicodeError
            raise _Malformed(f"the host {host!r} is not a valid name: {e}") from None
    return x509.DNSName(name)


def _verifier(
    store: verification.Store, subject: verification.Subject, when: datetime
) -> verification.ServerVerifier:
    try:
        return verification.PolicyBuilder().store(store).time(when).build_server_verifier(subject)
    except ValueError as e:  # "invalid domain name"
        raise _Malformed(f"the host is not usable for name checks: {e}") from None


def _verify(
    store: verification.Store,
    subject: verification.Subject,
    when: datetime,
    chain: Sequence[_Presented],
    anchors: frozenset[str] = frozenset(),
) -> list[x509.Certificate] | verification.VerificationError:
    """The verified path (leaf to anchor), or the verifier's refusal. ``anchors``: the SHA-256
    of the store's certificates, which need not be offered as intermediates."""
    verifier = _verifier(store, subject, when)
    # A presented anchor is found in the store; a self-signed certificate outside it is a dead
    # end, on which the verifier would loop to its maximum depth, checking the same signature
    # each time (a millisecond for mitmproxy's leaf and root). Neither is an intermediate.
    intermediates = [
        p.cert for p in chain[1:] if p.summary.sha256 not in anchors and not p.self_signed
    ]
    try:
        return verifier.verify(chain[0].cert, intermediates)
    except verification.VerificationError as e:
        return e
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        raise _Malformed(f"the chain cannot be verified: {e}") from None


def _message(error: verification.VerificationError) -> str:
    """The verifier's sentence without its prefix and the certificate's repr."""
    text = str(error).removeprefix("validation failed: ")
    cut = text.find(" (encountered processing")
    return text[:cut] if cut >= 0 else text


def _code_for(message: str) -> CertFindingCode:
    """A stable code for the verifier's sentence (cryptography's x509-verification crate)."""
    if "not valid at validation time" in message:
        return _C.EXPIRED  # or not yet valid: the dates tell (see _out_of_validity)
    if "subjectAltName" in message:  # "no matching subjectAltName", "has no subjectAltName"
        return _C.NAME_MISMATCH
    if "candidates exhausted" in message or "exceeds max depth" in message:
        # no issuer found, or the ones found did not sign it ("signature does not match"),
        # or a presented self-signed root sent the search in circles
        return _C.UNTRUSTED_ISSUER
    return _C.POLICY_VIOLATION


@dataclass(frozen=True, slots=True)
class _Issue:
    code: CertFindingCode
    detail: str  # one sentence for the verdict's reason
    about: int | None  # index of the presented certificate concerned
    message: str  # the verifier's sentence
    extra: tuple[tuple[str, str], ...] = ()  # more evidence


def _out_of_validity(chain: Sequence[_Presented], now: datetime, message: str) -> list[_Issue]:
    issues = []
    for i, p in enumerate(chain):
        before, after = p.cert.not_valid_before_utc, p.cert.not_valid_after_utc
        subject = p.summary.subject or "no subject"
        if now > after:
            detail = f"certificate {i} ({subject}) expired on {_iso(after)}"
            issues.append(_Issue(_C.EXPIRED, detail, i, message))
        elif now < before:
            detail = f"certificate {i} ({subject}) is valid only from {_iso(before)}"
            issues.append(_Issue(_C.NOT_YET_VALID, detail, i, message))
    return issues


def _common_time(chain: Sequence[_Presented]) -> datetime | None:
    """A moment inside every presented certificate's validity, if there is one."""
    start = max(p.cert.not_valid_before_utc for p in chain)
    end = min(p.cert.not_valid_after_utc for p in chain)
    return start + (end - start) / 2 if start <= end else None


def _san(cert: x509.Certificate) -> list[x509.GeneralName]:
    try:
        return list(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except (x509.ExtensionNotFound, ValueError):
        return []


def _own_name(cert: x509.Certificate) -> verification.Subject | None:
    """A name the leaf itself is valid for (its first DNS or IP subjectAltName)."""
    for name in _san(cert):
        if isinstance(name, x509.DNSName):
            value = name.value
            if value.startswith("*."):
                value = "wildcard" + value[1:]
            try:
                return x509.DNSName(value)
            except ValueError:
                continue
        if isinstance(name, x509.IPAddress) and not isinstance(
            name.value, ipaddress.IPv4Network | ipaddress.IPv6Network
        ):
            return name
    return None


def _names(cert: x509.Certificate) -> str:
    values = [str(n.value) for n in _san(cert) if isinstance(n, x509.DNSName | x509.IPAddress)]
    return ", ".join(values) or "none (no subjectAltName)"


def _diagnose(
    chain: Sequence[_Presented],
    error: verification.VerificationError,
    store: verification.Store,
    subject: verification.Subject,
    now: datetime,
) -> list[_Issue]:
    """Every independent reason the chain is refused, by relaxing what failed and asking the
    verifier again: dates first (the verifier checks them first), then the name."""
    issues: list[_Issue] = []
    when, name = now, subject
    moved = renamed = False  # each relaxation is made once
    while True:
        message = _message(error)
        code = _code_for(message)
        if code is _C.EXPIRED:
            if moved:  # the anchor is out of its validity at the moved time: trust is unknown
                return issues
            dated = _out_of_validity(chain, now, message)
            if not dated:
                detail = "the trust anchor the chain leads to is outside its validity period"
                issues.append(_Issue(_C.EXPIRED, detail, None, message))
                return issues
            issues += dated
            inside = _common_time(chain)
            if inside is None:
                return issues
            when, moved = inside, True
        elif code is _C.NAME_MISMATCH:
            if renamed:  # the leaf is not valid for its own name either: nothing more to learn
                return issues
            names = _names(chain[0].cert)
            detail = f"the certificate is for {names}, not for the host"
            issues.append(_Issue(code, detail, 0, message, (("names", names),)))
            own = _own_name(chain[0].cert)
            if own is None:
                return issues
            name, renamed = own, True
        else:
            issues.append(_final_issue(code, message, chain))
            return issues
        outcome = _verify(store, name, when, chain)
        if not isinstance(outcome, verification.VerificationError):
            return issues
        error = outcome


def _final_issue(code: CertFindingCode, message: str, chain: Sequence[_Presented]) -> _Issue:
    """The issue of a refusal that no relaxation gets past (trust, or another rule)."""
    if code is not _C.UNTRUSTED_ISSUER:
        return _Issue(code, f"the verifier refused it: {message}", 0, message)
    if len(chain) == 1 and chain[0].self_signed:
        return _Issue(_C.SELF_SIGNED, "the only certificate is self-signed", 0, message)
    top = chain[-1].summary
    detail = (
        f"the chain ends in {top.subject or 'no subject'}, issued by "
        f"{top.issuer or 'no issuer'}, which no trusted root vouches for ({message})"
    )
    return _Issue(code, detail, len(chain) - 1, message)


# --- findings --------------------------------------------------------------------------------


def _cut(value: str) -> str:
    return value if len(value) <= MAX_EVIDENCE_CHARS else value[: MAX_EVIDENCE_CHARS - 1] + "…"


def _finding(
    code: CertFindingCode,
    mode: DetectionMode,
    key: str,
    evidence: Iterable[tuple[str, str]],
) -> CertFinding:
    rule = RULES_BY_CODE[code]
    return CertFinding(
        code=code,
        title=rule.title,
        explanation=rule.explanation,
        severity=rule.severity,
        key=key,
        evidence=tuple((k, _cut(v)) for k, v in evidence),
        notify=mode is DetectionMode.ENABLE,
    )


def _result(
    verdict: CertVerdict,
    canary: CanaryConfig,
    reason: str,
    mode: DetectionMode,
    findings: Sequence[CertFinding] = (),
    certificates: tuple[CertSummary, ...] = (),
    anchor: CertSummary | None = None,
) -> ChainCheck:
    return ChainCheck(
        verdict=verdict,
        host=canary.host,
        port=canary.port,
        reason=reason,
        findings=tuple(findings) if mode is not DetectionMode.DISABLE else (),
        certificates=certificates,
        anchor=anchor,
    )


def _malformed(canary: CanaryConfig, reason: str, mode: DetectionMode) -> ChainCheck:
    evidence = (("host", canary.host), ("port", str(canary.port)), ("problem", reason))
    finding = _finding(_C.MALFORMED, mode, f"tls.malformed:{canary.endpoint}", evidence)
    return _result(CertVerdict.MALFORMED, canary, reason, mode, [finding])


def _verified(
    presented: Sequence[_Presented], path: Sequence[x509.Certificate], store: TrustStore | None
) -> tuple[tuple[CertSummary, ...], _Presented]:
    """After a verification: remember the presented CAs of the path; the presented
    certificates' summaries and the anchor's facts."""
    summaries = tuple(p.summary for p in presented)
    if len(path) == 1:
        return summaries, presented[0]
    for p in presented[1:]:
        if p.der not in _CA_MEMO and p.cert in path[1:]:
            _remember(p)
    top = path[-1]
    anchor = next((p for p in presented if p.cert is top), None)
    if anchor is None and store is not None:
        anchor = store._root_facts(top)
    return summaries, anchor if anchor is not None else _anchor_facts(top)


# --- chains ----------------------------------------------------------------------------------


def _pins_match(
    presented: Sequence[_Presented],
    path: Sequence[x509.Certificate],
    anchor: _Presented,
    canary: CanaryConfig,
) -> str | None:
    """None when the verified path satisfies the canary's pins; otherwise what is wrong. The
    path is made of presented certificates and the anchor."""
    if canary.pin_digests:
        digests = {p.pin for p in presented if p.cert in path} | {anchor.pin}
        if canary.pin_digests.isdisjoint(digests):
            return "no key of the chain is one of the canary's pinned keys"
    wanted = canary.expected_issuer.lower()
    if wanted and wanted not in presented[0].summary.issuer.lower():
        return f"the leaf's issuer is not {canary.expected_issuer!r}"
    return None


def _admin_listed(
    presented: Sequence[_Presented], anchor: _Presented, trusted_cas: frozenset[str]
) -> CertSummary | None:
    """The first certificate of the chain, or its anchor, that is on the admin's list."""
    for p in (*presented, anchor):
        if p.summary.sha1 in trusted_cas:
            return p.summary
    return None


def _admin_anchors(
    presented: Sequence[_Presented],
    installed_roots: Sequence[bytes],
    trusted_cas: frozenset[str],
) -> list[x509.Certificate]:
    """The presented certificates and the device's installed roots that the admin trusts."""
    if not trusted_cas:
        return []
    anchors = [p.cert for p in presented if p.summary.sha1 in trusted_cas]
    for der in installed_roots[:MAX_INSTALLED_ROOTS]:
        if isinstance(der, bytes) and hashlib.sha1(der).hexdigest() in trusted_cas:
            try:
                anchors.append(_load_der(der, "an installed root").cert)
            except _Malformed:
                continue
    return anchors


def check_tls_chain(
    chain: Sequence[bytes],
    canary: CanaryConfig,
    *,
    now: datetime,
    trusted_cas: frozenset[str] = frozenset(),
    mode: int = DetectionMode.ENABLE,
    store: TrustStore | None = None,
    installed_roots: Sequence[bytes] = (),
) -> ChainCheck:
    """Judge the chain (DER, leaf first) the agent was presented by ``canary``'s endpoint.

    ``mode``: 0 disable, 1 audit, 2 enable (DetectionMode, or any int enum with those
    values). ``trusted_cas``: the admin's list, as parse_trusted_ca_list returns it. ``store``: the
    platform trust store, the certifi roots by default. ``installed_roots``: the DER roots the
    device reported; those on the admin's list anchor chains that stop below them (a company
    proxy sending only its leaf). ``now`` must be timezone-aware. Never raises on the chain.
    """
    level = DetectionMode(mode)
    try:
        return _check(chain, canary, now, trusted_cas, level, store, installed_roots)
    except _Malformed as e:
        return _malformed(canary, str(e), level)


def _check(
    chain: Sequence[bytes],
    canary: CanaryConfig,
    now: datetime,
    trusted_cas: frozenset[str],
    mode: DetectionMode,
    store: TrustStore | None,
    installed_roots: Sequence[bytes],
) -> ChainCheck:
    presented = _load_chain(chain)
    subject = _subject(canary.host)
    platform = store if store is not None else platform_store()
    outcome = _verify(platform.store, subject, now, presented, platform.sha256)
    if not isinstance(outcome, verification.VerificationError):
        return _platform_verified(presented, outcome, platform, canary, trusted_cas, mode)
    error = outcome
    diagnosis_store = platform.store
    admin = _admin_anchors(presented, installed_roots, trusted_cas)
    if admin:
        admin_outcome = _verify(verification.Store(admin), subject, now, presented)
        if not isinstance(admin_outcome, verification.VerificationError):
            summaries, anchor = _verified(presented, admin_outcome, None)
            reason = (
                f"the chain for {canary.endpoint} leads to {anchor.summary.subject}, which is on "
                "the admin's trusted CA list (the platform store does not vouch for it)"
            )
            return _result(
                CertVerdict.ALLOWED_BY_ADMIN, canary, reason, mode, (), summaries, anchor.summary
            )
        diagnosis_store = verification.Store([*platform.certificates, *admin])
        error = admin_outcome
    summaries = tuple(p.summary for p in presented)
    issues = _diagnose(presented, error, diagnosis_store, subject, now)
    findings = [_issue_finding(issue, summaries, canary, mode) for issue in issues]
    reason = f"the chain for {canary.endpoint} is not trusted: " + "; ".join(
        i.detail for i in issues
    )
    if canary.pinned and summaries:
        # A pinned canary never answers with a chain the device cannot trust: whoever did is
        # between the device and the canary (mitmproxy's own CA, a rogue proxy's).
        key = f"tls.{_C.UNEXPECTED_ISSUER}:{canary.endpoint}:{summaries[-1].sha256}"
        evidence = (("host", canary.endpoint), *summaries[0].evidence("leaf_"))
        findings.insert(0, _finding(_C.UNEXPECTED_ISSUER, mode, key, evidence))
        return _result(CertVerdict.INTERCEPTED, canary, reason, mode, findings, summaries)
    return _result(CertVerdict.UNTRUSTED, canary, reason, mode, findings, summaries)


def _platform_verified(
    presented: Sequence[_Presented],
    path: Sequence[x509.Certificate],
    platform: TrustStore,
    canary: CanaryConfig,
    trusted_cas: frozenset[str],
    mode: DetectionMode,
) -> ChainCheck:
    """The verdict on a chain the platform store vouches for: trusted, unless a pinned canary
    sees no pinned key (interception, or allowed when the admin listed a certificate of it)."""
    summaries, anchor = _verified(presented, path, platform)
    endpoint = canary.endpoint
    wrong = _pins_match(presented, path, anchor, canary) if canary.pinned else None
    if wrong is None:
        pinned = " and carries a pinned key" if canary.pinned else ""
        reason = (
            f"the chain for {endpoint} leads to {anchor.summary.subject}, a trusted root{pinned}"
        )
        return _result(CertVerdict.TRUSTED, canary, reason, mode, (), summaries, anchor.summary)
    listed = _admin_listed(presented, anchor, trusted_cas)
    if listed is not None:
        reason = (
            f"{wrong} for {endpoint}, but {listed.subject} (SHA-1 {listed.sha1}) is on the "
            "admin's trusted CA list"
        )
        return _result(
            CertVerdict.ALLOWED_BY_ADMIN, canary, reason, mode, (), summaries, anchor.summary
        )
    reason = (
        f"TLS to {endpoint} is intercepted: {wrong}; the chain leads to {anchor.summary.subject}"
    )
    leaf = summaries[0]
    evidence = [
        ("host", canary.host),
        ("port", str(canary.port)),
        *anchor.summary.evidence("anchor_"),
        ("anchor_spki_sha256", anchor.summary.spki_sha256),
        ("leaf_subject", leaf.subject),
        ("leaf_issuer", leaf.issuer),
        ("leaf_sha256", leaf.sha256),
        ("reason", wrong),
    ]
    key = f"tls.{_C.UNEXPECTED_ISSUER}:{endpoint}:{anchor.summary.sha256}"
    finding = _finding(_C.UNEXPECTED_ISSUER, mode, key, evidence)
    return _result(
        CertVerdict.INTERCEPTED, canary, reason, mode, [finding], summaries, anchor.summary
    )


def _issue_finding(
    issue: _Issue,
    summaries: Sequence[CertSummary],
    canary: CanaryConfig,
    mode: DetectionMode,
) -> CertFinding:
    about = summaries[issue.about] if issue.about is not None else None
    evidence: list[tuple[str, str]] = [("host", canary.host), ("port", str(canary.port))]
    if about is not None:
        evidence += about.evidence()
    evidence += issue.extra
    evidence.append(("verifier", issue.message))
    target = about.sha256 if about is not None else summaries[-1].sha256
    key = f"tls.{issue.code}:{canary.endpoint}:{target}"
    return _finding(issue.code, mode, key, evidence)


# --- observations ----------------------------------------------------------------------------

#: The base64 text of a chain longer than this is not decoded.
MAX_CHAIN_CHARS = (MAX_CHAIN_LENGTH + 1) * (MAX_CERTIFICATE_BYTES * 4 // 3 + 4)


def parse_tls_observation(observation: NetworkObservation) -> TlsObservation:
    """The endpoint and chain of a "tls" observation; ``problem`` says what could not be read
    (then the chain is empty)."""
    attributes = dict(observation.attributes)
    host = attributes.get("host", "").strip()
    port_text = attributes.get("port", "443").strip() or "443"
    digits = port_text.isascii() and port_text.isdigit() and len(port_text) <= 5
    port = int(port_text) if digits else 0
    if not 0 < port < 65536:
        port, problem = 0, f"the port {port_text[:20]!r} is not between 1 and 65535"
    elif observation.kind != "tls":
        problem = f"the observation is of kind {observation.kind[:20]!r}, not 'tls'"
    elif not host:
        problem = "the observation names no host"
    else:
        problem = ""
    if problem:
        return TlsObservation(host=host, port=port, chain=(), problem=problem)
    chain, problem = _decode_chain(attributes.get("chain", ""))
    return TlsObservation(host=host, port=port, chain=chain, problem=problem)


def _decode_chain(text: str) -> tuple[tuple[bytes, ...], str]:
    """The DER certificates of a comma-separated base64 chain, or why it cannot be read."""
    if len(text) > MAX_CHAIN_CHARS:
        return (), f"the chain is {len(text)} characters; at most {MAX_CHAIN_CHARS} are read"
    if not text.strip():
        return (), ""
    parts = text.split(",")
    if len(parts) > MAX_CHAIN_LENGTH:
        return (), (
            f"the chain has {len(parts)} certificates; at most {MAX_CHAIN_LENGTH} are accepted"
        )
    chain = []
    for i, part in enumerate(parts):
        try:
            chain.append(binascii.a2b_base64(part.strip(), strict_mode=True))
        except (binascii.Error, ValueError):
            return (), f"certificate {i} of the chain is not base64"
    return tuple(chain), ""


def check_tls_observation(
    observation: NetworkObservation,
    canaries: Sequence[CanaryConfig],
    *,
    now: datetime,
    trusted_cas: frozenset[str] = frozenset(),
    mode: int = DetectionMode.ENABLE,
    store: TrustStore | None = None,
    installed_roots: Sequence[bytes] = (),
) -> ChainCheck:
    """check_tls_chain for a "tls" observation, with the canary configured for its endpoint
    (pins and all), or an unpinned one for an endpoint that is not configured."""
    seen = parse_tls_observation(observation)
    canary = next(
        (c for c in canaries if c.host.lower() == seen.host.lower() and c.port == seen.port),
        None,
    )
    if canary is None:
        try:
            canary = CanaryConfig(seen.host or "unknown", seen.port or 443)
        except ValueError as e:
            canary, seen = CanaryConfig("unknown", 443), TlsObservation("", 0, (), str(e))
    if seen.problem:
        return _malformed(canary, seen.problem, DetectionMode(mode))
    return check_tls_chain(
        seen.chain,
        canary,
        now=now,
        trusted_cas=trusted_cas,
        mode=mode,
        store=store,
        installed_roots=installed_roots,
    )


# --- installed roots ---------------------------------------------------------------------------


def _read_roots(roots: Sequence[bytes | str]) -> Iterable[_Presented | str]:
    """Each reported root as a certificate, or why it cannot be read (DER, or PEM text that
    may hold several certificates)."""
    for i, item in enumerate(roots):
        what = f"installed root {i}"
        is_pem = isinstance(item, str) or (
            isinstance(item, bytes) and item.lstrip()[:10] == b"-----BEGIN"
        )
        if not is_pem:
            try:
                yield _load_der(item, what)
            except _Malformed as e:
                yield str(e)
            continue
        text = item.encode("utf-8", "replace") if isinstance(item, str) else item
        if len(text) > MAX_PEM_CHARS:
            yield f"{what} is {len(text)} characters of PEM; at most {MAX_PEM_CHARS} are read"
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", CryptographyDeprecationWarning)
                certs = x509.load_pem_x509_certificates(text)
            read = [(c, c.public_bytes(serialization.Encoding.DER)) for c in certs]
            facts = [_facts(c, der) for c, der in read if len(der) <= MAX_CERTIFICATE_BYTES]
        except Exception as e:  # ValueError, InvalidVersion, TypeError ... on hostile PEM
            yield f"{what} is not PEM certificates: {e}"
            continue
        if len(facts) < len(read):
            yield f"a certificate of {what} is over {MAX_CERTIFICATE_BYTES} bytes"
        yield from facts


def assess_installed_roots(
    roots: Sequence[bytes | str],
    *,
    trusted_cas: frozenset[str] = frozenset(),
    mode: int = DetectionMode.ENABLE,
    store: TrustStore | None = None,
) -> tuple[RootCheck, ...]:
    """Judge the root certificates a user or a profile installed (DER bytes or PEM text), one
    RootCheck per certificate, at most MAX_INSTALLED_ROOTS (then one malformed check saying
    how many were left out). Never raises on the roots."""
    level = DetectionMode(mode)
    platform = store if store is not None else platform_store()
    checks: list[RootCheck] = []
    for item in _read_roots(roots):
        if len(checks) == MAX_INSTALLED_ROOTS:
            left = f"more than {MAX_INSTALLED_ROOTS} installed roots; the rest was not assessed"
            checks.append(_root_malformed(left, level))
            break
        if isinstance(item, str):
            checks.append(_root_malformed(item, level))
            continue
        checks.append(_assess_root(item, trusted_cas, level, platform))
    return tuple(checks)


def _root_malformed(reason: str, mode: DetectionMode) -> RootCheck:
    digest = hashlib.sha256(reason.encode()).hexdigest()[:16]
    finding = _finding(_C.MALFORMED, mode, f"root.malformed:{digest}", [("problem", reason)])
    findings = (finding,) if mode is not DetectionMode.DISABLE else ()
    return RootCheck(CertVerdict.MALFORMED, reason, None, findings)


def _assess_root(
    root: _Presented, trusted_cas: frozenset[str], mode: DetectionMode, platform: TrustStore
) -> RootCheck:
    summary = root.summary
    if summary.sha1 in trusted_cas:
        reason = f"{summary.subject} is on the admin's trusted CA list"
        return RootCheck(CertVerdict.ALLOWED_BY_ADMIN, reason, summary)
    if platform.contains(root.cert, root.der):
        reason = f"{summary.subject} is a root of the platform trust store"
        return RootCheck(CertVerdict.TRUSTED, reason, summary)
    reason = (
        f"{summary.subject} (SHA-1 {summary.sha1}) was installed on the device and is neither "
        "in the platform trust store nor on the admin's trusted CA list"
    )
    evidence = (*summary.evidence(), ("spki_sha256", summary.spki_sha256))
    finding = _finding(
        _C.USER_INSTALLED_ROOT, mode, f"root.user_installed:{summary.sha256}", evidence
    )
    findings = (finding,) if mode is not DetectionMode.DISABLE else ()
    return RootCheck(CertVerdict.UNTRUSTED, reason, summary, findings)
