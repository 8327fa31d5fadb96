"""The software test keystore: real CAs, real chains, readable by the verifier."""

from __future__ import annotations

import stat
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from openmtd.agent.attest.android_keystore import (
    INTERMEDIATE_CERT_FILE,
    INTERMEDIATE_KEY_FILE,
    KEYMINT_VERSION,
    ROOT_CERT_FILE,
    ROOT_KEY_FILE,
    TEST_SIGNER_SHA256,
    AttestationCA,
)
from openmtd.engines.integrity.key_attestation import KeyAttestationPolicy, verify_key_attestation
from openmtd.engines.integrity.key_description import (
    KEY_DESCRIPTION_OID,
    Enforcement,
    SecurityLevel,
    VerifiedBootState,
    decode_key_description,
)
from openmtd.engines.integrity.revocation import RevocationList
from openmtd.engines.integrity.roots import anchors_from_pem

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@cache
def ca(ec_keys: bool = True) -> AttestationCA:
    return AttestationCA.generate(ec=ec_keys)


def policy(authority: AttestationCA) -> KeyAttestationPolicy:
    return KeyAttestationPolicy(
        anchors=anchors_from_pem(authority.root_pem()), revocations=RevocationList()
    )


def leaf_certificate(chain: list[bytes]) -> x509.Certificate:
    return x509.load_der_x509_certificate(chain[0])


@pytest.mark.parametrize("ec_keys", [True, False])
def test_generated_ca_uses_the_requested_key_type(ec_keys: bool) -> None:
    authority = ca(ec_keys)
    expected = ec.EllipticCurvePrivateKey if ec_keys else rsa.RSAPrivateKey
    assert isinstance(authority.root_key, expected)
    assert isinstance(authority.intermediate_key, expected)
    root = authority.root_certificate
    assert root.subject == root.issuer
    assert root.subject.rfc4514_string() == "CN=openmtd test attestation root"
    assert authority.intermediate_certificate.issuer == root.subject
    constraints = authority.intermediate_certificate.extensions.get_extension_for_class(
        x509.BasicConstraints
    )
    assert constraints.value.ca
    assert authority.root_pem().startswith(b"-----BEGIN CERTIFICATE-----")


@pytest.mark.parametrize("ec_keys", [True, False])
def test_attested_chain_is_leaf_intermediate_root_and_verifies(ec_keys: bool) -> None:
    authority = ca(ec_keys)
    chain = authority.attest(b"nonce", now=NOW)
    certs = [x509.load_der_x509_certificate(der) for der in chain]
    assert len(certs) == 3
    assert certs[0].subject.rfc4514_string() == "CN=Android Keystore Key"
    assert certs[0].issuer == certs[1].subject
    assert certs[1].issuer == certs[2].subject == authority.root_certificate.subject
    assert isinstance(certs[0].public_key(), ec.EllipticCurvePublicKey)
    outcome = verify_key_attestation(chain, challenge=b"nonce", policy=policy(authority), now=NOW)
    assert outcome.accepted and outcome.findings == (), outcome.reason


def test_leaf_carries_a_keymint_key_description_with_the_requested_values() -> None:
    chain = ca().attest(
        b"challenge",
        security_level="StrongBox",
        verified_boot_state="SelfSigned",
        device_locked=False,
        os_version=150001,
        os_patch_level=202510,
        packages=(("com.example.app", 42), ("com.example.shared", 7)),
        signer_sha256=("AB" * 32,),
        now=NOW,
    )
    ext = leaf_certificate(chain).extensions.get_extension_for_oid(
        x509.ObjectIdentifier(KEY_DESCRIPTION_OID)
    )
    assert isinstance(ext.value, x509.UnrecognizedExtension)
    d = decode_key_description(ext.value.value)
    assert d.attestation_version == KEYMINT_VERSION == 200
    assert d.keymint_version == 200
    assert d.attestation_security_level is SecurityLevel.STRONG_BOX
    assert d.keymint_security_level is SecurityLevel.STRONG_BOX
    assert d.challenge == b"challenge"
    assert d.root_of_trust is not None
    assert d.root_of_trust.verified_boot_state is VerifiedBootState.SELF_SIGNED
    assert not d.root_of_trust.device_locked
    assert d.root_of_trust.enforcement is Enforcement.HARDWARE
    assert d.os_version == 150001
    assert d.os_patch_level == 202510
    assert d.vendor_patch_level == d.boot_patch_level == 20251001
    assert sorted(d.packages) == [("com.example.app", 42), ("com.example.shared", 7)]
    assert d.signature_digests == ("ab" * 32,)
    assert d.creation_time_ms == int(NOW.timestamp() * 1000)
    assert (d.algorithm, d.key_size, d.purposes) == (3, 256, (2, 3))


def test_software_level_puts_the_root_of_trust_in_the_software_list() -> None:
    chain = ca().attest(b"c", security_level=SecurityLevel.SOFTWARE, now=NOW)
    ext = leaf_certificate(chain).extensions.get_extension_for_oid(
        x509.ObjectIdentifier(KEY_DESCRIPTION_OID)
    )
    assert isinstance(ext.value, x509.UnrecognizedExtension)
    d = decode_key_description(ext.value.value)
    assert d.attestation_security_level is SecurityLevel.SOFTWARE
    assert d.root_of_trust is not None
    assert d.root_of_trust.enforcement is Enforcement.SOFTWARE


def test_default_app_identity_is_the_agent() -> None:
    outcome = verify_key_attestation(
        ca().attest(b"c", now=NOW), challenge=b"c", policy=policy(ca()), now=NOW
    )
    assert outcome.facts_dict["packages"] == "com.openmtd.agent (1)"
    assert outcome.facts_dict["signer_sha256"] == TEST_SIGNER_SHA256


def test_each_attestation_is_a_new_key_whose_private_half_is_returned() -> None:
    from openmtd.agent.attest.android_keystore import key_description

    authority = ca()
    first = authority.issue(key_description(b"c", now=NOW))
    second = authority.issue(key_description(b"c", now=NOW))
    assert first.chain[0] != second.chain[0]
    assert first.chain[1:] == second.chain[1:]
    leaf_key = x509.load_der_x509_certificate(first.chain[0]).public_key()
    assert isinstance(leaf_key, ec.EllipticCurvePublicKey)
    signature = first.private_key.sign(b"proof", ec.ECDSA(hashes.SHA256()))
    leaf_key.verify(signature, b"proof", ec.ECDSA(hashes.SHA256()))
    assert first.description.challenge == b"c"


@pytest.mark.parametrize("ec_keys", [True, False])
def test_ca_survives_a_trip_through_a_directory(tmp_path: Path, ec_keys: bool) -> None:
    authority = ca(ec_keys)
    authority.to_dir(tmp_path / "ca")
    names = {p.name for p in (tmp_path / "ca").iterdir()}
    assert names == {ROOT_CERT_FILE, ROOT_KEY_FILE, INTERMEDIATE_CERT_FILE, INTERMEDIATE_KEY_FILE}
    for key_file in (ROOT_KEY_FILE, INTERMEDIATE_KEY_FILE):
        mode = stat.S_IMODE((tmp_path / "ca" / key_file).stat().st_mode)
        assert mode == 0o600
        assert b"BEGIN PRIVATE KEY" in (tmp_path / "ca" / key_file).read_bytes()  # unencrypted
    loaded = AttestationCA.from_dir(tmp_path / "ca")
    assert loaded.root_pem() == authority.root_pem()
    assert loaded.intermediate_certificate == authority.intermediate_certificate
    chain = loaded.attest(b"again", now=NOW)
    outcome = verify_key_attestation(chain, challenge=b"again", policy=policy(authority), now=NOW)
    assert outcome.accepted, outcome.reason


def test_from_dir_refuses_a_key_of_another_kind(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric import ed25519

    ca().to_dir(tmp_path)
    other = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (tmp_path / ROOT_KEY_FILE).write_bytes(other)
    with pytest.raises(ValueError, match="an EC or RSA key is expected"):
        AttestationCA.from_dir(tmp_path)


def test_validity_window_is_configurable() -> None:
    authority = AttestationCA.generate(
        not_before=datetime(2020, 1, 1, tzinfo=UTC), not_after=datetime(2025, 1, 1, tzinfo=UTC)
    )
    chain = authority.attest(b"c", now=NOW)
    outcome = verify_key_attestation(chain, challenge=b"c", policy=policy(authority), now=NOW)
    assert outcome.code == "certificate_expired"
