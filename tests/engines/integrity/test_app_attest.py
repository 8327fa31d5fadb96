"""Apple App Attest verification: real CBOR objects, real certificates from a test CA, real crypto.

Attestations come from the software App Attest device (openmtd.agent.attest.apple_app_attest);
wrong ones are rebuilt with the same CA so that each check is reached on its own (a tampered
authData gets a freshly certified nonce, so the nonce check passes and the check under test
fires).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import cbor2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import SHARED
from openmtd.agent.attest.apple_app_attest import (
    AAGUID_DEVELOPMENT,
    RECEIPT_LABEL,
    AppAttestCA,
    SoftwareAppAttest,
    build_attestation,
    build_auth_data,
    client_data_json,
    key_id_of,
)
from openmtd.domain.integrity import EvidenceSource
from openmtd.engines.integrity.app_attest import (
    MAX_ATTESTATION_BYTES,
    AppAttestPolicy,
    AttestedKey,
    verify_assertion,
    verify_attestation,
)
from openmtd.engines.integrity.roots import apple_app_attest_anchors
from openmtd.engines.integrity.x509chain import TrustAnchors

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
APP_ID = "ABCDE12345.org.openmtd.agent"
OTHER_APP_ID = "ZZZZZ99999.com.example.other"
CHALLENGE = b"server-challenge-0123456789abcdef"
APPLE_ROOT_PEM = SHARED / "data" / "apple-app-attest" / "Apple_App_Attestation_Root_CA.pem"


@pytest.fixture(scope="module")
def ca() -> AppAttestCA:
    return AppAttestCA.generate(now=NOW)


@pytest.fixture(scope="module")
def policy(ca: AppAttestCA) -> AppAttestPolicy:
    return AppAttestPolicy(anchors=ca.anchors(), app_ids=frozenset({APP_ID}))


@pytest.fixture
def device(ca: AppAttestCA) -> SoftwareAppAttest:
    return SoftwareAppAttest(ca, APP_ID)


def _attested(device: SoftwareAppAttest) -> tuple[bytes, bytes]:
    key_id = device.generate_key()
    return key_id, device.attest_key(key_id, CHALLENGE, now=NOW)


def _verify(
    attestation: bytes,
    key_id: bytes,
    policy: AppAttestPolicy,
    *,
    challenge: bytes = CHALLENGE,
    now: datetime = NOW,
) -> tuple[Any, AttestedKey | None]:
    return verify_attestation(
        attestation, key_id=key_id, challenge=challenge, policy=policy, now=now
    )


def _rejected(outcome: Any, key: AttestedKey | None, code: str) -> str:
    assert (outcome.accepted, outcome.code, key) == (False, code, None), outcome.reason
    assert outcome.source is EvidenceSource.APP_ATTEST
    assert outcome.reason and outcome.facts == ()
    return str(outcome.reason)


def _decoded(attestation: bytes) -> dict[str, Any]:
    value = cbor2.loads(attestation)
    assert isinstance(value, dict)
    return value


def _with_auth_data(
    ca: AppAttestCA, auth_data: bytes, public_key: ec.EllipticCurvePublicKey
) -> bytes:
    """A correctly certified attestation over ``auth_data`` (the nonce matches it)."""
    return build_attestation(ca, public_key, auth_data, CHALLENGE, now=NOW)


# --- accepted ---------------------------------------------------------------------------------


def test_a_genuine_attestation_is_accepted_with_the_key_to_store(
    device: SoftwareAppAttest, policy: AppAttestPolicy
) -> None:
    key_id, attestation = _attested(device)
    outcome, key = _verify(attestation, key_id, policy)

    assert (outcome.accepted, outcome.code, outcome.findings) == (True, "ok", ())
    assert outcome.source is EvidenceSource.APP_ATTEST
    facts = outcome.facts_dict
    assert facts["app_id"] == APP_ID
    assert facts["environment"] == "production"
    assert facts["key_id"] == key_id.hex()
    assert "OpenMTD TEST App Attestation Root CA" in facts["anchor"]
    serials = facts["certificate_serials"].split(",")
    assert len(serials) == 2 and all(int(s, 16) > 0 for s in serials)

    assert key is not None
    assert key.key_id == key_id and len(key.key_id) == 32
    assert key.app_id == APP_ID and key.environment == "production" and key.counter == 0
    assert key.receipt.startswith(RECEIPT_LABEL)
    stored = serialization.load_der_public_key(key.public_key_der)
    assert isinstance(stored, ec.EllipticCurvePublicKey)
    assert stored.public_numbers() == device.public_key(key_id).public_numbers()


def test_the_matching_app_id_is_named_among_several(
    ca: AppAttestCA, device: SoftwareAppAttest
) -> None:
    policy = AppAttestPolicy(anchors=ca.anchors(), app_ids=frozenset({OTHER_APP_ID, APP_ID, "X.y"}))
    key_id, attestation = _attested(device)
    outcome, key = _verify(attestation, key_id, policy)
    assert outcome.accepted and outcome.facts_dict["app_id"] == APP_ID
    assert key is not None and key.app_id == APP_ID


def test_development_keys_need_the_policy_to_allow_them(
    ca: AppAttestCA, policy: AppAttestPolicy
) -> None:
    device = SoftwareAppAttest(ca, APP_ID, development=True)
    key_id, attestation = _attested(device)

    reason = _rejected(*_verify(attestation, key_id, policy), "development_environment")
    assert "appattestdevelop" in reason

    allowing = dataclasses.replace(policy, allow_development=True)
    outcome, key = _verify(attestation, key_id, allowing)
    assert outcome.accepted and outcome.facts_dict["environment"] == "development"
    assert key is not None and key.environment == "development"


def test_a_naive_time_is_taken_as_utc(device: SoftwareAppAttest, policy: AppAttestPolicy) -> None:
    key_id, attestation = _attested(device)
    outcome, _key = _verify(attestation, key_id, policy, now=NOW.replace(tzinfo=None))
    assert outcome.accepted, outcome.reason


# --- the production anchors -------------------------------------------------------------------


def test_the_default_anchors_are_apples_real_root_which_rejects_the_test_ca(
    device: SoftwareAppAttest,
) -> None:
    production = AppAttestPolicy(app_ids=frozenset({APP_ID}))
    apple = x509.load_pem_x509_certificate(APPLE_ROOT_PEM.read_bytes())
    assert production.anchors == apple_app_attest_anchors()
    assert production.anchors.certificates == (apple,)
    assert "Apple App Attestation Root CA" in apple.subject.rfc4514_string()

    key_id, attestation = _attested(device)
    reason = _rejected(*_verify(attestation, key_id, production), "chain_untrusted")
    assert "OpenMTD TEST App Attestation CA 1" in reason


# --- the chain --------------------------------------------------------------------------------


def test_a_foreign_ca_is_untrusted(policy: AppAttestPolicy) -> None:
    foreign = SoftwareAppAttest(AppAttestCA.generate(now=NOW), APP_ID)
    key_id, attestation = _attested(foreign)
    _rejected(*_verify(attestation, key_id, policy), "chain_untrusted")


def _with_x5c(attestation: bytes, x5c: list[bytes]) -> bytes:
    value = _decoded(attestation)
    value["attStmt"]["x5c"] = x5c
    return cbor2.dumps(value)


def test_the_chain_must_be_leaf_first(device: SoftwareAppAttest, policy: AppAttestPolicy) -> None:
    key_id, attestation = _attested(device)
    leaf, intermediate = _decoded(attestation)["attStmt"]["x5c"]
    reason = _rejected(
        *_verify(_with_x5c(attestation, [intermediate, leaf]), key_id, policy), "chain_broken"
    )
    assert "certificate 0 is not issued by certificate 1" in reason


def test_a_chain_without_its_intermediate_is_untrusted(
    device: SoftwareAppAttest, policy: AppAttestPolicy
) -> None:
    key_id, attestation = _attested(device)
    leaf, _intermediate = _decoded(attestation)["attStmt"]["x5c"]
    _rejected(*_verify(_with_x5c(attestation, [leaf]), key_id, policy), "chain_untrusted")
    _rejected(*_verify(_with_x5c(attestation, []), key_id, policy), "chain_empty")


def test_a_chain_that_carries_the_root_is_still_accepted(
    ca: AppAttestCA, device: SoftwareAppAttest, policy: AppAttestPolicy
) -> None:
    key_id, attestation = _attested(device)
    x5c = [
        *_decoded(attestation)["attStmt"]["x5c"],
        ca.root_cert.public_bytes(serialization.Encoding.DER),
    ]
    outcome, _key = _verify(_with_x5c(attestation, x5c), key_id, policy)
    assert outcome.accepted, outcome.reason


def test_the_credential_certificate_expires(
    device: SoftwareAppAttest, policy: AppAttestPolicy
) -> None:
    key_id, attestation = _attested(device)
    reason = _rejected(
        *_verify(attestation, key_id, policy, now=NOW + timedelta(days=30)), "certificate_expired"
    )
    assert reason.startswith("certificate 0 ")
    _rejected(
        *_verify(attestation, key_id, policy, now=NOW - timedelta(days=1)),
        "certificate_not_yet_valid",
    )


def test_remembered_issuer_signatures_give_the_same_verdicts_as_a_full_walk() -> None:
    """After a genuine chain, the intermediate's signature is not checked again: a forged leaf,
    an expired intermediate and a chain reusing a CA key must still get the full walk's code."""
    ca = AppAttestCA.generate(now=NOW)  # its own CA: nothing remembered yet
    policy = AppAttestPolicy(anchors=ca.anchors(), app_ids=frozenset({APP_ID}))
    device = SoftwareAppAttest(ca, APP_ID)
    key_id, attestation = _attested(device)
    leaf, intermediate = _decoded(attestation)["attStmt"]["x5c"]
    forged = _with_x5c(attestation, [leaf[:-1] + bytes([leaf[-1] ^ 1]), intermediate])
    intermediate_only = _with_x5c(attestation, [intermediate, intermediate])

    cold = [
        _verify(forged, key_id, policy),
        _verify(intermediate_only, key_id, policy),
        _verify(attestation, key_id, policy, now=NOW + timedelta(days=11 * 365)),
    ]
    assert _verify(attestation, key_id, policy)[0].accepted  # now remembered
    warm = [
        _verify(forged, key_id, policy),
        _verify(intermediate_only, key_id, policy),
        _verify(attestation, key_id, policy, now=NOW + timedelta(days=11 * 365)),
    ]
    assert [o.code for o, _k in cold] == ["chain_broken", "chain_broken", "certificate_expired"]
    assert [(o.code, o.reason) for o, _k in warm] == [(o.code, o.reason) for o, _k in cold]
    assert _verify(attestation, key_id, policy)[0].accepted


def test_a_certificate_whose_key_cannot_load_is_malformed_not_an_exception(
    device: SoftwareAppAttest, policy: AppAttestPolicy
) -> None:
    key_id, attestation = _attested(device)
    leaf, intermediate = _decoded(attestation)["attStmt"]["x5c"]
    p256 = bytes.fromhex("06082a8648ce3d030107")  # OID prime256v1
    p192 = bytes.fromhex("06082a8648ce3d030101")  # OID prime192v1: the point no longer fits
    assert leaf.count(p256) == 1
    bent = _with_x5c(attestation, [leaf.replace(p256, p192), intermediate])
    _rejected(*_verify(bent, key_id, policy), "certificate_malformed")


# --- the nonce --------------------------------------------------------------------------------


def test_another_challenge_does_not_match_the_certified_nonce(
    device: SoftwareAppAttest, policy: AppAttestPolicy
) -> None:
    key_id, attestation = _attested(device)
    reason = _rejected(
        *_verify(attestation, key_id, policy, challenge=b"another challenge"), "nonce_mismatch"
    )
    assert "wrong challenge or altered authData" in reason


def test_altered_auth_data_does_not_match_the_certified_nonce(
    device: SoftwareAppAttest, policy: AppAttestPolicy
) -> None:
    key_id, attestation = _attested(device)
    value = _decoded(attestation)
    auth_data = bytearray(value["authData"])
    auth_data[32] ^= 0x01  # the flags byte
    value["authData"] = bytes(auth_data)
    _rejected(*_verify(cbor2.dumps(value), key_id, policy), "nonce_mismatch")


def _with_leaf(attestation: bytes, ca: AppAttestCA, leaf: x509.Certificate) -> bytes:
    return _with_x5c(
        attestation,
        [
            leaf.public_bytes(serialization.Encoding.DER),
            ca.intermediate_cert.public_bytes(serialization.Encoding.DER),
        ],
    )


def test_a_leaf_certifying_another_nonce_is_rejected(
    ca: AppAttestCA, device: SoftwareAppAttest, policy: AppAttestPolicy
) -> None:
    key_id, attestation = _attested(device)
    leaf = ca.issue_credential_certificate(device.public_key(key_id), os.urandom(32), now=NOW)
    _rejected(*_verify(_with_leaf(attestation, ca, leaf), key_id, policy), "nonce_mismatch")


def _leaf_with_extension(
    ca: AppAttestCA, public_key: ec.EllipticCurvePublicKey, value: bytes | None
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "leaf")]))
        .issuer_name(ca.intermediate_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(hours=1))
        .not_valid_after(NOW + timedelta(days=1))
    )
    if value is not None:
        oid = x509.ObjectIdentifier("1.2.840.113635.100.8.2")
        builder = builder.add_extension(x509.UnrecognizedExtension(oid, value), critical=False)
    return builder.sign(ca.intermediate_key, hashes.SHA256())


@pytest.mark.parametrize(
    ("extension", "expected"),
    [
        (None, "has no nonce extension"),
        (bytes.fromhex("0420") + bytes(32), "not SEQUENCE"),  # a bare OCTET STRING
        (bytes.fromhex("3022a0200420") + bytes(32)[:28], "not SEQUENCE"),  # [0], short
        (bytes.fromhex("3024a2220420") + bytes(32), "not SEQUENCE"),  # [2] instead of [1]
        (bytes.fromhex("3005a103020101"), "not SEQUENCE"),  # [1] INTEGER
        (bytes.fromhex("3024a1220420") + bytes(32) + b"\x00", "not SEQUENCE"),  # trailing byte
    ],
)
def test_a_missing_or_misshapen_nonce_extension_is_a_mismatch(
    ca: AppAttestCA,
    device: SoftwareAppAttest,
    policy: AppAttestPolicy,
    extension: bytes | None,
    expected: str,
) -> None:
    key_id, attestation = _attested(device)
    leaf = _leaf_with_extension(ca, device.public_key(key_id), extension)
    reason = _rejected(
        *_verify(_with_leaf(attestation, ca, leaf), key_id, policy), "nonce_mismatch"
    )
    assert expected in reason


def test_the_nonce_extension_is_parsed_as_asn1_not_by_offset(
    ca: AppAttestCA, device: SoftwareAppAttest, policy: AppAttestPolicy
) -> None:
    """Long-form lengths move every byte of the nonce; reading the structure still finds it
    (reading bytes 6..38 would not)."""
    key_id, attestation = _attested(device)
    auth_data = _decoded(attestation)["authData"]
    nonce = hashlib.sha256(auth_data + hashlib.sha256(CHALLENGE).digest()).digest()
    for encoding in (
        bytes.fromhex("3024a1220420") + nonce,
        bytes.fromhex("308125a1230481") + b"\x20" + nonce,
    ):
        leaf = _leaf_with_extension(ca, device.public_key(key_id), encoding)
        outcome, _key = _verify(_with_leaf(attestation, ca, leaf), key_id, policy)
        assert outcome.accepted, outcome.reason


# --- key id, credential id, app id, counter, aaguid -------------------------------------------


def test_the_key_id_must_be_the_hash_of_the_credential_key(
    device: SoftwareAppAttest, policy: AppAttestPolicy
) -> None:
    key_id, attestation = _attested(device)
    other_key_id = device.generate_key()
    _rejected(*_verify(attestation, other_key_id, policy), "key_id_mismatch")
    _rejected(*_verify(attestation, key_id[:16], policy), "key_id_mismatch")


def test_a_credential_key_that_is_not_p256_is_a_key_id_mismatch(
    ca: AppAttestCA, policy: AppAttestPolicy
) -> None:
    p384 = ec.generate_private_key(ec.SECP384R1()).public_key()
    auth_data = build_auth_data(APP_ID, ec.generate_private_key(ec.SECP256R1()).public_key())
    attestation = _with_auth_data(ca, auth_data, p384)
    reason = _rejected(*_verify(attestation, key_id_of(p384), policy), "key_id_mismatch")
    assert "not an EC P-256 key" in reason


def test_the_credential_id_must_be_the_key_id(ca: AppAttestCA, policy: AppAttestPolicy) -> None:
    public_key = ec.generate_private_key(ec.SECP256R1()).public_key()
    auth_data = build_auth_data(APP_ID, public_key, credential_id=os.urandom(32))
    attestation = _with_auth_data(ca, auth_data, public_key)
    _rejected(*_verify(attestation, key_id_of(public_key), policy), "credential_id_mismatch")


def test_the_rp_id_hash_must_name_one_of_our_apps(
    ca: AppAttestCA, device: SoftwareAppAttest, policy: AppAttestPolicy
) -> None:
    stranger = SoftwareAppAttest(ca, OTHER_APP_ID)
    key_id, attestation = _attested(stranger)
    reason = _rejected(*_verify(attestation, key_id, policy), "app_id_unknown")
    assert hashlib.sha256(OTHER_APP_ID.encode()).hexdigest() in reason and APP_ID in reason

    key_id, attestation = _attested(device)
    nobody = AppAttestPolicy(anchors=policy.anchors, app_ids=frozenset())
    assert "none configured" in _rejected(*_verify(attestation, key_id, nobody), "app_id_unknown")


def test_the_sign_count_of_an_attestation_is_zero(ca: AppAttestCA, policy: AppAttestPolicy) -> None:
    public_key = ec.generate_private_key(ec.SECP256R1()).public_key()
    attestation = _with_auth_data(ca, build_auth_data(APP_ID, public_key, counter=7), public_key)
    reason = _rejected(*_verify(attestation, key_id_of(public_key), policy), "counter_not_zero")
    assert "7" in reason


@pytest.mark.parametrize(
    "aaguid", [b"appattestxxxxxxx", b"\x00" * 16, b"appattest" + b"\x00" * 6 + b"\x01"]
)
def test_an_unknown_aaguid_is_rejected(
    ca: AppAttestCA, policy: AppAttestPolicy, aaguid: bytes
) -> None:
    public_key = ec.generate_private_key(ec.SECP256R1()).public_key()
    attestation = _with_auth_data(
        ca, build_auth_data(APP_ID, public_key, aaguid=aaguid), public_key
    )
    reason = _rejected(*_verify(attestation, key_id_of(public_key), policy), "aaguid_unknown")
    assert aaguid.hex() in reason


def test_a_development_aaguid_built_by_hand_follows_the_policy(
    ca: AppAttestCA, policy: AppAttestPolicy
) -> None:
    public_key = ec.generate_private_key(ec.SECP256R1()).public_key()
    auth_data = build_auth_data(APP_ID, public_key, aaguid=AAGUID_DEVELOPMENT)
    attestation = _with_auth_data(ca, auth_data, public_key)
    _rejected(*_verify(attestation, key_id_of(public_key), policy), "development_environment")


# --- authData layout --------------------------------------------------------------------------


@pytest.mark.parametrize("length", [0, 36, 37, 54])
def test_truncated_auth_data_is_rejected(
    ca: AppAttestCA, policy: AppAttestPolicy, length: int
) -> None:
    public_key = ec.generate_private_key(ec.SECP256R1()).public_key()
    auth_data = build_auth_data(APP_ID, public_key)[:length]
    attestation = _with_auth_data(ca, auth_data, public_key)
    reason = _rejected(*_verify(attestation, key_id_of(public_key), policy), "authdata_truncated")
    assert f"is {length} bytes" in reason


def test_a_credential_id_longer_than_the_auth_data_is_truncated(
    ca: AppAttestCA, policy: AppAttestPolicy
) -> None:
    public_key = ec.generate_private_key(ec.SECP256R1()).public_key()
    head = build_auth_data(APP_ID, public_key)[:53]
    auth_data = head + (500).to_bytes(2, "big") + key_id_of(public_key)
    attestation = _with_auth_data(ca, auth_data, public_key)
    reason = _rejected(*_verify(attestation, key_id_of(public_key), policy), "authdata_truncated")
    assert "500-byte credentialId" in reason


# --- the CBOR envelope ------------------------------------------------------------------------


def test_an_attestation_over_64_kib_is_refused_before_decoding(policy: AppAttestPolicy) -> None:
    blob = os.urandom(100 * 1024)
    reason = _rejected(*_verify(blob, bytes(32), policy), "too_large")
    assert str(MAX_ATTESTATION_BYTES) in reason


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"\xff",
        b"\x81" * 60_000 + b"\x00",  # 60,000 nested arrays
        b"\x9f" * 60_000,  # the same, indefinite length
        b"\xa1\x00" * 30_000 + b"\x00",  # nested maps
        b"\x9b" + b"\xff" * 8,  # an array claiming 2**64 - 1 items
        b"\x5b" + b"\x7f" + b"\xff" * 7,  # a byte string claiming 2**63 bytes
        cbor2.dumps({"fmt": "apple-appattest"}) + b"\x00",  # trailing bytes
        bytes.fromhex("a2636b6579016b6579") + b"\x02",  # duplicate key
    ],
    ids=[
        "empty",
        "break",
        "nested",
        "indefinite",
        "maps",
        "huge-array",
        "huge-bytes",
        "trailing",
        "duplicate-key",
    ],
)
def test_malformed_cbor_and_cbor_bombs_are_rejected_without_exceptions(
    policy: AppAttestPolicy, blob: bytes
) -> None:
    _rejected(*_verify(blob, bytes(32), policy), "malformed")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ([1, 2, 3], "not a map"),
        ("apple-appattest", "not a map"),
        ({"fmt": "packed", "attStmt": {}, "authData": b""}, "'packed'"),
        ({"fmt": 1}, "must be str"),
        ({"fmt": "apple-appattest", "authData": b"x"}, "no 'attStmt'"),
        ({"fmt": "apple-appattest", "attStmt": {"x5c": b"x", "receipt": b""}}, "must be list"),
        ({"fmt": "apple-appattest", "attStmt": {"x5c": ["x"], "receipt": b""}}, "not bytes"),
        ({"fmt": "apple-appattest", "attStmt": {"x5c": []}, "authData": b""}, "no 'receipt'"),
        ({"fmt": "apple-appattest", "attStmt": {"x5c": [], "receipt": b""}}, "no 'authData'"),
        (
            {"fmt": "apple-appattest", "attStmt": {"x5c": [], "receipt": b""}, "authData": "x"},
            "must be bytes",
        ),
    ],
)
def test_cbor_of_the_wrong_shape_is_a_format_error(
    policy: AppAttestPolicy, value: object, expected: str
) -> None:
    reason = _rejected(*_verify(cbor2.dumps(value), bytes(32), policy), "format")
    assert expected in reason


# --- assertions -------------------------------------------------------------------------------


@pytest.fixture
def attested(
    device: SoftwareAppAttest, policy: AppAttestPolicy
) -> tuple[SoftwareAppAttest, AttestedKey]:
    key_id, attestation = _attested(device)
    outcome, key = _verify(attestation, key_id, policy)
    assert outcome.accepted and key is not None
    return device, key


def _assert(key: AttestedKey, assertion: bytes, client_data: bytes, challenge: bytes) -> Any:
    return verify_assertion(assertion, client_data=client_data, challenge=challenge, key=key)


def test_assertions_are_accepted_with_an_increasing_counter(
    attested: tuple[SoftwareAppAttest, AttestedKey],
) -> None:
    device, key = attested
    for expected in (1, 2, 3):
        challenge = os.urandom(16)
        assertion, client_data = device.assert_request(
            key.key_id, challenge, extra={"action": "checkin", "n": expected}
        )
        outcome, counter = _assert(key, assertion, client_data, challenge)
        assert (outcome.accepted, outcome.code, counter) == (True, "ok", expected), outcome.reason
        assert outcome.source is EvidenceSource.APP_ATTEST
        assert outcome.facts_dict["counter"] == str(expected)
        assert outcome.facts_dict["previous_counter"] == str(expected - 1)
        key = dataclasses.replace(key, counter=counter)


def test_a_replayed_assertion_is_rejected(attested: tuple[SoftwareAppAttest, AttestedKey]) -> None:
    device, key = attested
    assertion, client_data = device.assert_request(key.key_id, CHALLENGE)
    outcome, counter = _assert(key, assertion, client_data, CHALLENGE)
    assert outcome.accepted and counter == 1
    stored = dataclasses.replace(key, counter=1)
    outcome, counter = _assert(stored, assertion, client_data, CHALLENGE)
    assert (outcome.accepted, outcome.code, counter) == (False, "counter_not_increasing", None)
    assert "counter is 1 but the last accepted one is 1" in outcome.reason


def test_an_older_assertion_after_a_newer_one_is_rejected(
    attested: tuple[SoftwareAppAttest, AttestedKey],
) -> None:
    device, key = attested
    made = [device.assert_request(key.key_id, CHALLENGE) for _ in range(3)]
    outcome, counter = _assert(key, *made[2], CHALLENGE)
    assert outcome.accepted and counter == 3
    stored = dataclasses.replace(key, counter=3)
    outcome, counter = _assert(stored, *made[1], CHALLENGE)
    assert (outcome.code, counter) == ("counter_not_increasing", None)
    assert "counter is 2 but the last accepted one is 3" in outcome.reason


def test_an_assertion_for_another_challenge_is_rejected(
    attested: tuple[SoftwareAppAttest, AttestedKey],
) -> None:
    device, key = attested
    assertion, client_data = device.assert_request(key.key_id, b"old challenge")
    outcome, counter = _assert(key, assertion, client_data, CHALLENGE)
    assert (outcome.code, counter) == ("challenge_mismatch", None)


def test_a_signature_by_another_key_is_rejected(
    attested: tuple[SoftwareAppAttest, AttestedKey],
) -> None:
    device, key = attested
    other_key_id = device.generate_key()
    device.attest_key(other_key_id, CHALLENGE, now=NOW)
    assertion, client_data = device.assert_request(other_key_id, CHALLENGE)
    outcome, counter = _assert(key, assertion, client_data, CHALLENGE)
    assert (outcome.code, counter) == ("signature_invalid", None)


def test_client_data_changed_after_signing_is_rejected(
    attested: tuple[SoftwareAppAttest, AttestedKey],
) -> None:
    device, key = attested
    assertion, _client_data = device.assert_request(key.key_id, CHALLENGE, extra={"amount": 1})
    forged = client_data_json(CHALLENGE, {"amount": 1000})
    outcome, _counter = _assert(key, assertion, forged, CHALLENGE)
    assert outcome.code == "signature_invalid"


def test_the_assertion_must_name_the_keys_app(
    attested: tuple[SoftwareAppAttest, AttestedKey],
) -> None:
    device, key = attested
    assertion, client_data = device.assert_request(key.key_id, CHALLENGE)
    moved = dataclasses.replace(key, app_id=OTHER_APP_ID)
    outcome, counter = _assert(moved, assertion, client_data, CHALLENGE)
    assert (outcome.code, counter) == ("rp_id_mismatch", None)
    assert OTHER_APP_ID in outcome.reason


def test_a_validly_signed_assertion_for_another_app_is_rejected(
    attested: tuple[SoftwareAppAttest, AttestedKey],
) -> None:
    """The signature is good and the counter fresh, only the rpIdHash names another app."""
    device, key = attested
    private_key = device.private_key(key.key_id)
    client_data = client_data_json(CHALLENGE)
    authenticator_data = (
        hashlib.sha256(OTHER_APP_ID.encode()).digest() + b"\x00" + (5).to_bytes(4, "big")
    )
    nonce = hashlib.sha256(authenticator_data + hashlib.sha256(client_data).digest()).digest()
    signature = private_key.sign(nonce, ec.ECDSA(hashes.SHA256()))
    assertion = cbor2.dumps({"signature": signature, "authenticatorData": authenticator_data})
    outcome, _counter = _assert(key, assertion, client_data, CHALLENGE)
    assert outcome.code == "rp_id_mismatch"


def test_the_signature_is_over_the_nonce_as_a_message(
    attested: tuple[SoftwareAppAttest, AttestedKey],
) -> None:
    """ECDSA-SHA256 over nonce (digest SHA-256(nonce)); a signature whose digest is the nonce
    itself (WebAuthn's convention: authenticatorData || clientDataHash as the message) fails."""
    device, key = attested
    private_key = device.private_key(key.key_id)
    client_data = client_data_json(CHALLENGE)
    authenticator_data = hashlib.sha256(APP_ID.encode()).digest() + b"\x00" + (1).to_bytes(4, "big")
    client_data_hash = hashlib.sha256(client_data).digest()
    webauthn_style = private_key.sign(
        authenticator_data + client_data_hash, ec.ECDSA(hashes.SHA256())
    )
    assertion = cbor2.dumps({"signature": webauthn_style, "authenticatorData": authenticator_data})
    assert _assert(key, assertion, client_data, CHALLENGE)[0].code == "signature_invalid"


@pytest.mark.parametrize(
    ("client_data", "code"),
    [
        (b"not json", "client_data_malformed"),
        (b"[1, 2]", "client_data_malformed"),
        (b'"a string"', "client_data_malformed"),
        (b"\xff\xfe{}", "client_data_malformed"),
        (b"[" * 5000 + b"]" * 5000, "client_data_malformed"),
        (b'{"challenge": "' + b"a" * 17_000 + b'"}', "client_data_malformed"),
        (b"{}", "challenge_mismatch"),
        (b'{"challenge": 12}', "challenge_mismatch"),
        (b'{"challenge": null}', "challenge_mismatch"),
    ],
)
def test_malformed_client_data_is_rejected(
    attested: tuple[SoftwareAppAttest, AttestedKey], client_data: bytes, code: str
) -> None:
    device, key = attested
    assertion, _client_data = device.assert_request(key.key_id, CHALLENGE)
    outcome, counter = _assert(key, assertion, client_data, CHALLENGE)
    assert (outcome.accepted, outcome.code, counter) == (False, code, None), outcome.reason


def test_the_challenge_is_base64url_without_padding(
    attested: tuple[SoftwareAppAttest, AttestedKey],
) -> None:
    device, key = attested
    challenge = b"\xfb\xff\xfe?"  # base64url "-__-Pw", standard base64 "+//+Pw=="
    assertion, client_data = device.assert_request(key.key_id, challenge)
    assert b'"-__-Pw"' in client_data
    assert _assert(key, assertion, client_data, challenge)[0].accepted
    padded = client_data.replace(b'"-__-Pw"', b'"-__-Pw=="')
    assert _assert(key, assertion, padded, challenge)[0].code == "challenge_mismatch"


@pytest.mark.parametrize(
    ("assertion", "code"),
    [
        (b"", "malformed"),
        (b"\x81" * 3000 + b"\x00", "malformed"),
        (os.urandom(5000), "too_large"),
        (cbor2.dumps([b"sig", b"data"]), "format"),
        (cbor2.dumps({"signature": b"sig"}), "format"),
        (cbor2.dumps({"signature": "sig", "authenticatorData": b"x" * 37}), "format"),
        (cbor2.dumps({"signature": b"sig", "authenticatorData": b"x" * 36}), "authdata_truncated"),
        (cbor2.dumps({"signature": b"sig", "authenticatorData": b"x" * 37}), "signature_invalid"),
    ],
)
def test_malformed_assertions_are_rejected(
    attested: tuple[SoftwareAppAttest, AttestedKey], assertion: bytes, code: str
) -> None:
    _device, key = attested
    outcome, counter = _assert(key, assertion, client_data_json(CHALLENGE), CHALLENGE)
    assert (outcome.accepted, outcome.code, counter) == (False, code, None), outcome.reason


def test_an_unusable_stored_key_is_reported_not_raised(
    attested: tuple[SoftwareAppAttest, AttestedKey],
) -> None:
    device, key = attested
    assertion, client_data = device.assert_request(key.key_id, CHALLENGE)
    for broken in (b"", b"\x30\x03\x02\x01\x01", key.public_key_der[:-3]):
        damaged = dataclasses.replace(key, public_key_der=broken)
        assert _assert(damaged, assertion, client_data, CHALLENGE)[0].code == "key_unusable"


# --- property tests: hostile bytes never raise ------------------------------------------------

_CA = AppAttestCA.generate(now=NOW)
_POLICY = AppAttestPolicy(anchors=_CA.anchors(), app_ids=frozenset({APP_ID}))
_DEVICE = SoftwareAppAttest(_CA, APP_ID)
_KEY_ID = _DEVICE.generate_key()
_ATTESTATION = _DEVICE.attest_key(_KEY_ID, CHALLENGE, now=NOW)
_KEY = _verify(_ATTESTATION, _KEY_ID, _POLICY)[1]
_ASSERTION, _CLIENT_DATA = _DEVICE.assert_request(_KEY_ID, CHALLENGE, extra={"a": 1})
assert _KEY is not None


def _mutated(data: bytes, draw: st.DrawFn) -> bytes:
    index = draw(st.integers(0, len(data) - 1))
    kind = draw(st.sampled_from(["flip", "cut", "insert", "delete"]))
    if kind == "flip":
        return data[:index] + bytes([data[index] ^ draw(st.integers(1, 255))]) + data[index + 1 :]
    if kind == "cut":
        return data[:index]
    if kind == "insert":
        return data[:index] + draw(st.binary(min_size=1, max_size=8)) + data[index:]
    return data[:index] + data[index + 1 :]


@st.composite
def _mutated_attestations(draw: st.DrawFn) -> bytes:
    return _mutated(_ATTESTATION, draw)


@st.composite
def _mutated_assertions(draw: st.DrawFn) -> bytes:
    return _mutated(_ASSERTION, draw)


@settings(deadline=None)
@given(st.binary(max_size=2048), st.binary(max_size=40), st.binary(max_size=40))
def test_random_bytes_never_raise_from_verify_attestation(
    blob: bytes, key_id: bytes, challenge: bytes
) -> None:
    outcome, key = verify_attestation(
        blob, key_id=key_id, challenge=challenge, policy=_POLICY, now=NOW
    )
    assert not outcome.accepted and key is None and outcome.code


@settings(deadline=None)
@given(_mutated_attestations())
def test_mutated_attestations_never_raise(blob: bytes) -> None:
    outcome, key = verify_attestation(
        blob, key_id=_KEY_ID, challenge=CHALLENGE, policy=_POLICY, now=NOW
    )
    assert outcome.accepted == (key is not None)
    if outcome.accepted:  # only bytes no check covers may change: the receipt
        assert key is not None and key.key_id == _KEY_ID


@settings(deadline=None)
@given(st.binary(max_size=512), st.binary(max_size=512))
def test_random_bytes_never_raise_from_verify_assertion(
    assertion: bytes, client_data: bytes
) -> None:
    assert _KEY is not None
    outcome, counter = verify_assertion(
        assertion, client_data=client_data, challenge=CHALLENGE, key=_KEY
    )
    assert not outcome.accepted and counter is None


@settings(deadline=None)
@given(_mutated_assertions())
def test_mutated_assertions_are_rejected_without_raising(assertion: bytes) -> None:
    assert _KEY is not None
    outcome, counter = verify_assertion(
        assertion, client_data=_CLIENT_DATA, challenge=CHALLENGE, key=_KEY
    )
    assert not outcome.accepted and counter is None, outcome.reason


def test_the_unmutated_property_inputs_are_accepted() -> None:
    assert _KEY is not None
    outcome, counter = verify_assertion(
        _ASSERTION, client_data=_CLIENT_DATA, challenge=CHALLENGE, key=_KEY
    )
    assert outcome.accepted and counter == 1


def test_anchors_are_a_parameter_of_the_policy(ca: AppAttestCA) -> None:
    both = TrustAnchors((*apple_app_attest_anchors().certificates, ca.root_cert))
    device = SoftwareAppAttest(ca, APP_ID)
    key_id, attestation = _attested(device)
    outcome, _key = _verify(
        attestation, key_id, AppAttestPolicy(anchors=both, app_ids=frozenset({APP_ID}))
    )
    assert outcome.accepted


def test_values_of_the_wrong_type_are_malformed_not_exceptions(
    attested: tuple[SoftwareAppAttest, AttestedKey], policy: AppAttestPolicy
) -> None:
    _device, key = attested
    odd: Any = 10**12  # bytes(10**12) would try to allocate a terabyte
    for kwargs in ({"key_id": odd}, {"challenge": "text"}, {"attestation": bytearray(b"x")}):
        arguments: dict[str, Any] = {"attestation": b"\xa0", "key_id": bytes(32)}
        arguments |= {"challenge": CHALLENGE, "policy": policy, "now": NOW} | kwargs
        attestation = arguments.pop("attestation")
        outcome, _key = verify_attestation(attestation, **arguments)
        assert (outcome.accepted, outcome.code) == (False, "malformed"), kwargs
    for assertion, client_data, challenge, code in (
        (odd, b"{}", CHALLENGE, "malformed"),
        (b"\xa0", odd, CHALLENGE, "client_data_malformed"),
        (b"\xa0", b"{}", odd, "malformed"),
    ):
        outcome, _counter = verify_assertion(
            assertion, client_data=client_data, challenge=challenge, key=key
        )
        assert (outcome.accepted, outcome.code) == (False, code)
