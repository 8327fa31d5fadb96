"""Android Key Attestation verification: Google's real sample chains, chains from the
software test keystore for every finding, and every way a chain can be wrong."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

from conftest import SHARED
from openmtd.agent.attest.android_keystore import (
    TEST_SIGNER_SHA256,
    AttestationCA,
    key_description,
)
from openmtd.domain.enums import Platform
from openmtd.domain.integrity import AttestationOutcome, EvidenceSource
from openmtd.engines.integrity.key_attestation import KeyAttestationPolicy, verify_key_attestation
from openmtd.engines.integrity.key_description import (
    KEY_DESCRIPTION_OID,
    Enforcement,
    KeyDescription,
    encode_key_description,
)
from openmtd.engines.integrity.revocation import RevocationList, parse_status_json
from openmtd.engines.integrity.roots import anchors_from_pem, google_key_attestation_anchors

DATA = SHARED / "data" / "android-key-attestation"
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)  # the 2016 root has expired, intermediates not
NONCE = b"server challenge 0123456789abcdef"
AGENT = "com.openmtd.agent"


@cache
def real_chain(name: str) -> tuple[bytes, ...]:
    folder = DATA / "chains" / "der" / f"algorithm_{name}"
    return tuple((folder / f"cert{i}.der").read_bytes() for i in range(4))


def google_policy(revocations: RevocationList | None = None) -> KeyAttestationPolicy:
    return KeyAttestationPolicy(
        anchors=google_key_attestation_anchors(),
        revocations=revocations or RevocationList(),
    )


def verify_real(chain: tuple[bytes, ...] | list[bytes], **kwargs: object) -> AttestationOutcome:
    policy = kwargs.pop("policy", google_policy())
    now = kwargs.pop("now", NOW)
    challenge = kwargs.pop("challenge", b"abc")
    assert not kwargs
    return verify_key_attestation(
        list(chain),
        challenge=challenge,  # type: ignore[arg-type]
        policy=policy,  # type: ignore[arg-type]
        now=now,  # type: ignore[arg-type]
    )


def rejected(outcome: AttestationOutcome, code: str) -> str:
    assert outcome.source is EvidenceSource.KEY_ATTESTATION
    assert not outcome.accepted, outcome.reason
    assert outcome.code == code, outcome.reason
    assert outcome.findings == ()
    assert outcome.reason
    return outcome.reason


def rule_ids(outcome: AttestationOutcome) -> set[str]:
    return {f.rule_id for f in outcome.findings}


# --- Google's real chains ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["EC_SecurityLevel_TEE", "RSA_SecurityLevel_TEE"])
def test_real_tee_chain_verifies_against_the_bundled_google_roots(name: str) -> None:
    outcome = verify_real(real_chain(name))
    assert outcome.accepted, outcome.reason
    assert outcome.code == "ok"
    facts = outcome.facts_dict
    assert facts["security_level"] == "TrustedEnvironment"
    assert facts["keymint_security_level"] == "TrustedEnvironment"
    assert facts["attestation_version"] == "3"
    assert facts["verified_boot_state"] == "Unverified"
    assert facts["device_locked"] == "false"
    assert facts["verified_boot_key"] == "00" * 32
    assert facts["os_version"] == "unknown"  # the sample device reports osVersion 0
    assert facts["os_patch_level"] == "2019-07"
    assert facts["vendor_patch_level"] == "2019-07"
    assert facts["boot_patch_level"] == "2019-07"
    assert facts["packages"].startswith("android (29), com.android.keychain (29)")
    assert facts["signer_sha256"] == (
        "301aa3cb081134501c45f1422abc66c24224fd5ded5fdc8f17e697176fd866aa"
    )
    assert facts["root_serial"] == "e8fa196314d2fa18"
    assert facts["anchor_subject"] == "2.5.4.5=f92009e853b6b045"
    # the sample device is a development device: unlocked, unverified boot
    assert rule_ids(outcome) == {
        "key_attestation.bootloader_unlocked",
        "key_attestation.boot_unverified",
    }
    assert all(f.conclusive and f.weight == 100 for f in outcome.findings)


def test_ec_strongbox_leaf_cannot_even_be_parsed() -> None:
    reason = rejected(
        verify_real(real_chain("EC_SecurityLevel_StrongBox")), "certificate_malformed"
    )
    assert reason.startswith("certificate 0 is not a DER X.509 certificate")


def test_rsa_strongbox_chain_ends_in_a_non_google_root() -> None:
    reason = rejected(verify_real(real_chain("RSA_SecurityLevel_StrongBox")), "chain_untrusted")
    assert "e35d38c6897d47e8" in reason


def test_real_chain_in_2030_has_expired_intermediates() -> None:
    reason = rejected(
        verify_real(real_chain("EC_SecurityLevel_TEE"), now=datetime(2030, 1, 1, tzinfo=UTC)),
        "certificate_expired",
    )
    assert "certificate 1" in reason and "2028-03-18" in reason


def test_real_chain_before_its_intermediates_existed() -> None:
    rejected(
        verify_real(real_chain("RSA_SecurityLevel_TEE"), now=datetime(2017, 1, 1, tzinfo=UTC)),
        "certificate_not_yet_valid",
    )


def test_googles_sample_status_list_does_not_revoke_the_sample_chain() -> None:
    revocations = parse_status_json((DATA / "status.json").read_bytes())
    assert verify_real(
        real_chain("EC_SecurityLevel_TEE"), policy=google_policy(revocations)
    ).accepted


@pytest.mark.parametrize(("index", "status"), [(1, "REVOKED"), (2, "SUSPENDED"), (3, "REVOKED")])
def test_revoked_or_suspended_certificate_rejects_the_chain(index: int, status: str) -> None:
    chain = real_chain("EC_SecurityLevel_TEE")
    serial = x509.load_der_x509_certificate(chain[index]).serial_number
    document = {"entries": {f"{serial:x}": {"status": status, "reason": "KEY_COMPROMISE"}}}
    listed = parse_status_json(json.dumps(document).encode())
    reason = rejected(verify_real(chain, policy=google_policy(listed)), "revoked")
    assert f"certificate {index} (serial {serial:x}" in reason
    assert status in reason and "KEY_COMPROMISE" in reason


def test_wrong_challenge_is_rejected() -> None:
    reason = rejected(
        verify_real(real_chain("RSA_SecurityLevel_TEE"), challenge=b"abd"), "challenge_mismatch"
    )
    assert "3 bytes" in reason


def test_reversed_chain_is_rejected() -> None:
    rejected(verify_real(real_chain("EC_SecurityLevel_TEE")[::-1]), "chain_order")


def test_chain_with_a_missing_intermediate_is_rejected() -> None:
    chain = real_chain("EC_SecurityLevel_TEE")
    reason = rejected(verify_real([chain[0], chain[2], chain[3]]), "chain_broken")
    assert "certificate 0 is not issued by certificate 1" in reason


def test_chain_under_a_foreign_root_is_rejected() -> None:
    chain = real_chain("EC_SecurityLevel_TEE")
    foreign = keystore_ca().root_certificate.public_bytes(serialization.Encoding.DER)
    rejected(verify_real([*chain[:3], foreign]), "chain_broken")


def test_chain_may_leave_out_googles_root() -> None:
    outcome = verify_real(real_chain("EC_SecurityLevel_TEE")[:3])
    assert outcome.accepted, outcome.reason
    assert outcome.facts_dict["anchor_subject"] == "2.5.4.5=f92009e853b6b045"


def test_facts_name_the_pinned_root_not_a_look_alike_carrying_its_key() -> None:
    # the top certificate is matched by key only, so anyone can re-wrap Google's key in a
    # certificate of their own making; the facts must name the pinned certificate
    chain = real_chain("EC_SecurityLevel_TEE")
    google_root = x509.load_der_x509_certificate(chain[3])
    look_alike = (
        x509.CertificateBuilder()
        .subject_name(google_root.subject)
        .issuer_name(google_root.subject)
        .public_key(google_root.public_key())
        .serial_number(0x1234)
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=1))
        .sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256())
    )
    outcome = verify_real([*chain[:3], look_alike.public_bytes(serialization.Encoding.DER)])
    assert outcome.accepted, outcome.reason
    pinned = {f"{c.serial_number:x}" for c in google_key_attestation_anchors().certificates}
    assert outcome.facts_dict["root_serial"] in pinned
    assert outcome.facts_dict["root_serial"] != "1234"


def test_truncated_der_is_rejected() -> None:
    chain = real_chain("EC_SecurityLevel_TEE")
    reason = rejected(verify_real([chain[0][:-10], *chain[1:]]), "certificate_malformed")
    assert reason.startswith("certificate 0 ")


def test_invalid_x509_version_is_rejected() -> None:
    chain = real_chain("EC_SecurityLevel_TEE")
    version_3 = b"\xa0\x03\x02\x01\x02"  # [0] EXPLICIT INTEGER 2 = X.509 v3
    assert chain[1].count(version_3) == 1
    v4 = chain[1].replace(version_3, b"\xa0\x03\x02\x01\x03")
    reason = rejected(verify_real([chain[0], v4, *chain[2:]]), "certificate_malformed")
    assert reason.startswith("certificate 1 ") and "version" in reason


def test_random_bytes_are_rejected() -> None:
    rejected(verify_real([os.urandom(600), os.urandom(800)]), "certificate_malformed")


def test_empty_chain_is_rejected() -> None:
    rejected(verify_real([]), "chain_empty")


def test_eleven_certificates_are_too_many() -> None:
    chain = real_chain("EC_SecurityLevel_TEE")
    rejected(verify_real([chain[0]] * 8 + list(chain[1:])), "chain_too_long")


def test_values_that_are_not_bytes_are_rejected() -> None:
    reason = rejected(verify_real(["not bytes"]), "certificate_malformed")  # type: ignore[list-item]
    assert "str" in reason


# --- forged leaves ----------------------------------------------------------------------------


@cache
def keystore_ca() -> AttestationCA:
    return AttestationCA.generate()


def policy_for(ca: AttestationCA, **overrides: object) -> KeyAttestationPolicy:
    policy = KeyAttestationPolicy(
        anchors=anchors_from_pem(ca.root_pem()),
        revocations=RevocationList(),
        allowed_packages=frozenset({AGENT}),
        allowed_signer_sha256=frozenset({TEST_SIGNER_SHA256}),
    )
    return replace(policy, **overrides)  # type: ignore[arg-type]


def certificate(
    *,
    issuer: x509.Certificate,
    issuer_key: ec.EllipticCurvePrivateKey,
    extension: bytes | None,
    subject: str = "forged",
    key: ec.EllipticCurvePrivateKey | None = None,
) -> bytes:
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(issuer.subject)
        .public_key((key or ec.generate_private_key(ec.SECP256R1())).public_key())
        .serial_number(7)
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=1))
    )
    if extension is not None:
        builder = builder.add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier(KEY_DESCRIPTION_OID), extension),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def attested_without_key_usage(
    ca: AttestationCA, challenge: bytes, **attributes: Any
) -> tuple[bytes, ec.EllipticCurvePrivateKey]:
    """A genuinely attested key whose certificate states no key usage (some keystores omit
    it), so the chain walk alone cannot tell that it must not sign certificates."""
    key = ec.generate_private_key(ec.SECP256R1())
    der = certificate(
        issuer=ca.intermediate_certificate,
        issuer_key=ca.intermediate_key,  # type: ignore[arg-type]
        extension=encode_key_description(key_description(challenge, now=NOW, **attributes)),
        subject="Android Keystore Key",
        key=key,
    )
    return der, key


def test_forged_leaf_signed_by_a_genuine_attested_key_is_rejected() -> None:
    ca = keystore_ca()
    # a genuinely attested key on a rooted device (unlocked, attacker's own challenge) ...
    genuine, genuine_key = attested_without_key_usage(ca, b"old", device_locked=False)
    # ... signs a leaf claiming a locked, verified device and the server's fresh challenge
    forged = certificate(
        issuer=x509.load_der_x509_certificate(genuine),
        issuer_key=genuine_key,
        extension=encode_key_description(key_description(NONCE, now=NOW)),
    )
    outcome = verify_key_attestation(
        [forged, genuine, *ca_tail(ca)], challenge=NONCE, policy=policy_for(ca), now=NOW
    )
    reason = rejected(outcome, "extension_in_several_certificates")
    assert "certificates 0, 1" in reason


def test_a_signing_only_attested_key_cannot_issue_certificates() -> None:
    ca = keystore_ca()
    genuine = ca.issue(key_description(b"old", device_locked=False, now=NOW))
    forged = certificate(
        issuer=x509.load_der_x509_certificate(genuine.chain[0]),
        issuer_key=genuine.private_key,
        extension=encode_key_description(key_description(NONCE, now=NOW)),
    )
    outcome = verify_key_attestation(
        [forged, *genuine.chain], challenge=NONCE, policy=policy_for(ca), now=NOW
    )
    assert "key usage does not allow signing certificates" in rejected(outcome, "chain_broken")


def test_leaf_without_extension_above_an_attested_key_is_rejected() -> None:
    ca = keystore_ca()
    genuine, genuine_key = attested_without_key_usage(ca, NONCE)
    plain = certificate(
        issuer=x509.load_der_x509_certificate(genuine),
        issuer_key=genuine_key,
        extension=None,
    )
    outcome = verify_key_attestation(
        [plain, genuine, *ca_tail(ca)], challenge=NONCE, policy=policy_for(ca), now=NOW
    )
    assert "certificate 1" in rejected(outcome, "extension_not_in_leaf")


def test_leaf_without_any_extension_is_rejected() -> None:
    ca = keystore_ca()
    leaf = certificate(
        issuer=ca.intermediate_certificate,
        issuer_key=ca.intermediate_key,  # type: ignore[arg-type]
        extension=None,
    )
    outcome = verify_key_attestation(
        [leaf, *ca_tail(ca)], challenge=NONCE, policy=policy_for(ca), now=NOW
    )
    rejected(outcome, "extension_missing")


@pytest.mark.parametrize("garbage", [b"", b"\x30\x00", b"\x04\x03abc", b"\xff" * 40])
def test_malformed_extension_is_rejected(garbage: bytes) -> None:
    ca = keystore_ca()
    leaf = certificate(
        issuer=ca.intermediate_certificate,
        issuer_key=ca.intermediate_key,  # type: ignore[arg-type]
        extension=garbage,
    )
    outcome = verify_key_attestation(
        [leaf, *ca_tail(ca)], challenge=NONCE, policy=policy_for(ca), now=NOW
    )
    assert rejected(outcome, "extension_malformed").startswith("the key attestation extension")


def ca_tail(ca: AttestationCA) -> list[bytes]:
    return [
        c.public_bytes(serialization.Encoding.DER)
        for c in (ca.intermediate_certificate, ca.root_certificate)
    ]


def test_test_keystore_chain_is_untrusted_under_google_roots() -> None:
    chain = keystore_ca().attest(NONCE, now=NOW)
    rejected(verify_real(chain, challenge=NONCE), "chain_untrusted")


# --- findings from the test keystore ----------------------------------------------------------


def attest(policy_kwargs: dict[str, object] | None = None, **kwargs: object) -> AttestationOutcome:
    ca = keystore_ca()
    chain = ca.attest(NONCE, now=NOW, **kwargs)  # type: ignore[arg-type]
    return verify_key_attestation(
        chain, challenge=NONCE, policy=policy_for(ca, **(policy_kwargs or {})), now=NOW
    )


def issued(description: KeyDescription, **policy_kwargs: object) -> AttestationOutcome:
    ca = keystore_ca()
    chain = ca.issue(description).chain
    return verify_key_attestation(
        chain, challenge=NONCE, policy=policy_for(ca, **policy_kwargs), now=NOW
    )


def test_clean_device_is_accepted_without_findings() -> None:
    outcome = attest()
    assert outcome.accepted and outcome.code == "ok"
    assert outcome.findings == ()
    facts = outcome.facts_dict
    assert facts["security_level"] == "TrustedEnvironment"
    assert facts["attestation_version"] == "200"
    assert facts["verified_boot_state"] == "Verified"
    assert facts["device_locked"] == "true"
    assert facts["root_of_trust_enforcement"] == "hardwareEnforced"
    assert facts["os_version"] == "14.0.0"
    assert facts["os_patch_level"] == "2024-01"
    assert facts["vendor_patch_level"] == "2024-01-01"
    assert facts["packages"] == "com.openmtd.agent (1)"
    assert facts["signer_sha256"] == TEST_SIGNER_SHA256
    assert facts["chain_length"] == "3"
    assert facts["root_serial"] == f"{keystore_ca().root_certificate.serial_number:x}"
    assert facts["anchor_subject"] == "CN=openmtd test attestation root"


def only_finding(outcome: AttestationOutcome) -> tuple[str, int, bool]:
    assert outcome.accepted, outcome.reason
    assert len(outcome.findings) == 1, outcome.findings
    f = outcome.findings[0]
    assert f.source is EvidenceSource.KEY_ATTESTATION
    assert f.platform is Platform.ANDROID
    assert f.rule_id.startswith("key_attestation.")
    assert f.title and len(f.explanation) > 60 and f.evidence
    assert f.title in outcome.reason
    return f.rule_id, f.weight, f.conclusive


def test_unlocked_bootloader_is_conclusive() -> None:
    outcome = attest(device_locked=False)
    assert only_finding(outcome) == ("key_attestation.bootloader_unlocked", 100, True)
    assert ("device_locked", "false") in outcome.findings[0].evidence


@pytest.mark.parametrize(
    ("state", "rule"),
    [
        ("SelfSigned", "key_attestation.boot_self_signed"),
        ("Unverified", "key_attestation.boot_unverified"),
        ("Failed", "key_attestation.boot_failed"),
    ],
)
def test_boot_state_other_than_verified_is_conclusive(state: str, rule: str) -> None:
    outcome = attest(verified_boot_state=state)
    assert only_finding(outcome) == (rule, 100, True)
    assert ("verified_boot_state", state) in outcome.findings[0].evidence


def test_custom_rom_on_unlocked_device_gives_both_findings() -> None:
    outcome = attest(verified_boot_state="SelfSigned", device_locked=False)
    assert rule_ids(outcome) == {
        "key_attestation.bootloader_unlocked",
        "key_attestation.boot_self_signed",
    }


def test_software_keystore_is_flagged_and_says_hardware_was_required() -> None:
    outcome = attest(security_level="Software")
    assert only_finding(outcome) == ("key_attestation.software_keystore", 60, False)
    assert "requires hardware-backed attestation" in outcome.findings[0].explanation
    assert "hardware-backed attestation was required" in outcome.reason
    relaxed = attest({"require_hardware": False}, security_level="Software")
    assert only_finding(relaxed) == ("key_attestation.software_keystore", 60, False)
    assert "requires hardware" not in relaxed.findings[0].explanation
    assert "required" not in relaxed.reason


def test_unknown_package_is_flagged() -> None:
    outcome = attest(packages=(("com.evil.clone", 3),))
    assert only_finding(outcome) == ("key_attestation.package_not_allowed", 70, False)
    assert ("attested_packages", "com.evil.clone (3)") in outcome.findings[0].evidence


def test_unknown_signer_means_a_repackaged_app() -> None:
    other = "ab" * 32
    outcome = attest(signer_sha256=(other,))
    assert only_finding(outcome) == ("key_attestation.signer_not_allowed", 80, False)
    assert ("unexpected_signer_sha256", other) in outcome.findings[0].evidence


def test_any_package_and_signer_when_the_policy_lists_none() -> None:
    outcome = attest(
        {"allowed_packages": frozenset(), "allowed_signer_sha256": frozenset()},
        packages=(("com.other", 1),),
        signer_sha256=("cd" * 32,),
    )
    assert outcome.accepted and outcome.findings == ()


def test_missing_application_id_when_the_policy_expects_one() -> None:
    bare = replace(
        key_description(NONCE, now=NOW),
        application_id_present=False,
        packages=(),
        signature_digests=(),
    )
    assert only_finding(issued(bare)) == ("key_attestation.application_id_missing", 50, False)
    relaxed = issued(bare, allowed_packages=frozenset(), allowed_signer_sha256=frozenset())
    assert relaxed.accepted and relaxed.findings == ()
    assert relaxed.facts_dict["packages"] == ""


def test_root_of_trust_only_in_software_list_is_flagged() -> None:
    description = key_description(NONCE, now=NOW)
    assert description.root_of_trust is not None
    software_rot = replace(
        description,
        root_of_trust=replace(description.root_of_trust, enforcement=Enforcement.SOFTWARE),
    )
    outcome = issued(software_rot)
    assert only_finding(outcome) == ("key_attestation.root_of_trust_software", 60, False)
    assert outcome.facts_dict["root_of_trust_enforcement"] == "softwareEnforced"


def test_hardware_attestation_without_root_of_trust_is_flagged() -> None:
    outcome = issued(replace(key_description(NONCE, now=NOW), root_of_trust=None))
    assert only_finding(outcome) == ("key_attestation.root_of_trust_missing", 60, False)
    assert "verified_boot_state" not in outcome.facts_dict


def test_revoked_test_intermediate_rejects_test_keystore_chains() -> None:
    ca = keystore_ca()
    serial = ca.intermediate_certificate.serial_number
    policy = replace(
        policy_for(ca), revocations=RevocationList({serial: ("REVOKED", "CA_COMPROMISE")})
    )
    outcome = verify_key_attestation(
        ca.attest(NONCE, now=NOW), challenge=NONCE, policy=policy, now=NOW
    )
    assert "certificate 1" in rejected(outcome, "revoked")


def test_revoked_anchor_outside_the_chain_is_rejected() -> None:
    ca = keystore_ca()
    serial = ca.root_certificate.serial_number
    policy = replace(
        policy_for(ca), revocations=RevocationList({serial: ("REVOKED", "SUPERSEDED")})
    )
    chain = ca.attest(NONCE, now=NOW)[:2]  # the root left out: the anchor signs the top
    assert "the trust anchor" in rejected(
        verify_key_attestation(chain, challenge=NONCE, policy=policy, now=NOW), "revoked"
    )


# --- never raises -----------------------------------------------------------------------------

REAL_CHAINS = [real_chain("EC_SecurityLevel_TEE"), real_chain("RSA_SecurityLevel_TEE")]


@st.composite
def mutated_chains(draw: st.DrawFn) -> list[bytes]:
    chain = list(draw(st.sampled_from(REAL_CHAINS)))
    index = draw(st.integers(0, len(chain) - 1))
    der = chain[index]
    position = draw(st.integers(0, len(der) - 1))
    action = draw(st.sampled_from(["flip", "truncate", "insert", "delete"]))
    if action == "flip":
        der = (
            der[:position]
            + bytes([der[position] ^ draw(st.integers(1, 255))])
            + der[position + 1 :]
        )
    elif action == "truncate":
        der = der[:position]
    elif action == "insert":
        der = der[:position] + draw(st.binary(min_size=1, max_size=8)) + der[position:]
    else:
        der = der[:position] + der[position + 1 :]
    chain[index] = der
    return chain


@given(mutated_chains())
def test_mutated_real_chains_never_raise(chain: list[bytes]) -> None:
    outcome = verify_real(chain)
    assert outcome.source is EvidenceSource.KEY_ATTESTATION
    assert outcome.code


@given(st.lists(st.binary(max_size=300), max_size=12))
def test_random_bytes_never_raise(chain: list[bytes]) -> None:
    outcome = verify_real(chain)
    assert not outcome.accepted and outcome.code
