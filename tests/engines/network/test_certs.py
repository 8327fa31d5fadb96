"""The certificate checks of network protection: chains a device was presented by a canary
endpoint, judged against a test CA (or the certifi roots) and the admin's trusted CA list, and
the root certificates a user installed. Every certificate is generated here with cryptography:
a root, an intermediate and a leaf for canary.test, an interceptor root that re-signs the leaf
as mitmproxy does, a self-signed leaf, expired and not-yet-valid leaves."""

from __future__ import annotations

import base64
import hashlib
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from openmtd.domain.device import NetworkObservation
from openmtd.domain.enums import Severity
from openmtd.domain.network import DetectionMode
from openmtd.domain.network_certs import (
    CanaryConfig,
    CertFindingCode,
    CertVerdict,
    ChainCheck,
    parse_pin,
)
from openmtd.engines.network import certs
from openmtd.engines.network.certs import (
    MAX_CERTIFICATE_BYTES,
    MAX_CHAIN_LENGTH,
    MAX_INSTALLED_ROOTS,
    RULES,
    RULES_BY_CODE,
    TrustStore,
    assess_installed_roots,
    check_tls_chain,
    check_tls_observation,
    parse_tls_observation,
    platform_store,
)
from openmtd.engines.network.thumbprints import parse_trusted_ca_list, sha1_thumbprint

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
HOST = "canary.test"
C = CertFindingCode
V = CertVerdict
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


# --- a test PKI ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Issued:
    cert: x509.Certificate
    key: PrivateKey

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def sha1(self) -> str:
        return hashlib.sha1(self.der).hexdigest()

    @property
    def spki_sha256(self) -> bytes:
        spki = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return hashlib.sha256(spki).digest()


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "OpenMTD Test"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def issue(
    subject: str,
    issuer: Issued | None = None,
    *,
    ca: bool = False,
    names: Sequence[str] = (HOST,),
    key: PrivateKey | None = None,
    not_before: datetime = NOW - timedelta(days=30),
    not_after: datetime = NOW + timedelta(days=60),
    signing_key: PrivateKey | None = None,
    eku: x509.ObjectIdentifier = ExtendedKeyUsageOID.SERVER_AUTH,
) -> Issued:
    """A certificate as a public CA would make it (issuer None: self-signed)."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    issuer_name = issuer.cert.subject if issuer else _name(subject)
    issuer_key = issuer.key if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), False
        )
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )
    if not ca:
        builder = builder.add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
        if names:
            general: list[x509.GeneralName] = []
            for value in names:
                try:
                    general.append(x509.IPAddress(ipaddress.ip_address(value)))
                except ValueError:
                    general.append(x509.DNSName(value))
            builder = builder.add_extension(x509.SubjectAlternativeName(general), False)
    cert = builder.sign(signing_key or issuer_key, hashes.SHA256())
    return Issued(cert, key)


@dataclass(frozen=True)
class Pki:
    root: Issued
    intermediate: Issued
    leaf: Issued
    interceptor: Issued  # a mitmproxy-like root
    intercepted_leaf: Issued  # the leaf, re-signed by the interceptor (same names and key)
    self_signed: Issued
    expired: Issued
    not_yet_valid: Issued

    @property
    def chain(self) -> list[bytes]:
        return [self.leaf.der, self.intermediate.der]

    @property
    def intercepted(self) -> list[bytes]:
        return [self.intercepted_leaf.der, self.interceptor.der]

    @property
    def store(self) -> TrustStore:
        return TrustStore([self.root.cert])

    @property
    def store_with_interceptor(self) -> TrustStore:
        """A device whose platform store trusts the interceptor (a profile installed it)."""
        return TrustStore([self.root.cert, self.interceptor.cert])


@cache
def pki() -> Pki:
    root = issue("OpenMTD Test Root", ca=True)
    intermediate = issue("OpenMTD Test Issuing CA", root, ca=True)
    leaf = issue(HOST, intermediate)
    interceptor = issue("mitmproxy", ca=True)
    return Pki(
        root=root,
        intermediate=intermediate,
        leaf=leaf,
        interceptor=interceptor,
        intercepted_leaf=issue(HOST, interceptor, key=leaf.key),
        self_signed=issue(HOST),
        expired=issue(
            HOST, intermediate, not_before=NOW - timedelta(days=90), not_after=NOW - timedelta(1)
        ),
        not_yet_valid=issue(HOST, intermediate, not_before=NOW + timedelta(days=1)),
    )


def check(
    chain: Sequence[bytes],
    canary: CanaryConfig | None = None,
    *,
    store: TrustStore | None = None,
    trusted: Sequence[str] = (),
    mode: int = DetectionMode.ENABLE,
    installed_roots: Sequence[bytes] = (),
    now: datetime = NOW,
) -> ChainCheck:
    return check_tls_chain(
        chain,
        canary or CanaryConfig(HOST),
        now=now,
        trusted_cas=frozenset(trusted),
        mode=mode,
        store=store if store is not None else pki().store,
        installed_roots=installed_roots,
    )


def codes(result: ChainCheck) -> list[CertFindingCode]:
    return [f.code for f in result.findings]


def pinned(*issued: Issued, expected_issuer: str = "") -> CanaryConfig:
    return CanaryConfig(
        HOST, 443, tuple(i.spki_sha256.hex() for i in issued), expected_issuer=expected_issuer
    )


# --- the platform store ----------------------------------------------------------------------


def test_certifi_store_loads_once_with_the_mozilla_roots() -> None:
    store = platform_store()
    assert len(store) > 100
    assert platform_store() is store
    assert all(c.subject == c.issuer for c in store.certificates[:20])


def test_a_private_chain_is_not_trusted_by_the_platform_store() -> None:
    result = check(pki().chain, store=platform_store())
    assert result.verdict is V.UNTRUSTED
    assert codes(result) == [C.UNTRUSTED_ISSUER]


def test_a_trust_store_needs_a_certificate() -> None:
    with pytest.raises(ValueError, match="at least one"):
        TrustStore([])


# --- trusted chains --------------------------------------------------------------------------


@pytest.mark.parametrize("with_root", [False, True])
def test_a_chain_to_the_store_is_trusted(with_root: bool) -> None:
    p = pki()
    chain = p.chain + ([p.root.der] if with_root else [])
    result = check(chain)
    assert result.verdict is V.TRUSTED
    assert result.findings == ()
    assert result.anchor is not None and result.anchor.sha1 == p.root.sha1
    assert [s.sha1 for s in result.certificates] == [hashlib.sha1(d).hexdigest() for d in chain]
    leaf = result.certificates[0]
    assert leaf.subject == "CN=canary.test,O=OpenMTD Test"
    assert leaf.issuer == "CN=OpenMTD Test Issuing CA,O=OpenMTD Test"
    assert leaf.spki_sha256 == p.leaf.spki_sha256.hex()
    assert leaf.not_after == (NOW + timedelta(days=60)).isoformat()
    assert "a trusted root" in result.reason
    assert (result.host, result.port) == (HOST, 443)


def test_rsa_chains_and_ip_address_endpoints_are_verified() -> None:
    root = issue("RSA Root", ca=True, key=rsa.generate_private_key(65537, 2048))
    leaf = issue("192.0.2.10", root, names=("192.0.2.10",))
    result = check([leaf.der], CanaryConfig("192.0.2.10", 8443), store=TrustStore([root.cert]))
    assert result.verdict is V.TRUSTED, result.reason
    wrong = check([leaf.der], CanaryConfig("192.0.2.11"), store=TrustStore([root.cert]))
    assert codes(wrong) == [C.NAME_MISMATCH]


def test_the_host_is_matched_case_insensitively_and_idn_hosts_are_encoded() -> None:
    p = pki()
    assert check(p.chain, CanaryConfig("CANARY.test.")).verdict is V.TRUSTED
    idn = issue("bücher.test", p.intermediate, names=("xn--bcher-kva.test",))
    result = check([idn.der, p.intermediate.der], CanaryConfig("bücher.test"))
    assert result.verdict is V.TRUSTED, result.reason


def test_an_unpinned_canary_trusts_an_interceptor_the_platform_trusts() -> None:
    """Without pins nothing tells an interceptor's root from a CA's; pins do (below)."""
    p = pki()
    result = check(p.intercepted, store=p.store_with_interceptor)
    assert result.verdict is V.TRUSTED


# --- pinned canaries -------------------------------------------------------------------------


@pytest.mark.parametrize("pin_on", ["root", "intermediate", "leaf"])
def test_a_pinned_canary_is_trusted_when_a_key_of_its_chain_is_pinned(pin_on: str) -> None:
    p = pki()
    result = check(p.chain, pinned(getattr(p, pin_on)))
    assert result.verdict is V.TRUSTED
    assert "pinned key" in result.reason


def test_pins_are_read_as_hex_or_base64() -> None:
    digest = pki().intermediate.spki_sha256
    spellings = [
        digest.hex(),
        digest.hex().upper(),
        ":".join(f"{b:02X}" for b in digest),
        base64.b64encode(digest).decode(),
        "sha256/" + base64.b64encode(digest).decode(),
        base64.urlsafe_b64encode(digest).decode(),
    ]
    for text in spellings:
        assert parse_pin(text) == digest, text
        assert check(pki().chain, CanaryConfig(HOST, 443, (text,))).verdict is V.TRUSTED
    for bad in ["", "abc", digest.hex()[:-2], base64.b64encode(digest[:20]).decode(), "zz" * 32]:
        with pytest.raises(ValueError, match="not a SHA-256"):
            CanaryConfig(HOST, 443, (bad,))


def test_the_canary_configuration_is_validated() -> None:
    with pytest.raises(ValueError, match="port"):
        CanaryConfig(HOST, 0)
    with pytest.raises(ValueError, match="host"):
        CanaryConfig("")
    assert not CanaryConfig(HOST).pinned
    assert CanaryConfig(HOST, expected_issuer="Issuing").pinned
    assert CanaryConfig(HOST, 8443).endpoint == "canary.test:8443"


def test_interception_by_a_root_the_platform_trusts_is_a_medium_alert() -> None:
    p = pki()
    result = check(p.intercepted, pinned(p.root), store=p.store_with_interceptor)
    assert result.verdict is V.INTERCEPTED
    assert result.anchor is not None and result.anchor.sha1 == p.interceptor.sha1
    [finding] = result.findings
    assert finding.code is C.UNEXPECTED_ISSUER
    assert finding.severity is Severity.MEDIUM
    assert not finding.timeline_only and finding.notify
    evidence = dict(finding.evidence)
    assert evidence["anchor_sha1"] == p.interceptor.sha1
    assert evidence["anchor_subject"] == "CN=mitmproxy,O=OpenMTD Test"
    assert evidence["anchor_spki_sha256"] == p.interceptor.spki_sha256.hex()
    assert evidence["leaf_issuer"] == "CN=mitmproxy,O=OpenMTD Test"
    assert evidence["host"] == HOST and evidence["port"] == "443"
    assert evidence["anchor_not_after"] == p.interceptor.cert.not_valid_after_utc.isoformat()
    assert finding.key == f"tls.unexpected_issuer:canary.test:443:{result.anchor.sha256}"
    detection = finding.as_detection()
    assert detection.category == "TlsInterception"
    assert detection.severity is Severity.MEDIUM and not detection.timeline_only
    assert "intercepted" in result.reason


def test_interception_with_the_interceptor_root_left_out_of_the_chain() -> None:
    p = pki()
    result = check([p.intercepted_leaf.der], pinned(p.root), store=p.store_with_interceptor)
    assert result.verdict is V.INTERCEPTED


def test_an_unexpected_issuer_name_is_interception() -> None:
    p = pki()
    assert check(p.chain, pinned(expected_issuer="issuing ca")).verdict is V.TRUSTED
    result = check(
        p.intercepted, pinned(expected_issuer="Issuing CA"), store=p.store_with_interceptor
    )
    assert result.verdict is V.INTERCEPTED
    assert "issuer is not 'Issuing CA'" in result.reason
    both = pinned(p.root, expected_issuer="Issuing CA")
    assert check(p.chain, both).verdict is V.TRUSTED
    assert check(p.chain, pinned(p.root, expected_issuer="Other CA")).verdict is V.INTERCEPTED


@pytest.mark.parametrize("listed", ["interceptor", "intercepted_leaf"])
def test_interception_by_a_root_on_the_trusted_list_is_allowed(listed: str) -> None:
    """A company's TLS inspection proxy: the admin lists its root, the canary is not flagged."""
    p = pki()
    sha1 = getattr(p, listed).sha1
    result = check(p.intercepted, pinned(p.root), store=p.store_with_interceptor, trusted=[sha1])
    assert result.verdict is V.ALLOWED_BY_ADMIN
    assert result.findings == ()
    assert sha1 in result.reason
    # the anchor counts even when the chain does not carry it
    result = check(
        [p.intercepted_leaf.der],
        pinned(p.root),
        store=p.store_with_interceptor,
        trusted=[p.interceptor.sha1],
    )
    assert result.verdict is V.ALLOWED_BY_ADMIN


def test_an_untrusted_chain_to_a_pinned_canary_is_interception() -> None:
    # What mitmproxy does with its own CA: the device does not trust the chain, and the pinned
    # canary never sends such a chain, so someone is in between (a Medium alert).
    p = pki()
    result = check(p.intercepted, pinned(p.root))
    assert result.verdict is V.INTERCEPTED
    assert codes(result) == [C.UNEXPECTED_ISSUER, C.UNTRUSTED_ISSUER]
    assert result.findings[0].severity is Severity.MEDIUM
    assert not result.findings[0].timeline_only


def test_an_untrusted_chain_to_an_unpinned_endpoint_is_only_untrusted() -> None:
    p = pki()
    result = check(p.intercepted)
    assert result.verdict is V.UNTRUSTED
    assert codes(result) == [C.UNTRUSTED_ISSUER]


# --- the admin's trusted CA list ----------------------------------------------------------


@pytest.mark.parametrize("listed", ["root", "intermediate", "leaf"])
def test_a_chain_with_a_listed_certificate_is_allowed_by_admin(listed: str) -> None:
    p = pki()
    chain = [*p.chain, p.root.der]
    spaced = " ".join(f"{b:02X}" for b in bytes.fromhex(getattr(p, listed).sha1))
    text = f"{'ab' * 20} , {spaced}"
    result = check(chain, store=platform_store(), trusted=parse_trusted_ca_list(text))
    assert result.verdict is V.ALLOWED_BY_ADMIN, result.reason
    assert result.findings == ()
    assert "trusted CA list" in result.reason


def test_a_listed_root_installed_on_the_device_anchors_a_chain_that_stops_below_it() -> None:
    p = pki()
    trusted = [p.root.sha1]
    alone = check(p.chain, store=platform_store(), trusted=trusted)
    assert alone.verdict is V.UNTRUSTED
    helped = check(
        p.chain,
        store=platform_store(),
        trusted=trusted,
        installed_roots=[b"junk", p.interceptor.der, p.root.der],
    )
    assert helped.verdict is V.ALLOWED_BY_ADMIN
    assert helped.anchor is not None and helped.anchor.sha1 == p.root.sha1
    # an installed root that the admin did not list anchors nothing
    unlisted = check(p.chain, store=platform_store(), installed_roots=[p.root.der])
    assert unlisted.verdict is V.UNTRUSTED


def test_a_listed_self_signed_leaf_is_allowed() -> None:
    p = pki()
    result = check([p.self_signed.der], trusted=[p.self_signed.sha1])
    assert result.verdict is V.ALLOWED_BY_ADMIN


def test_the_trusted_list_does_not_excuse_an_expired_or_misnamed_chain() -> None:
    p = pki()
    expired = check(
        [p.expired.der, p.intermediate.der],
        store=platform_store(),
        trusted=[p.root.sha1, p.intermediate.sha1],
    )
    assert expired.verdict is V.UNTRUSTED
    assert codes(expired) == [C.EXPIRED]
    misnamed = check(p.chain, CanaryConfig("other.test"), trusted=[p.intermediate.sha1])
    assert misnamed.verdict is V.UNTRUSTED
    assert codes(misnamed) == [C.NAME_MISMATCH]


# --- untrusted chains -----------------------------------------------------------------------


def test_a_self_signed_leaf() -> None:
    p = pki()
    result = check([p.self_signed.der])
    assert result.verdict is V.UNTRUSTED
    [finding] = result.findings
    assert finding.code is C.SELF_SIGNED
    assert finding.severity is Severity.INFORMATIONAL and finding.timeline_only
    evidence = dict(finding.evidence)
    assert evidence["sha1"] == p.self_signed.sha1
    assert evidence["subject"] == evidence["issuer"] == "CN=canary.test,O=OpenMTD Test"
    assert finding.as_detection().category == "RogueCertificate"
    assert finding.as_detection().timeline_only


def test_a_chain_from_an_unknown_issuer() -> None:
    p = pki()
    result = check(p.intercepted)
    assert result.verdict is V.UNTRUSTED
    [finding] = result.findings
    assert finding.code is C.UNTRUSTED_ISSUER
    evidence = dict(finding.evidence)
    assert evidence["sha1"] == p.interceptor.sha1  # what the admin would add to the list
    assert "verifier" in evidence
    assert "CN=mitmproxy" in result.reason


def test_self_signed_certificates_are_not_offered_as_intermediates() -> None:
    """The verifier would loop on a presented self-signed root to its maximum depth; a
    self-issued certificate of a key rollover (same name, another key) still chains."""
    p = pki()
    result = check(p.intercepted)
    assert "max depth" not in dict(result.findings[0].evidence)["verifier"]
    new_key = ec.generate_private_key(ec.SECP256R1())
    new_with_old = issue("OpenMTD Test Root", p.root, ca=True, key=new_key)
    leaf = issue(HOST, Issued(new_with_old.cert, new_key))
    assert check([leaf.der, new_with_old.der]).verdict is V.TRUSTED


def test_a_forged_signature_is_an_untrusted_issuer() -> None:
    p = pki()
    forged = issue(HOST, p.intermediate, signing_key=p.interceptor.key)
    result = check([forged.der, p.intermediate.der])
    assert codes(result) == [C.UNTRUSTED_ISSUER]
    assert "signature" in dict(result.findings[0].evidence)["verifier"]


def test_expired_and_not_yet_valid_leaves() -> None:
    p = pki()
    expired = check([p.expired.der, p.intermediate.der])
    assert expired.verdict is V.UNTRUSTED
    [finding] = expired.findings
    assert finding.code is C.EXPIRED
    assert dict(finding.evidence)["not_after"] == (NOW - timedelta(days=1)).isoformat()
    assert "expired on" in expired.reason
    future = check([p.not_yet_valid.der, p.intermediate.der])
    assert codes(future) == [C.NOT_YET_VALID]


def test_an_expired_intermediate_and_an_expired_anchor() -> None:
    p = pki()
    old = issue(
        "OpenMTD Test Issuing CA",
        p.root,
        ca=True,
        key=p.intermediate.key,
        not_before=NOW - timedelta(days=90),
        not_after=NOW - timedelta(days=1),
    )
    result = check([p.leaf.der, old.der])
    assert codes(result) == [C.EXPIRED]
    assert dict(result.findings[0].evidence)["sha1"] == old.sha1
    # the store's root itself expired: the chain as presented is in date, its anchor is not
    old_root = issue(
        "Old Root", ca=True, not_before=NOW - timedelta(days=90), not_after=NOW - timedelta(1)
    )
    issuing = issue("Issuing under Old Root", old_root, ca=True)
    leaf = issue(HOST, issuing)
    result = check([leaf.der, issuing.der], store=TrustStore([old_root.cert]))
    assert codes(result) == [C.EXPIRED]
    assert "trust anchor" in result.reason
    assert "sha1" not in dict(result.findings[0].evidence)


def test_every_independent_problem_is_named() -> None:
    """The verifier stops at the first problem; the engine asks again without it."""
    p = pki()
    expired_intercepted = issue(
        HOST, p.interceptor, not_before=NOW - timedelta(days=90), not_after=NOW - timedelta(1)
    )
    result = check([expired_intercepted.der, p.interceptor.der])
    assert codes(result) == [C.EXPIRED, C.UNTRUSTED_ISSUER]
    misnamed_untrusted = check(p.intercepted, CanaryConfig("other.test"))
    assert codes(misnamed_untrusted) == [C.NAME_MISMATCH, C.UNTRUSTED_ISSUER]
    all_three = check([expired_intercepted.der, p.interceptor.der], CanaryConfig("other.test"))
    assert codes(all_three) == [C.EXPIRED, C.NAME_MISMATCH, C.UNTRUSTED_ISSUER]
    self_signed_elsewhere = check([p.self_signed.der], CanaryConfig("other.test"))
    assert codes(self_signed_elsewhere) == [C.NAME_MISMATCH, C.SELF_SIGNED]


def test_name_mismatches() -> None:
    p = pki()
    result = check(p.chain, CanaryConfig("other.test"))
    assert result.verdict is V.UNTRUSTED
    [finding] = result.findings
    assert finding.code is C.NAME_MISMATCH
    evidence = dict(finding.evidence)
    assert evidence["names"] == "canary.test"
    assert evidence["host"] == "other.test"
    wildcard = issue("wildcard", p.intermediate, names=("*.canary.test",))
    assert check([wildcard.der, p.intermediate.der], CanaryConfig("a.canary.test")).verdict is (
        V.TRUSTED
    )
    assert codes(check([wildcard.der, p.intermediate.der], CanaryConfig("a.b.canary.test"))) == [
        C.NAME_MISMATCH
    ]
    no_names = issue(HOST, p.intermediate, names=())
    result = check([no_names.der, p.intermediate.der])
    assert codes(result) == [C.NAME_MISMATCH]
    assert dict(result.findings[0].evidence)["names"] == "none (no subjectAltName)"


def test_other_web_pki_rules_are_policy_violations() -> None:
    p = pki()
    client = issue(HOST, p.intermediate, eku=ExtendedKeyUsageOID.CLIENT_AUTH)
    result = check([client.der, p.intermediate.der])
    assert result.verdict is V.UNTRUSTED
    assert codes(result) == [C.POLICY_VIOLATION]
    assert "EKU" in result.reason


# --- malformed input -----------------------------------------------------------------------


def test_malformed_chains_are_a_verdict() -> None:
    p = pki()
    big = p.leaf.der + b"\0" * MAX_CERTIFICATE_BYTES
    cases: list[tuple[Sequence[object], str]] = [
        ([], "empty"),
        ([b"not a certificate"], "certificate 0 is not a DER X.509 certificate"),
        ([p.leaf.der, b"\x30\x03\x02\x01\x01"], "certificate 1 is not a DER"),
        ([p.leaf.der] * (MAX_CHAIN_LENGTH + 1), "at most 10"),
        ([big], f"at most {MAX_CERTIFICATE_BYTES}"),
        (["text"], "not bytes but str"),
    ]
    for chain, why in cases:
        result = check(chain)  # type: ignore[arg-type]
        assert result.verdict is V.MALFORMED, why
        assert why in result.reason
        [finding] = result.findings
        assert finding.code is C.MALFORMED and finding.severity is Severity.INFORMATIONAL
        assert result.reason.startswith(dict(finding.evidence)["problem"].rstrip("…"))
        assert finding.key == "tls.malformed:canary.test:443"


def test_a_host_that_is_no_name_is_malformed() -> None:
    for host in ["bad host", "a..b", "-", "xn--", "x" * 64 + ".test"]:
        result = check(pki().chain, CanaryConfig(host))
        assert result.verdict is V.MALFORMED, host


def test_the_chain_limit_counts_certificates_not_bytes() -> None:
    p = pki()
    chain = [p.leaf.der, *[p.intermediate.der] * (MAX_CHAIN_LENGTH - 1)]
    assert check(chain).verdict is V.TRUSTED


def _mutations(der: bytes) -> st.SearchStrategy[bytes]:
    return st.lists(
        st.tuples(st.integers(0, len(der) - 1), st.integers(0, 255)), min_size=1, max_size=4
    ).map(lambda edits: _apply(der, edits))


def _apply(der: bytes, edits: list[tuple[int, int]]) -> bytes:
    data = bytearray(der)
    for at, value in edits:
        data[at] = value
    return bytes(data)


@settings(max_examples=150, deadline=None)
@given(
    leaf=st.one_of(st.binary(max_size=600), st.builds(lambda: pki().leaf.der).flatmap(_mutations)),
    rest=st.lists(
        st.one_of(
            st.binary(max_size=200),
            st.sampled_from(["intermediate", "root", "interceptor"]).map(
                lambda n: getattr(pki(), n).der
            ),
            st.builds(lambda: pki().intermediate.der).flatmap(_mutations),
        ),
        max_size=3,
    ),
    canary=st.sampled_from([CanaryConfig(HOST), CanaryConfig(HOST, expected_issuer="Issuing")]),
)
def test_hostile_chains_never_raise(leaf: bytes, rest: list[bytes], canary: CanaryConfig) -> None:
    result = check([leaf, *rest], canary, trusted=[pki().intermediate.sha1])
    assert isinstance(result.verdict, CertVerdict)
    assert result.reason
    if result.verdict in (V.UNTRUSTED, V.MALFORMED):
        assert result.findings


# --- detection mode -----------------------------------------------------------------------


def test_the_detection_mode_decides_findings_and_notification() -> None:
    p = pki()
    canary, store = pinned(p.root), p.store_with_interceptor
    enabled = check(p.intercepted, canary, store=store, mode=DetectionMode.ENABLE)
    audit = check(p.intercepted, canary, store=store, mode=DetectionMode.AUDIT)
    disabled = check(p.intercepted, canary, store=store, mode=DetectionMode.DISABLE)
    assert [f.notify for f in enabled.findings] == [True]
    assert [f.notify for f in audit.findings] == [False]
    assert audit.findings[0].severity is Severity.MEDIUM
    assert disabled.findings == ()
    assert enabled.verdict is audit.verdict is disabled.verdict is V.INTERCEPTED
    assert check([b"junk"], mode=0).findings == ()
    assert check([b"junk"], mode=1).findings[0].notify is False
    with pytest.raises(ValueError):
        check(p.chain, mode=3)


# --- observations -----------------------------------------------------------------------------


def observation(ders: Sequence[bytes], **attributes: str) -> NetworkObservation:
    values = {"host": HOST, "port": "443", **attributes}
    if "chain" not in attributes:
        values["chain"] = ",".join(base64.b64encode(d).decode() for d in ders)
    return NetworkObservation("tls", tuple(values.items()))


def test_a_tls_observation_is_read() -> None:
    p = pki()
    seen = parse_tls_observation(observation(p.chain))
    assert (seen.host, seen.port, list(seen.chain), seen.problem) == (HOST, 443, p.chain, "")
    default_port = parse_tls_observation(NetworkObservation("tls", (("host", HOST),)))
    assert default_port.port == 443 and default_port.chain == ()
    problems = {
        "kind": NetworkObservation("wifi", (("host", HOST),)),
        "no host": NetworkObservation("tls", (("port", "443"),)),
        "port": observation(p.chain, port="70000"),
        "port x": observation(p.chain, port="x"),
        "port digits": observation(p.chain, port="²"),
        "port long": observation(p.chain, port="0" * 5000 + "443"),
        "base64": observation(p.chain, chain="!!!,AAAA"),
        "count": observation([p.leaf.der] * (MAX_CHAIN_LENGTH + 1)),
        "size": observation(p.chain, chain="A" * 300_000),
    }
    for what, obs in problems.items():
        assert parse_tls_observation(obs).problem, what


def test_a_tls_observation_is_checked_with_its_canary_configuration() -> None:
    p = pki()
    canaries = [pinned(p.root), CanaryConfig("other.test", 443)]
    store = p.store_with_interceptor
    intercepted = check_tls_observation(observation(p.intercepted), canaries, now=NOW, store=store)
    assert intercepted.verdict is V.INTERCEPTED
    # the same chain for an endpoint with no canary configuration: judged unpinned
    unknown = check_tls_observation(
        observation(p.intercepted, port="8443"), canaries, now=NOW, store=store
    )
    assert unknown.verdict is V.TRUSTED and unknown.port == 8443
    bad = check_tls_observation(observation(p.chain, chain="%%%"), canaries, now=NOW, store=store)
    assert bad.verdict is V.MALFORMED and "base64" in bad.reason
    no_host = check_tls_observation(
        NetworkObservation("tls", (("chain", ""),)), canaries, now=NOW, store=store
    )
    assert no_host.verdict is V.MALFORMED
    long_host = check_tls_observation(
        observation(p.chain, host="x" * 300), canaries, now=NOW, store=store
    )
    assert long_host.verdict is V.MALFORMED


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["host", "port", "chain", "other"]),
            st.one_of(st.text(max_size=80), st.sampled_from([HOST, "443", "MIIB,AAAA"])),
        ),
        max_size=6,
    )
)
def test_hostile_observations_never_raise(attributes: list[tuple[str, str]]) -> None:
    result = check_tls_observation(
        NetworkObservation("tls", tuple(attributes)),
        [CanaryConfig(HOST)],
        now=NOW,
        store=pki().store,
    )
    assert result.verdict in (V.MALFORMED, V.UNTRUSTED)


# --- installed roots -------------------------------------------------------------------------


def test_installed_roots_are_judged() -> None:
    p = pki()
    mozilla = platform_store().certificates[0].public_bytes(serialization.Encoding.PEM)
    checks = assess_installed_roots(
        [p.interceptor.der, p.root.pem, mozilla, b"garbage", "not pem"],
        trusted_cas=frozenset({p.root.sha1}),
    )
    verdicts = [c.verdict for c in checks]
    assert verdicts == [V.UNTRUSTED, V.ALLOWED_BY_ADMIN, V.TRUSTED, V.MALFORMED, V.MALFORMED]
    [finding] = checks[0].findings
    assert finding.code is C.USER_INSTALLED_ROOT
    assert finding.severity is Severity.INFORMATIONAL and finding.timeline_only
    assert "intercept" in finding.explanation
    evidence = dict(finding.evidence)
    assert evidence["sha1"] == p.interceptor.sha1
    assert evidence["subject"] == "CN=mitmproxy,O=OpenMTD Test"
    assert checks[0].certificate is not None
    assert checks[1].findings == checks[2].findings == ()
    assert [f.code for f in checks[3].findings] == [C.MALFORMED]


def test_a_pem_bundle_is_one_check_per_certificate() -> None:
    p = pki()
    bundle = p.root.pem + p.interceptor.pem
    checks = assess_installed_roots([bundle], store=p.store)
    assert [c.verdict for c in checks] == [V.TRUSTED, V.UNTRUSTED]


def test_a_root_the_platform_store_has_in_another_encoding_is_trusted() -> None:
    """Same subject and key, different signature bytes (as a re-issued copy would be)."""
    p = pki()
    copy = issue("OpenMTD Test Root", ca=True, key=p.root.key)
    [result] = assess_installed_roots([copy.der], store=p.store)
    assert result.verdict is V.TRUSTED


def test_installed_roots_follow_the_mode_and_stay_bounded() -> None:
    p = pki()
    [audit] = assess_installed_roots([p.interceptor.der], mode=1, store=p.store)
    assert audit.findings[0].notify is False
    [disabled] = assess_installed_roots([p.interceptor.der], mode=0, store=p.store)
    assert disabled.verdict is V.UNTRUSTED and disabled.findings == ()
    many = assess_installed_roots([p.interceptor.der] * (MAX_INSTALLED_ROOTS + 5), store=p.store)
    assert len(many) == MAX_INSTALLED_ROOTS + 1
    assert many[-1].verdict is V.MALFORMED and "rest was not assessed" in many[-1].reason


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=300), st.text(max_size=300)), max_size=4))
def test_hostile_roots_never_raise(roots: list[bytes | str]) -> None:
    for result in assess_installed_roots(roots, store=pki().store):
        assert result.verdict is V.MALFORMED


# --- rules ----------------------------------------------------------------------------------


def test_every_code_has_one_rule_and_severities_follow_the_reference_product() -> None:
    assert set(RULES_BY_CODE) == set(CertFindingCode)
    assert len(RULES) == len(CertFindingCode)
    for rule in RULES:
        expected = Severity.MEDIUM if rule.code is C.UNEXPECTED_ISSUER else Severity.INFORMATIONAL
        assert rule.severity is expected
        assert rule.title and rule.explanation.endswith(".")


def test_the_memo_of_ca_facts_keeps_only_verified_cas() -> None:
    p = pki()
    certs._CA_MEMO.clear()
    check([b"junk"])
    check(p.intercepted)  # refused: nothing remembered
    assert certs._CA_MEMO == {}
    check(p.chain)
    assert set(certs._CA_MEMO) == {p.intermediate.der}  # the root's facts stay with the store
    assert check(p.chain).verdict is V.TRUSTED  # from the memo


def test_sha1_thumbprints_match_the_summaries() -> None:
    p = pki()
    result = check(p.chain)
    assert result.certificates[0].sha1 == sha1_thumbprint(p.leaf.der)
