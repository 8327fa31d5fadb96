"""The software App Attest device: its test CA, its attestation objects and its assertions,
checked byte by byte with cbor2 and cryptography (not with the verifier under test), then once
end to end through the verifier."""

from __future__ import annotations

import base64
import hashlib
import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cbor2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from openmtd.agent.attest.apple_app_attest import (
    AAGUID_DEVELOPMENT,
    AAGUID_PRODUCTION,
    RECEIPT_LABEL,
    AppAttestCA,
    SoftwareAppAttest,
    nonce_extension_der,
)
from openmtd.engines.integrity.app_attest import (
    AppAttestPolicy,
    verify_assertion,
    verify_attestation,
)

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
APP_ID = "ABCDE12345.org.openmtd.agent"
CHALLENGE = b"a one-time challenge from the server"
NONCE_OID = x509.ObjectIdentifier("1.2.840.113635.100.8.2")


@pytest.fixture(scope="module")
def ca() -> AppAttestCA:
    return AppAttestCA.generate(now=NOW)


@pytest.fixture
def device(ca: AppAttestCA) -> SoftwareAppAttest:
    return SoftwareAppAttest(ca, APP_ID)


def _decode(attestation: bytes) -> dict[str, Any]:
    value = cbor2.loads(attestation)
    assert isinstance(value, dict)
    return value


def _curve(cert: x509.Certificate) -> str:
    key = cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    return key.curve.name


# --- the CA -----------------------------------------------------------------------------------


def test_the_ca_is_shaped_like_apples_but_named_test(ca: AppAttestCA) -> None:
    root, intermediate = ca.root_cert, ca.intermediate_cert
    assert (_curve(root), _curve(intermediate)) == ("secp384r1", "secp384r1")
    root.verify_directly_issued_by(root)
    intermediate.verify_directly_issued_by(root)
    for cert in (root, intermediate):
        names = cert.subject.rfc4514_string()
        assert "TEST" in names and "Apple Inc." not in names
        assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        assert cert.not_valid_before_utc < NOW < cert.not_valid_after_utc
    assert "App Attestation CA 1" in intermediate.subject.rfc4514_string()
    assert "App Attestation Root CA" in root.subject.rfc4514_string()
    assert x509.load_pem_x509_certificate(ca.root_pem()) == root
    assert ca.anchors().certificates == (root,)


def test_the_ca_round_trips_through_a_directory(ca: AppAttestCA, tmp_path: Path) -> None:
    folder = tmp_path / "app-attest-ca"
    ca.to_dir(folder)
    loaded = AppAttestCA.from_dir(folder)
    assert loaded.root_cert == ca.root_cert
    assert loaded.intermediate_cert == ca.intermediate_cert
    assert loaded.root_key.private_numbers() == ca.root_key.private_numbers()
    assert loaded.intermediate_key.private_numbers() == ca.intermediate_key.private_numbers()
    for key_file in ("root-key.pem", "intermediate-key.pem"):
        assert stat.S_IMODE((folder / key_file).stat().st_mode) == 0o600

    # what the reloaded CA issues verifies against the original root
    device = SoftwareAppAttest(loaded, APP_ID)
    key_id = device.generate_key()
    policy = AppAttestPolicy(anchors=ca.anchors(), app_ids=frozenset({APP_ID}))
    attestation = device.attest_key(key_id, CHALLENGE, now=NOW)
    outcome, _key = verify_attestation(
        attestation, key_id=key_id, challenge=CHALLENGE, policy=policy, now=NOW
    )
    assert outcome.accepted, outcome.reason


def test_from_dir_refuses_a_key_that_is_not_ec(ca: AppAttestCA, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric import ed25519

    ca.to_dir(tmp_path)
    (tmp_path / "root-key.pem").write_bytes(
        ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(ValueError, match="does not hold an EC private key"):
        AppAttestCA.from_dir(tmp_path)


def test_the_nonce_extension_is_der_sequence_of_explicit_1_octet_string() -> None:
    nonce = bytes(range(32))
    assert nonce_extension_der(nonce) == bytes.fromhex("3024a1220420") + nonce
    long = bytes(200)  # long-form lengths: 0x81 then one length byte
    assert nonce_extension_der(long) == bytes.fromhex("3081cea181cb0481c8") + long


# --- keys and attestations --------------------------------------------------------------------


def test_key_ids_are_the_hash_of_the_uncompressed_point(device: SoftwareAppAttest) -> None:
    key_ids = {device.generate_key() for _ in range(3)}
    assert len(key_ids) == 3
    for key_id in key_ids:
        point = device.public_key(key_id).public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        assert len(point) == 65 and point[0] == 4
        assert key_id == hashlib.sha256(point).digest()


def test_an_attestation_object_has_apples_layout(device: SoftwareAppAttest) -> None:
    key_id = device.generate_key()
    attestation = _decode(device.attest_key(key_id, CHALLENGE, now=NOW))

    assert set(attestation) == {"fmt", "attStmt", "authData"}
    assert attestation["fmt"] == "apple-appattest"
    assert set(attestation["attStmt"]) == {"x5c", "receipt"}
    assert attestation["attStmt"]["receipt"].startswith(RECEIPT_LABEL)
    assert len(attestation["attStmt"]["receipt"]) == len(RECEIPT_LABEL) + 64

    auth_data: bytes = attestation["authData"]
    assert auth_data[:32] == hashlib.sha256(APP_ID.encode()).digest()
    assert auth_data[32] == 0x40  # attested credential data present
    assert auth_data[33:37] == bytes(4)  # signCount 0
    assert auth_data[37:53] == AAGUID_PRODUCTION == b"appattest\x00\x00\x00\x00\x00\x00\x00"
    assert int.from_bytes(auth_data[53:55], "big") == 32
    assert auth_data[55:87] == key_id
    cose = cbor2.loads(auth_data[87:])
    numbers = device.public_key(key_id).public_numbers()
    assert cose == {
        1: 2,  # kty EC2
        3: -7,  # alg ES256
        -1: 1,  # crv P-256
        -2: numbers.x.to_bytes(32, "big"),
        -3: numbers.y.to_bytes(32, "big"),
    }

    leaf_der, intermediate_der = attestation["attStmt"]["x5c"]
    leaf = x509.load_der_x509_certificate(leaf_der)
    assert intermediate_der == device.ca.intermediate_cert.public_bytes(serialization.Encoding.DER)
    leaf.verify_directly_issued_by(device.ca.intermediate_cert)
    assert leaf.public_key().public_numbers() == numbers  # type: ignore[union-attr]
    nonce = hashlib.sha256(auth_data + hashlib.sha256(CHALLENGE).digest()).digest()
    extension = leaf.extensions.get_extension_for_oid(NONCE_OID)
    assert not extension.critical
    assert extension.value.value == bytes.fromhex("3024a1220420") + nonce  # type: ignore[attr-defined]
    assert leaf.not_valid_before_utc <= NOW < leaf.not_valid_after_utc
    assert leaf.not_valid_after_utc - NOW == timedelta(days=5)
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_a_development_device_uses_the_development_aaguid(ca: AppAttestCA) -> None:
    device = SoftwareAppAttest(ca, APP_ID, development=True)
    key_id = device.generate_key()
    auth_data = _decode(device.attest_key(key_id, CHALLENGE, now=NOW))["authData"]
    assert auth_data[37:53] == AAGUID_DEVELOPMENT == b"appattestdevelop"


def test_a_key_is_attested_once_and_must_exist(device: SoftwareAppAttest) -> None:
    key_id = device.generate_key()
    device.attest_key(key_id, CHALLENGE, now=NOW)
    with pytest.raises(ValueError, match="already attested"):
        device.attest_key(key_id, CHALLENGE, now=NOW)
    with pytest.raises(KeyError, match="unknown App Attest key id"):
        device.attest_key(bytes(32), CHALLENGE, now=NOW)


# --- assertions -------------------------------------------------------------------------------


def test_assertions_count_up_and_sign_the_nonce(device: SoftwareAppAttest) -> None:
    key_id = device.generate_key()
    device.attest_key(key_id, CHALLENGE, now=NOW)
    public_key = device.public_key(key_id)
    for expected in (1, 2, 3):
        assertion, client_data = device.assert_request(
            key_id, CHALLENGE, extra={"action": "checkin", "seq": expected}
        )
        decoded = cbor2.loads(assertion)
        assert set(decoded) == {"signature", "authenticatorData"}
        authenticator_data = decoded["authenticatorData"]
        assert len(authenticator_data) == 37
        assert authenticator_data[:32] == hashlib.sha256(APP_ID.encode()).digest()
        assert int.from_bytes(authenticator_data[33:37], "big") == expected
        assert device.counter(key_id) == expected

        body = json.loads(client_data)
        assert body == {
            "action": "checkin",
            "seq": expected,
            "challenge": base64.urlsafe_b64encode(CHALLENGE).rstrip(b"=").decode(),
        }
        nonce = hashlib.sha256(authenticator_data + hashlib.sha256(client_data).digest()).digest()
        public_key.verify(decoded["signature"], nonce, ec.ECDSA(hashes.SHA256()))


def test_extra_fields_cannot_replace_the_challenge(device: SoftwareAppAttest) -> None:
    key_id = device.generate_key()
    device.attest_key(key_id, CHALLENGE, now=NOW)
    _assertion, client_data = device.assert_request(key_id, CHALLENGE, extra={"challenge": "x"})
    assert json.loads(client_data)["challenge"] != "x"


def test_assertions_need_an_attested_key(device: SoftwareAppAttest) -> None:
    key_id = device.generate_key()
    with pytest.raises(ValueError, match="not attested"):
        device.assert_request(key_id, CHALLENGE)
    with pytest.raises(KeyError):
        device.assert_request(bytes(32), CHALLENGE)


def test_the_device_and_the_verifier_agree_end_to_end(
    ca: AppAttestCA, device: SoftwareAppAttest
) -> None:
    policy = AppAttestPolicy(anchors=ca.anchors(), app_ids=frozenset({APP_ID}))
    key_id = device.generate_key()
    attestation = device.attest_key(key_id, CHALLENGE, now=NOW)
    outcome, key = verify_attestation(
        attestation, key_id=key_id, challenge=CHALLENGE, policy=policy, now=NOW
    )
    assert outcome.accepted and key is not None
    for expected in (1, 2):
        challenge = f"request {expected}".encode()
        assertion, client_data = device.assert_request(key_id, challenge, extra={"n": expected})
        outcome, counter = verify_assertion(
            assertion, client_data=client_data, challenge=challenge, key=key, now=NOW
        )
        assert outcome.accepted and counter == expected, outcome.reason
        key = type(key)(
            key.key_id, key.public_key_der, key.app_id, key.environment, counter, key.receipt
        )
