"""Play Integrity with self-managed keys: real tokens from the software issuer round-trip, every
way a token or verdict can be wrong is rejected with its code, and each verdict label gives its
finding. No mocks: real AES key wrap, AES-GCM and ES256."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from openmtd.agent.attest.play_integrity_issuer import PlayIntegrityIssuer, verdict_payload
from openmtd.domain.integrity import AttestationOutcome, EvidenceSource, IntegrityState
from openmtd.engines.integrity.play_integrity import (
    MAX_TOKEN_CHARS,
    PlayIntegrityKeys,
    PlayIntegrityPolicy,
    PlayTokenError,
    decode_token,
    judge_verdict,
    normalize_certificate_digest,
    verify_play_integrity,
)
from openmtd.engines.integrity.verdict import combine

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
PACKAGE = "com.example.openmtd.agent"
CHALLENGE = hashlib.sha256(b"server challenge 42").digest()
BASIC = "MEETS_BASIC_INTEGRITY"
DEVICE = "MEETS_DEVICE_INTEGRITY"
STRONG = "MEETS_STRONG_INTEGRITY"
VIRTUAL = "MEETS_VIRTUAL_INTEGRITY"


def _signing_certificate(name: str) -> bytes:
    """A real self-signed app signing certificate, DER."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime(2024, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(2049, 1, 1, tzinfo=UTC))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.DER)


CERT_HEX = hashlib.sha256(_signing_certificate("OpenMTD Agent")).hexdigest()
OTHER_CERT_HEX = hashlib.sha256(_signing_certificate("Repackager")).hexdigest()
ISSUER = PlayIntegrityIssuer.generate()
OTHER_ISSUER = PlayIntegrityIssuer.generate()
KEYS = PlayIntegrityKeys.from_base64(*ISSUER.keys_base64())
POLICY = PlayIntegrityPolicy(PACKAGE, frozenset({CERT_HEX}))


def payload(**changes: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "challenge": CHALLENGE,
        "package_name": PACKAGE,
        "certificate_sha256": CERT_HEX,
        "labels": [BASIC, DEVICE],
        "now": NOW,
    }
    arguments.update(changes)
    return verdict_payload(**arguments)


def verify(
    token: str, *, policy: PlayIntegrityPolicy = POLICY, now: datetime = NOW
) -> AttestationOutcome:
    return verify_play_integrity(token, keys=KEYS, challenge=CHALLENGE, policy=policy, now=now)


def rule_ids(outcome: AttestationOutcome) -> set[str]:
    return {f.rule_id for f in outcome.findings}


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def flip(part: str, index: int) -> str:
    """`part` with the base64url character at `index` changed to another one."""
    replacement = "A" if part[index] != "A" else "B"
    return part[:index] + replacement + part[index + 1 :]


# --------------------------------------------------------------------------------------------
# Round trip
# --------------------------------------------------------------------------------------------


def test_a_real_token_round_trips() -> None:
    document = payload(version_code=4021, sdk_version=35)
    token = ISSUER.token(document)
    assert token.count(".") == 4
    assert decode_token(token, KEYS) == document
    outcome = verify(token)
    assert outcome.accepted, outcome.reason
    assert outcome.code == "ok"
    assert outcome.source is EvidenceSource.PLAY_INTEGRITY
    assert outcome.findings == ()
    facts = outcome.facts_dict
    assert facts["labels"] == f"{BASIC},{DEVICE}"
    assert facts["app_verdict"] == "PLAY_RECOGNIZED"
    assert facts["package"] == PACKAGE
    assert facts["version_code"] == "4021"
    assert facts["timestamp"] == "2026-11-26T12:00:00.000+00:00"
    assert facts["play_protect"] == "NO_ISSUES"
    assert facts["licensing"] == "LICENSED"
    assert facts["sdk_version"] == "35"


def test_the_issuer_hands_out_console_style_keys() -> None:
    decryption, verification = ISSUER.keys_base64()
    assert len(base64.b64decode(decryption, validate=True)) == 32
    public = serialization.load_der_public_key(base64.b64decode(verification, validate=True))
    assert isinstance(public, ec.EllipticCurvePublicKey)
    assert public.curve.name == "secp256r1"


def test_headers_are_the_documented_ones() -> None:
    token = ISSUER.token(payload())
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header == {"alg": "A256KW", "enc": "A256GCM"}


def test_the_classic_api_nonce_binds_too() -> None:
    outcome = verify(ISSUER.token(payload(classic=True)))
    assert outcome.accepted, outcome.reason
    padded = payload()
    padded["requestDetails"]["requestHash"] += "=" * (-len(b64url(CHALLENGE)) % 4)
    assert judge_verdict(padded, challenge=CHALLENGE, policy=POLICY, now=NOW).accepted


def test_keys_accept_whitespace_and_urlsafe_forms() -> None:
    decryption, verification = ISSUER.keys_base64()
    wrapped = "\n".join(verification[i : i + 64] for i in range(0, len(verification), 64))
    urlsafe = base64.urlsafe_b64encode(base64.b64decode(decryption)).decode().rstrip("=")
    keys = PlayIntegrityKeys.from_base64(urlsafe, wrapped)
    assert decode_token(ISSUER.token(payload()), keys)["requestDetails"]["requestPackageName"]


# --------------------------------------------------------------------------------------------
# Token rejections
# --------------------------------------------------------------------------------------------


def test_wrong_decryption_key() -> None:
    outcome = verify(OTHER_ISSUER.token(payload()))
    assert not outcome.accepted
    assert outcome.code == "decryption_failed"
    assert outcome.findings == ()


def test_wrong_verification_key() -> None:
    keys = PlayIntegrityKeys.from_base64(ISSUER.keys_base64()[0], OTHER_ISSUER.keys_base64()[1])
    outcome = verify_play_integrity(
        ISSUER.token(payload()), keys=keys, challenge=CHALLENGE, policy=POLICY, now=NOW
    )
    assert (outcome.accepted, outcome.code) == (False, "signature_invalid")


@pytest.mark.parametrize(("part", "what"), [(1, "wrapped key"), (3, "ciphertext"), (4, "tag")])
def test_tampered_parts_do_not_decrypt(part: int, what: str) -> None:
    parts = ISSUER.token(payload()).split(".")
    parts[part] = flip(parts[part], 5)
    outcome = verify(".".join(parts))
    assert outcome.code == "decryption_failed", what


def test_a_changed_header_breaks_the_aead() -> None:
    parts = ISSUER.token(payload()).split(".")
    parts[0] = b64url(b'{"enc":"A256GCM","alg":"A256KW"}')  # same meaning, other bytes
    assert verify(".".join(parts)).code == "decryption_failed"


def test_a_ciphertext_from_another_token_does_not_decrypt() -> None:
    first = ISSUER.token(payload()).split(".")
    second = ISSUER.token(payload(labels=[])).split(".")
    assert verify(".".join([*first[:3], second[3], first[4]])).code == "decryption_failed"


@pytest.mark.parametrize(
    "header",
    [
        {"alg": "A128KW", "enc": "A256GCM"},
        {"alg": "A256KW", "enc": "A128CBC-HS256"},
        {"alg": "dir", "enc": "A256GCM"},
        {"enc": "A256GCM"},
        {"alg": "A256KW", "enc": "A256GCM", "zip": "DEF"},
        {"alg": "A256KW", "enc": "A256GCM", "crit": ["exp"]},
    ],
)
def test_wrong_jwe_algorithms(header: dict[str, Any]) -> None:
    token = ISSUER.sign_and_encrypt(json.dumps(payload()).encode(), jwe_header=header)
    outcome = verify(token)
    assert outcome.code == "unsupported_algorithm"
    assert "A256KW" in outcome.reason or "never uses" in outcome.reason


@pytest.mark.parametrize(
    "header", [{"alg": "none"}, {"alg": "RS256"}, {"alg": "HS256"}, {"alg": "ES384"}, {}]
)
def test_wrong_jws_algorithms(header: dict[str, Any]) -> None:
    token = ISSUER.sign_and_encrypt(json.dumps(payload()).encode(), jws_header=header)
    assert verify(token).code == "unsupported_algorithm"


def test_a_signature_by_another_key() -> None:
    jws = OTHER_ISSUER.sign(json.dumps(payload()).encode())
    assert verify(ISSUER.encrypt(jws)).code == "signature_invalid"


def test_a_swapped_payload_breaks_the_signature() -> None:
    header, _, signature = ISSUER.sign(json.dumps(payload()).encode()).split(".")
    forged = b64url(json.dumps(payload(labels=[BASIC, DEVICE, STRONG])).encode())
    assert verify(ISSUER.encrypt(f"{header}.{forged}.{signature}")).code == "signature_invalid"


@pytest.mark.parametrize("length", [0, 32, 63, 65, 72])
def test_a_signature_of_the_wrong_length(length: int) -> None:
    header, body, _ = ISSUER.sign(json.dumps(payload()).encode()).split(".")
    jws = f"{header}.{body}.{b64url(bytes(length))}"
    assert verify(ISSUER.encrypt(jws)).code == "signature_invalid"


def test_an_all_zero_signature() -> None:
    header, body, _ = ISSUER.sign(json.dumps(payload()).encode()).split(".")
    assert verify(ISSUER.encrypt(f"{header}.{body}.{b64url(bytes(64))}")).code == (
        "signature_invalid"
    )


@pytest.mark.parametrize(
    ("cut", "code"),
    [
        (lambda t: t[: t.rindex(".")], "token_malformed"),  # last part gone: 4 parts
        (lambda t: t[:-6], "token_malformed"),  # tag shortened
        (lambda t: t[: t.index(".") + 10], "token_malformed"),
        (lambda t: t[:10], "token_malformed"),
        (lambda t: "", "token_malformed"),
    ],
)
def test_truncated_tokens(cut: Any, code: str) -> None:
    assert verify(cut(ISSUER.token(payload()))).code == code


def test_a_six_part_token() -> None:
    outcome = verify(ISSUER.token(payload()) + ".AAAA")
    assert outcome.code == "token_malformed"
    assert "6" in outcome.reason


def test_a_three_part_token_is_not_accepted_as_a_bare_jws() -> None:
    assert verify(ISSUER.sign(json.dumps(payload()).encode())).code == "token_malformed"


def test_a_huge_token() -> None:
    outcome = verify("A" * (MAX_TOKEN_CHARS + 1))
    assert outcome.code == "token_too_large"
    assert str(MAX_TOKEN_CHARS) in outcome.reason


def test_a_big_but_allowed_token_is_read() -> None:
    document = payload()
    document["padding"] = "p" * 15_000
    token = ISSUER.token(document)
    assert len(token) < MAX_TOKEN_CHARS
    assert verify(token).accepted


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"not json", "payload_malformed"),
        (b"", "payload_malformed"),
        (b"[1, 2, 3]", "payload_malformed"),
        (b'"a string"', "payload_malformed"),
        (b"\xff\xfe{}", "payload_malformed"),
        (b"[" * 5000 + b"]" * 5000, "payload_malformed"),
        (b'{"a": ' + b"9" * 5000 + b"}", "payload_malformed"),
    ],
)
def test_payloads_that_are_not_a_json_object(body: bytes, code: str) -> None:
    assert verify(ISSUER.sign_and_encrypt(body)).code == code


@pytest.mark.parametrize(
    "token",
    [
        "a.b.c.d.e",
        "....",
        "!!!!.AAAA.AAAA.AAAA.AAAA",
        "e30.AAAA.AAAA.AAAA.AAAA",  # {} header: no algorithms
        "é.é.é.é.é",
        "A.A.A.A.A",  # base64url of impossible length
    ],
)
def test_garbage_tokens(token: str) -> None:
    outcome = verify(token)
    assert not outcome.accepted
    assert outcome.code in {"token_malformed", "unsupported_algorithm"}


def test_a_non_ascii_jws_inside() -> None:
    assert verify(ISSUER.encrypt("héllo.wörld.x")).code == "token_malformed"


def test_decode_token_raises_with_a_code() -> None:
    with pytest.raises(PlayTokenError) as raised:
        decode_token("x.y", KEYS)
    assert raised.value.code == "token_malformed"
    assert "5" in raised.value.reason


# --------------------------------------------------------------------------------------------
# Binding rejections
# --------------------------------------------------------------------------------------------


def test_stale_verdict() -> None:
    token = ISSUER.token(payload())
    outcome = verify(token, now=NOW + timedelta(minutes=6))
    assert (outcome.accepted, outcome.code) == (False, "stale")
    assert "6.0 min" in outcome.reason
    assert verify(token, now=NOW + timedelta(minutes=5)).accepted


def test_max_age_comes_from_the_policy() -> None:
    strict = PlayIntegrityPolicy(PACKAGE, frozenset({CERT_HEX}), max_age=timedelta(seconds=30))
    token = ISSUER.token(payload())
    assert verify(token, policy=strict, now=NOW + timedelta(seconds=31)).code == "stale"


def test_verdict_from_the_future() -> None:
    outcome = verify(ISSUER.token(payload(now=NOW + timedelta(minutes=2))))
    assert (outcome.accepted, outcome.code) == (False, "stale")
    assert "future" in outcome.reason
    assert verify(ISSUER.token(payload(now=NOW + timedelta(seconds=59)))).accepted


def test_challenge_mismatch() -> None:
    token = ISSUER.token(payload(challenge=b"another challenge"))
    outcome = verify(token)
    assert (outcome.accepted, outcome.code) == (False, "challenge_mismatch")


def test_an_empty_challenge_never_matches() -> None:
    document = payload(challenge=b"")
    outcome = judge_verdict(document, challenge=b"", policy=POLICY, now=NOW)
    assert outcome.code == "challenge_mismatch"


def test_a_verdict_without_request_hash_or_nonce() -> None:
    document = payload()
    del document["requestDetails"]["requestHash"]
    assert judge_verdict(document, challenge=CHALLENGE, policy=POLICY, now=NOW).code == (
        "challenge_mismatch"
    )


def test_package_mismatch() -> None:
    outcome = verify(ISSUER.token(payload(package_name="com.evil.clone")))
    assert (outcome.accepted, outcome.code) == (False, "package_mismatch")
    assert "com.evil.clone" in outcome.reason


@pytest.mark.parametrize("stamp", [None, "soon", "", "12.5", True, [1], "9" * 40])
def test_a_missing_or_odd_timestamp(stamp: object) -> None:
    document = payload()
    document["requestDetails"]["timestampMillis"] = stamp
    outcome = judge_verdict(document, challenge=CHALLENGE, policy=POLICY, now=NOW)
    assert outcome.code in {"payload_malformed", "stale"}
    assert not outcome.accepted


def test_an_integer_timestamp_and_a_naive_now_are_fine() -> None:
    document = payload()
    document["requestDetails"]["timestampMillis"] = int(NOW.timestamp() * 1000)
    naive = NOW.replace(tzinfo=None)
    assert judge_verdict(document, challenge=CHALLENGE, policy=POLICY, now=naive).accepted


@pytest.mark.parametrize(
    "document",
    [
        {},
        {"requestDetails": 5},
        {"requestDetails": []},
        {"requestDetails": {"requestHash": 7}},
    ],
)
def test_malformed_verdicts_from_google_are_rejected(document: dict[str, Any]) -> None:
    outcome = judge_verdict(document, challenge=CHALLENGE, policy=POLICY, now=NOW)
    assert not outcome.accepted
    assert outcome.code in {"payload_malformed", "challenge_mismatch"}


def test_a_verdict_that_is_not_a_mapping() -> None:
    outcome = judge_verdict([], challenge=CHALLENGE, policy=POLICY, now=NOW)  # type: ignore[arg-type]
    assert outcome.code == "payload_malformed"


# --------------------------------------------------------------------------------------------
# Findings
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("labels", "expected", "state"),
    [
        ([BASIC, DEVICE, STRONG], set(), IntegrityState.CLEAN),
        ([BASIC, DEVICE], set(), IntegrityState.CLEAN),
        ([], {"play_integrity.no_integrity"}, IntegrityState.COMPROMISED),
        (["SOMETHING_NEW"], {"play_integrity.no_integrity"}, IntegrityState.COMPROMISED),
        ([BASIC], {"play_integrity.basic_integrity_only"}, IntegrityState.COMPROMISED),
        ([VIRTUAL], {"play_integrity.virtual_device"}, IntegrityState.SUSPICIOUS),
        ([BASIC, VIRTUAL], {"play_integrity.virtual_device"}, IntegrityState.SUSPICIOUS),
    ],
)
def test_device_labels(labels: list[str], expected: set[str], state: IntegrityState) -> None:
    outcome = verify(ISSUER.token(payload(labels=labels)))
    assert outcome.accepted
    assert rule_ids(outcome) == expected
    assert combine(outcome.findings).state is state
    for finding in outcome.findings:
        assert finding.source is EvidenceSource.PLAY_INTEGRITY
        assert finding.rule_id.startswith("play_integrity.")


def test_no_labels_is_conclusive_and_weighs_100() -> None:
    (finding,) = verify(ISSUER.token(payload(labels=[]))).findings
    assert (finding.weight, finding.conclusive) == (100, True)
    assert finding.evidence == (("deviceRecognitionVerdict", "none"),)


def test_basic_only_is_conclusive() -> None:
    (finding,) = verify(ISSUER.token(payload(labels=[BASIC]))).findings
    assert (finding.weight, finding.conclusive) == (80, True)


def test_virtual_only_weighs_50() -> None:
    (finding,) = verify(ISSUER.token(payload(labels=[VIRTUAL]))).findings
    assert (finding.weight, finding.conclusive) == (50, False)


def test_strong_integrity_when_the_policy_requires_it() -> None:
    strong = PlayIntegrityPolicy(PACKAGE, frozenset({CERT_HEX}), require_strong=True)
    device_only = verify(ISSUER.token(payload()), policy=strong)
    (finding,) = device_only.findings
    assert (finding.rule_id, finding.weight) == ("play_integrity.strong_integrity_missing", 40)
    assert combine(device_only.findings).state is IntegrityState.SUSPICIOUS
    full = verify(ISSUER.token(payload(labels=[BASIC, DEVICE, STRONG])), policy=strong)
    assert full.findings == ()


@pytest.mark.parametrize(
    ("app_verdict", "rule_id", "weight"),
    [
        ("UNRECOGNIZED_VERSION", "play_integrity.app_unrecognized", 80),
        ("UNEVALUATED", "play_integrity.app_unevaluated", 20),
    ],
)
def test_app_verdicts(app_verdict: str, rule_id: str, weight: int) -> None:
    outcome = verify(ISSUER.token(payload(app_verdict=app_verdict)))
    (finding,) = outcome.findings
    assert (finding.rule_id, finding.weight) == (rule_id, weight)
    assert outcome.facts_dict["app_verdict"] == app_verdict


def test_an_unevaluated_app_has_no_details_to_check() -> None:
    document = payload(app_verdict="UNEVALUATED")
    assert set(document["appIntegrity"]) == {"appRecognitionVerdict"}
    assert verify(ISSUER.token(document)).facts_dict["package"] == PACKAGE


def test_an_unknown_signing_certificate() -> None:
    outcome = verify(ISSUER.token(payload(certificate_sha256=OTHER_CERT_HEX)))
    (finding,) = outcome.findings
    assert (finding.rule_id, finding.weight) == ("play_integrity.certificate_unknown", 80)
    assert finding.evidence == (
        ("certificateSha256Digest", normalize_certificate_digest(OTHER_CERT_HEX)),
    )
    assert combine(outcome.findings).state is IntegrityState.COMPROMISED


def test_an_unconfigured_signer_list_is_not_checked() -> None:
    open_policy = PlayIntegrityPolicy(PACKAGE)
    outcome = verify(ISSUER.token(payload(certificate_sha256=OTHER_CERT_HEX)), policy=open_policy)
    assert outcome.findings == ()


def test_app_integrity_for_another_package() -> None:
    document = payload()
    document["appIntegrity"]["packageName"] = "com.evil.clone"
    outcome = verify(ISSUER.token(document))
    assert outcome.accepted
    assert rule_ids(outcome) == {"play_integrity.app_package_mismatch"}
    assert outcome.findings[0].weight == 80


@pytest.mark.parametrize(
    ("verdict", "rule_id", "weight"),
    [
        ("HIGH_RISK", "play_integrity.play_protect_high_risk", 50),
        ("MEDIUM_RISK", "play_integrity.play_protect_medium_risk", 30),
        ("POSSIBLE_RISK", "play_integrity.play_protect_possible_risk", 10),
    ],
)
def test_play_protect_risks(verdict: str, rule_id: str, weight: int) -> None:
    outcome = verify(ISSUER.token(payload(play_protect=verdict)))
    (finding,) = outcome.findings
    assert (finding.rule_id, finding.weight, finding.conclusive) == (rule_id, weight, False)
    assert outcome.facts_dict["play_protect"] == verdict


@pytest.mark.parametrize("verdict", ["NO_ISSUES", "NO_DATA", "UNEVALUATED", "SOMETHING_NEW"])
def test_play_protect_without_risk(verdict: str) -> None:
    assert verify(ISSUER.token(payload(play_protect=verdict))).findings == ()


def test_everything_wrong_at_once() -> None:
    document = payload(
        labels=[], app_verdict="UNRECOGNIZED_VERSION", play_protect="HIGH_RISK",
        certificate_sha256=OTHER_CERT_HEX,
    )  # fmt: skip
    outcome = verify(ISSUER.token(document))
    assert rule_ids(outcome) == {
        "play_integrity.no_integrity",
        "play_integrity.app_unrecognized",
        "play_integrity.certificate_unknown",
        "play_integrity.play_protect_high_risk",
    }


def test_odd_field_types_in_an_accepted_verdict_are_ignored() -> None:
    document = payload()
    document["deviceIntegrity"] = {"deviceRecognitionVerdict": "MEETS_DEVICE_INTEGRITY"}
    document["appIntegrity"] = {"certificateSha256Digest": [5, None], "packageName": 3}
    document["environmentDetails"] = []
    document["accountDetails"] = {"appLicensingVerdict": {"x": 1}}
    outcome = judge_verdict(document, challenge=CHALLENGE, policy=POLICY, now=NOW)
    assert outcome.accepted
    assert rule_ids(outcome) == {
        "play_integrity.no_integrity",
        "play_integrity.certificate_unknown",
    }


# --------------------------------------------------------------------------------------------
# Keys and policy
# --------------------------------------------------------------------------------------------


def test_certificate_digest_forms_normalise_alike() -> None:
    raw = bytes.fromhex(CERT_HEX)
    forms = [
        CERT_HEX,
        CERT_HEX.upper(),
        ":".join(CERT_HEX[i : i + 2] for i in range(0, 64, 2)),
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode(),
        b64url(raw),
    ]
    assert {normalize_certificate_digest(form) for form in forms} == {b64url(raw)}
    assert PlayIntegrityPolicy(PACKAGE, frozenset(forms)).certificate_sha256 == {b64url(raw)}


@pytest.mark.parametrize("digest", ["", "abc", "zz" * 32, b64url(bytes(20)), "!" * 43])
def test_bad_certificate_digests(digest: str) -> None:
    with pytest.raises(ValueError):
        normalize_certificate_digest(digest)
    with pytest.raises(ValueError):
        PlayIntegrityPolicy(PACKAGE, frozenset({digest}))


def _public_b64(key: Any) -> str:
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


@pytest.mark.parametrize(
    ("decryption", "verification", "message"),
    [
        (base64.b64encode(bytes(16)).decode(), None, "32"),
        ("not base64!", None, "base64"),
        (None, "not base64!", "base64"),
        (None, base64.b64encode(b"junk").decode(), "DER"),
        (None, _public_b64(rsa.generate_private_key(65537, 2048)), "P-256"),
        (None, _public_b64(ec.generate_private_key(ec.SECP384R1())), "P-256"),
    ],
)
def test_bad_console_keys(decryption: str | None, verification: str | None, message: str) -> None:
    good_decryption, good_verification = ISSUER.keys_base64()
    with pytest.raises(ValueError, match=message):
        PlayIntegrityKeys.from_base64(
            decryption or good_decryption, verification or good_verification
        )


def test_keys_do_not_print_the_secret() -> None:
    assert ISSUER.keys_base64()[0] not in repr(KEYS)
    assert repr(KEYS.decryption_key) not in repr(KEYS)


# --------------------------------------------------------------------------------------------
# Nothing raises
# --------------------------------------------------------------------------------------------

GOOD_TOKEN = ISSUER.token(payload())


@st.composite
def mutated_tokens(draw: st.DrawFn) -> str:
    token = GOOD_TOKEN
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["replace", "delete", "insert", "parts"]))
        position = draw(st.integers(0, max(0, len(token) - 1)))
        if kind == "replace" and token:
            token = token[:position] + draw(st.characters()) + token[position + 1 :]
        elif kind == "delete":
            token = token[:position] + token[position + draw(st.integers(1, 40)) :]
        elif kind == "insert":
            token = token[:position] + draw(st.text(max_size=20)) + token[position:]
        else:
            parts = token.split(".")
            token = ".".join(draw(st.permutations(parts))[: draw(st.integers(0, len(parts) + 1))])
    return token


@settings(max_examples=150)
@given(mutated_tokens())
def test_mutated_tokens_never_raise(token: str) -> None:
    outcome = verify(token)
    assert outcome.accepted == (outcome.code == "ok")
    if not outcome.accepted:
        assert outcome.reason and outcome.findings == ()


@given(st.text(max_size=400))
def test_arbitrary_text_never_raises(token: str) -> None:
    assert not verify(token).accepted


SCALARS = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
)


def _containers(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)


JSON = st.recursive(SCALARS, _containers, max_leaves=20)
FIELDS = st.sampled_from(
    ["requestDetails", "appIntegrity", "deviceIntegrity", "accountDetails", "environmentDetails"]
)


@given(st.dictionaries(FIELDS, JSON, max_size=5), st.booleans())
def test_arbitrary_verdict_shapes_never_raise(changes: dict[str, Any], keep_binding: bool) -> None:
    document = payload()
    document.update(changes)
    if keep_binding:
        document["requestDetails"] = payload()["requestDetails"]
    outcome = judge_verdict(document, challenge=CHALLENGE, policy=POLICY, now=NOW)
    assert outcome.accepted == (outcome.code == "ok")
    if keep_binding:
        assert outcome.accepted


@settings(max_examples=30)
@given(st.dictionaries(st.text(max_size=10), JSON, max_size=6))
def test_signed_arbitrary_payloads_never_raise(document: dict[str, Any]) -> None:
    outcome = verify(ISSUER.token(document))
    assert not outcome.accepted or document.get("requestDetails") is not None
