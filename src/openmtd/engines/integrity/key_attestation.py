"""Verify an Android Key Attestation certificate chain and judge what it attests.

The device generates a key in its keystore with the server's challenge; the keystore returns
a chain: the attested key's certificate (the leaf, carrying the KeyDescription extension),
sometimes a certificate with ProvisioningInfo (1.3.6.1.4.1.11129.2.1.30), the intermediates
of the device's attestation key, and Google's root. ``verify_key_attestation`` decides whether
that evidence can be trusted at all (``accepted``, with a stable ``code`` when not) and, when
it can, what it says about the device (``findings``) and the attested values (``facts``).

Only the leaf's extension is believed. A genuine attested key can itself sign certificates:
whoever holds one could hang a forged leaf, with a forged extension, below the genuine one.
So the extension must appear in exactly one certificate, and that certificate must be the leaf.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm

from openmtd.domain.enums import Platform
from openmtd.domain.integrity import AttestationOutcome, EvidenceSource, IntegrityFinding
from openmtd.engines.integrity.key_description import (
    KEY_DESCRIPTION_OID,
    Enforcement,
    KeyDescription,
    KeyDescriptionError,
    RootOfTrust,
    SecurityLevel,
    VerifiedBootState,
    decode_key_description,
    format_os_version,
    format_patch_level,
)
from openmtd.engines.integrity.revocation import RevocationList
from openmtd.engines.integrity.x509chain import (
    ChainError,
    TrustAnchors,
    load_der_chain,
    verify_chain,
)

_SOURCE = EvidenceSource.KEY_ATTESTATION
_EXTENSION_OID = x509.ObjectIdentifier(KEY_DESCRIPTION_OID)
_CERTIFICATE_ERRORS = (
    ValueError,
    TypeError,
    UnsupportedAlgorithm,
    x509.DuplicateExtension,
    x509.UnsupportedGeneralNameType,
)


@dataclass(frozen=True, slots=True)
class KeyAttestationPolicy:
    """What this deployment trusts and expects. Empty allow-lists mean "any"."""

    anchors: TrustAnchors
    revocations: RevocationList
    allowed_packages: frozenset[str] = frozenset()
    allowed_signer_sha256: frozenset[str] = frozenset()  # lower-case hex
    require_hardware: bool = True


class _Rejected(Exception):
    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def verify_key_attestation(
    chain_der: Sequence[bytes],
    *,
    challenge: bytes,
    policy: KeyAttestationPolicy,
    now: datetime,
) -> AttestationOutcome:
    """Check the chain (leaf first) at ``now`` against ``policy``; never raises."""
    try:
        return _verify(chain_der, challenge, policy, now)
    except _Rejected as r:
        return AttestationOutcome(source=_SOURCE, accepted=False, code=r.code, reason=r.reason)
    except ChainError as e:
        return AttestationOutcome(source=_SOURCE, accepted=False, code=e.code, reason=e.reason)


def _verify(
    chain_der: Sequence[bytes], challenge: bytes, policy: KeyAttestationPolicy, now: datetime
) -> AttestationOutcome:
    chain = _parse_chain(chain_der)
    anchor = _verify_chain(chain, policy.anchors, now)
    root = _presented_root(chain, policy.anchors, anchor)
    _check_revocation(chain, root, policy.revocations)
    description = _leaf_key_description(chain)
    if not hmac.compare_digest(description.challenge, challenge):
        raise _Rejected(
            "challenge_mismatch",
            f"the attested challenge ({len(description.challenge)} bytes) is not the challenge "
            f"this server issued ({len(challenge)} bytes): the attestation was made for "
            "another request or replayed",
        )
    findings = judge_key_description(description, policy)
    return AttestationOutcome(
        source=_SOURCE,
        accepted=True,
        code="ok",
        reason=_accepted_reason(anchor, description, findings, policy),
        findings=findings,
        facts=_facts(description, anchor, root, len(chain)),
    )


def _parse_chain(chain_der: Sequence[bytes]) -> list[x509.Certificate]:
    for i, der in enumerate(chain_der):
        if not isinstance(der, bytes | bytearray | memoryview):
            raise _Rejected(
                "certificate_malformed", f"certificate {i} is {type(der).__name__}, not bytes"
            )
    return load_der_chain([bytes(der) for der in chain_der])


def _verify_chain(
    chain: list[x509.Certificate], anchors: TrustAnchors, now: datetime
) -> x509.Certificate:
    try:
        return verify_chain(chain, anchors, now)
    except ChainError:
        raise
    except _CERTIFICATE_ERRORS as e:
        raise _Rejected(
            "certificate_malformed",
            f"a certificate of the chain cannot be checked: {type(e).__name__}: {e}",
        ) from None


def _presented_root(
    chain: Sequence[x509.Certificate], anchors: TrustAnchors, anchor: x509.Certificate
) -> x509.Certificate:
    """The pinned root certificate this chain ends in. Android chains carry their root, and
    Google's earlier roots share one key, so the pinned certificate identical to the top of
    the chain is preferred; the top itself is never used (only its key was checked)."""
    top = chain[-1]
    for pinned in anchors.certificates:
        if pinned == top:
            return pinned
    return anchor


def _subject_text(cert: x509.Certificate) -> str:
    try:
        return cert.subject.rfc4514_string() or "no subject"
    except ValueError:
        return "an unreadable subject"


def _check_revocation(
    chain: Sequence[x509.Certificate], root: x509.Certificate, revocations: RevocationList
) -> None:
    named = [(f"certificate {i}", cert) for i, cert in enumerate(chain)]
    named.append(("the trust anchor", root))
    for name, cert in named:
        entry = revocations.lookup(cert.serial_number)
        if entry is not None:
            status, reason = entry
            raise _Rejected(
                "revoked",
                f"{name} (serial {cert.serial_number:x}, "
                f"{_subject_text(cert)}) is {status} on the "
                f"attestation revocation list (reason {reason}): keys under it can no longer "
                "be trusted",
            )


def _leaf_key_description(chain: Sequence[x509.Certificate]) -> KeyDescription:
    carriers: list[tuple[int, bytes]] = []
    for i, cert in enumerate(chain):
        value = _extension_value(cert, i)
        if value is not None:
            carriers.append((i, value))
    if not carriers:
        raise _Rejected(
            "extension_missing",
            f"no certificate carries the key attestation extension {KEY_DESCRIPTION_OID}",
        )
    if len(carriers) > 1:
        raise _Rejected(
            "extension_in_several_certificates",
            f"certificates {', '.join(str(i) for i, _ in carriers)} all carry the key "
            "attestation extension; only the attested key's own certificate may, so a "
            "forged leaf was signed with an attested key",
        )
    index, value = carriers[0]
    if index != 0:
        raise _Rejected(
            "extension_not_in_leaf",
            f"the key attestation extension is in certificate {index}, not in the leaf",
        )
    try:
        return decode_key_description(value)
    except KeyDescriptionError as e:
        raise _Rejected("extension_malformed", f"the key attestation extension: {e}") from None


def _extension_value(cert: x509.Certificate, index: int) -> bytes | None:
    try:
        extensions = cert.extensions
    except _CERTIFICATE_ERRORS as e:
        raise _Rejected(
            "certificate_malformed", f"certificate {index} has malformed extensions: {e}"
        ) from None
    for ext in extensions:
        if ext.oid == _EXTENSION_OID:
            value = ext.value
            return value.value if isinstance(value, x509.UnrecognizedExtension) else b""
    return None


# ---------------------------------------------------------------------------------------------
# Findings
# ---------------------------------------------------------------------------------------------


def judge_key_description(
    description: KeyDescription, policy: KeyAttestationPolicy
) -> tuple[IntegrityFinding, ...]:
    """What a trusted KeyDescription says about the device and the app."""
    findings: list[IntegrityFinding] = []
    findings += _security_level_findings(description, policy)
    findings += _root_of_trust_findings(description)
    findings += _application_findings(description, policy)
    return tuple(findings)


def _finding(
    rule: str,
    weight: int,
    title: str,
    explanation: str,
    evidence: Sequence[tuple[str, str]],
    *,
    conclusive: bool = False,
) -> IntegrityFinding:
    return IntegrityFinding(
        rule_id=f"key_attestation.{rule}",
        source=_SOURCE,
        weight=weight,
        title=title,
        explanation=explanation,
        evidence=tuple(evidence),
        platform=Platform.ANDROID,
        conclusive=conclusive,
    )


def _security_level_findings(
    d: KeyDescription, policy: KeyAttestationPolicy
) -> list[IntegrityFinding]:
    if d.attestation_security_level is not SecurityLevel.SOFTWARE:
        return []
    required = (
        " This deployment requires hardware-backed attestation, so the device must not be "
        "treated as attested."
        if policy.require_hardware
        else ""
    )
    return [
        _finding(
            "software_keystore",
            60,
            "Key attested by software only",
            "The attestation was produced by Android's software keystore, not by a TEE or "
            "StrongBox: its claims about boot state and OS cannot be relied on, as on an "
            "emulator or a device without hardware attestation." + required,
            [
                ("attestation_security_level", d.attestation_security_level.value),
                ("keymint_security_level", d.keymint_security_level.value),
                ("hardware_required", "yes" if policy.require_hardware else "no"),
            ],
        )
    ]


def _root_of_trust_findings(d: KeyDescription) -> list[IntegrityFinding]:
    rot = d.root_of_trust
    if rot is None:
        if d.attestation_security_level is SecurityLevel.SOFTWARE:
            return []
        return [
            _finding(
                "root_of_trust_missing",
                60,
                "Hardware attestation without a root of trust",
                "A hardware keystore always attests the boot state, but this attestation "
                "names none: the device's boot integrity is unknown. Ask for a new "
                "attestation and examine the device if it repeats.",
                [("attestation_security_level", d.attestation_security_level.value)],
            )
        ]
    evidence = _root_of_trust_evidence(rot)
    findings: list[IntegrityFinding] = []
    if not rot.device_locked:
        findings.append(
            _finding(
                "bootloader_unlocked",
                100,
                "Bootloader unlocked",
                "The secure hardware attests that the bootloader is unlocked: any OS image, "
                "including a rooted or modified one, can run and the OS's own security "
                "reports cannot be trusted. Re-lock the bootloader or retire the device.",
                evidence,
                conclusive=True,
            )
        )
    boot_finding = _boot_state_finding(rot, evidence)
    if boot_finding is not None:
        findings.append(boot_finding)
    if (
        rot.enforcement is Enforcement.SOFTWARE
        and d.attestation_security_level is not SecurityLevel.SOFTWARE
    ):
        findings.append(
            _finding(
                "root_of_trust_software",
                60,
                "Boot state attested by software only",
                "The root of trust is in the softwareEnforced list, so the boot state and "
                "lock state were reported by Android itself, not by the secure hardware, and "
                "a compromised OS could have made them up.",
                [*evidence, ("enforcement", rot.enforcement.value)],
            )
        )
    return findings


def _boot_state_finding(
    rot: RootOfTrust, evidence: Sequence[tuple[str, str]]
) -> IntegrityFinding | None:
    state = rot.verified_boot_state
    if state is VerifiedBootState.VERIFIED:
        return None
    if state is VerifiedBootState.SELF_SIGNED:
        return _finding(
            "boot_self_signed",
            100,
            "Custom OS (self-signed boot)",
            "Verified boot reports an OS signed with a user-installed key, not the "
            "manufacturer's: the device runs a custom ROM, outside the vendor's security "
            "updates and integrity guarantees.",
            evidence,
            conclusive=True,
        )
    if state is VerifiedBootState.UNVERIFIED:
        return _finding(
            "boot_unverified",
            100,
            "OS not verified at boot",
            "Verified boot did not check the OS (state Unverified, typical of an unlocked "
            "bootloader): the running system may be modified or rooted.",
            evidence,
            conclusive=True,
        )
    return _finding(
        "boot_failed",
        100,
        "OS failed verification at boot",
        "Verified boot found the OS image corrupt or tampered with (state Failed) and the "
        "device booted anyway. Treat it as compromised.",
        evidence,
        conclusive=True,
    )


def _root_of_trust_evidence(rot: RootOfTrust) -> list[tuple[str, str]]:
    return [
        ("verified_boot_state", rot.verified_boot_state.value),
        ("device_locked", "true" if rot.device_locked else "false"),
        ("verified_boot_key", rot.verified_boot_key_hex),
    ]


def _application_findings(
    d: KeyDescription, policy: KeyAttestationPolicy
) -> list[IntegrityFinding]:
    if not policy.allowed_packages and not policy.allowed_signer_sha256:
        return []
    if not d.application_id_present:
        return [
            _finding(
                "application_id_missing",
                50,
                "Attesting app not identified",
                "The attestation does not name the app that created the key "
                "(attestationApplicationId is missing), so it cannot be tied to the "
                "organisation's app; it may come from another app or a tampered keystore.",
                [("expected_packages", ", ".join(sorted(policy.allowed_packages)) or "any")],
            )
        ]
    findings: list[IntegrityFinding] = []
    names = {name for name, _version in d.packages}
    if policy.allowed_packages and not names & policy.allowed_packages:
        findings.append(
            _finding(
                "package_not_allowed",
                70,
                "Attestation made by an unexpected app",
                "The key was created by an app that is not one of the allowed packages: "
                "another app is answering the attestation challenge, or the agent was "
                "renamed. Check which app holds the key on the device.",
                [
                    ("attested_packages", _packages_text(d.packages) or "none"),
                    ("allowed_packages", ", ".join(sorted(policy.allowed_packages))),
                ],
            )
        )
    if policy.allowed_signer_sha256:
        unexpected = [h for h in d.signature_digests if h not in policy.allowed_signer_sha256]
        if unexpected or not d.signature_digests:
            findings.append(
                _finding(
                    "signer_not_allowed",
                    80,
                    "App signed with an unknown certificate",
                    "The attested app is signed with a certificate that is not the "
                    "organisation's: the app was most likely repackaged (modified and "
                    "re-signed). Remove it and reinstall the genuine app.",
                    [
                        ("unexpected_signer_sha256", ", ".join(unexpected) or "none attested"),
                        ("allowed_signer_sha256", ", ".join(sorted(policy.allowed_signer_sha256))),
                    ],
                )
            )
    return findings


# ---------------------------------------------------------------------------------------------
# Facts and summary
# ---------------------------------------------------------------------------------------------


def _packages_text(packages: Sequence[tuple[str, int]]) -> str:
    return ", ".join(f"{name} ({version})" for name, version in packages)


def _facts(
    d: KeyDescription, anchor: x509.Certificate, root: x509.Certificate, chain_length: int
) -> tuple[tuple[str, str], ...]:
    facts: list[tuple[str, str]] = [
        ("security_level", d.attestation_security_level.value),
        ("keymint_security_level", d.keymint_security_level.value),
        ("attestation_version", str(d.attestation_version)),
        ("keymint_version", str(d.keymint_version)),
    ]
    if d.root_of_trust is not None:
        facts += _root_of_trust_evidence(d.root_of_trust)
        facts.append(("root_of_trust_enforcement", d.root_of_trust.enforcement.value))
    facts += [
        ("os_version", format_os_version(d.os_version)),
        ("os_patch_level", format_patch_level(d.os_patch_level)),
        ("vendor_patch_level", format_patch_level(d.vendor_patch_level)),
        ("boot_patch_level", format_patch_level(d.boot_patch_level)),
        ("packages", _packages_text(d.packages)),
        ("signer_sha256", ", ".join(d.signature_digests)),
        ("chain_length", str(chain_length)),
        ("root_serial", f"{root.serial_number:x}"),
        ("anchor_subject", anchor.subject.rfc4514_string()),
    ]
    return tuple(facts)


def _accepted_reason(
    anchor: x509.Certificate,
    d: KeyDescription,
    findings: Sequence[IntegrityFinding],
    policy: KeyAttestationPolicy,
) -> str:
    reason = (
        f"the chain verifies up to {anchor.subject.rfc4514_string()} and attests the "
        f"challenge ({d.attestation_security_level.value} keystore)"
    )
    if findings:
        reason += f"; {len(findings)} finding(s): " + ", ".join(f.title for f in findings)
    if policy.require_hardware and d.attestation_security_level is SecurityLevel.SOFTWARE:
        reason += "; hardware-backed attestation was required but the key is software-backed"
    return reason
