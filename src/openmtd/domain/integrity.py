"""Device integrity's vocabulary: findings, verdicts and attestation outcomes.

Produced by engines.integrity (heuristic signals, Android Key Attestation, Play Integrity,
Apple App Attest); consumed by the server (alerts, the device page), the agent (its own
response to a compromised device) and the CLI.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from openmtd.domain.enums import Platform


class IntegrityState(StrEnum):
    """The device's integrity, ordered from trusted to compromised."""

    UNKNOWN = "unknown"  # nothing reported yet
    CLEAN = "clean"
    SUSPICIOUS = "suspicious"
    COMPROMISED = "compromised"

    @property
    def rank(self) -> int:
        return _STATE_RANK[self]


_STATE_RANK = {
    IntegrityState.UNKNOWN: 0,
    IntegrityState.CLEAN: 1,
    IntegrityState.SUSPICIOUS: 2,
    IntegrityState.COMPROMISED: 3,
}


class EvidenceSource(StrEnum):
    """Where a finding came from; attestation is hardware-backed, signals are heuristics."""

    SIGNALS = "signals"
    KEY_ATTESTATION = "key_attestation"
    PLAY_INTEGRITY = "play_integrity"
    APP_ATTEST = "app_attest"


@dataclass(frozen=True, slots=True)
class IntegrityFinding:
    """One reason to doubt the device, with what was observed and why it matters."""

    rule_id: str  # stable, dotted: "android.su_binary", "key_attestation.bootloader_unlocked"
    source: EvidenceSource
    weight: int  # 0..100, how much this alone says the device is compromised
    title: str  # short, for tables: "su binary present"
    explanation: str  # one or two sentences a security analyst can act on
    evidence: tuple[tuple[str, str], ...] = ()  # what was observed, e.g. (("path", "/sbin/su"),)
    platform: Platform | None = None  # None: applies to both
    conclusive: bool = False  # proves compromise on its own (attested unlocked bootloader...)


@dataclass(frozen=True, slots=True)
class IntegrityVerdict:
    """The combined judgement over every finding of one device."""

    state: IntegrityState
    score: int  # 0..100
    findings: tuple[IntegrityFinding, ...]
    summary: str  # one sentence: "Compromised (score 100): su binary present, Magisk installed"


@dataclass(frozen=True, slots=True)
class AttestationOutcome:
    """What one attestation check concluded.

    ``accepted`` is False when the evidence itself cannot be trusted (broken or foreign chain,
    wrong or replayed challenge, revoked key, bad signature, malformed input): ``code`` is a
    stable machine name (``chain_untrusted``, ``challenge_mismatch``, ``revoked`` ...) and
    ``reason`` a precise sentence. An accepted attestation can still carry findings (software
    keystore, unlocked bootloader, unknown app signer ...). ``facts`` are the attested values
    worth showing (security level, boot state, OS version, patch level, package ...).
    """

    source: EvidenceSource
    accepted: bool
    code: str  # "ok" when accepted
    reason: str
    findings: tuple[IntegrityFinding, ...] = ()
    facts: tuple[tuple[str, str], ...] = field(default=())

    @property
    def facts_dict(self) -> dict[str, str]:
        return dict(self.facts)
