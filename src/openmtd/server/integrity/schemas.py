"""Request and answer bodies of the integrity routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from openmtd.domain.enums import Platform
from openmtd.domain.integrity import EvidenceSource, IntegrityState
from openmtd.server.integrity.verifiers import EvidenceKind

ChallengeId = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"),
]


_B64 = r"^[A-Za-z0-9+/_=-]*$"
B64Challenge = Annotated[str, StringConstraints(pattern=_B64, max_length=128)]
B64Certificate = Annotated[str, StringConstraints(pattern=_B64, max_length=22_000)]  # 16 KiB
B64KeyId = Annotated[str, StringConstraints(pattern=_B64, max_length=100)]
B64Attestation = Annotated[str, StringConstraints(pattern=_B64, max_length=90_000)]  # 64 KiB
B64Assertion = Annotated[str, StringConstraints(pattern=_B64, max_length=8_000)]
B64ClientData = Annotated[str, StringConstraints(pattern=_B64, max_length=22_000)]
CompactToken = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.=-]*$", max_length=44_000)]

_REQUIRED = {
    EvidenceKind.ANDROID_KEY: ("chain",),
    EvidenceKind.PLAY_INTEGRITY: ("token",),
    EvidenceKind.APP_ATTEST: ("key_id", "attestation"),
    EvidenceKind.APP_ATTEST_ASSERTION: ("key_id", "assertion", "client_data"),
}


class ChallengeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: EvidenceKind


class ChallengeOut(BaseModel):
    challenge_id: str
    kind: EvidenceKind
    challenge: str = Field(
        description="32 random bytes, base64url without padding; put these bytes into the "
        "evidence (the key attestation challenge, the App Attest client data hash input, the "
        "Play Integrity requestHash) and send them back with it"
    )
    expires_at: datetime


class EvidenceIn(BaseModel):
    """One piece of attestation evidence against a challenge; base64 (standard or url-safe)."""

    model_config = ConfigDict(extra="forbid")
    kind: EvidenceKind
    challenge_id: ChallengeId
    challenge: B64Challenge
    chain: Annotated[list[B64Certificate], Field(max_length=10)] = Field(
        default_factory=list, description="android_key: the certificate chain, leaf first (DER)"
    )
    token: CompactToken = Field(default="", description="play_integrity: the integrity token")
    key_id: B64KeyId = Field(default="", description="app_attest(_assertion): the key id")
    attestation: B64Attestation = Field(
        default="", description="app_attest: the attestation object (CBOR)"
    )
    assertion: B64Assertion = Field(
        default="", description="app_attest_assertion: the assertion (CBOR)"
    )
    client_data: B64ClientData = Field(
        default="",
        description="app_attest_assertion: the signed client data, a JSON object whose "
        "'challenge' is the challenge in base64url",
    )

    @model_validator(mode="after")
    def _fields_of_kind(self) -> Self:
        missing = [name for name in _REQUIRED[self.kind] if not getattr(self, name)]
        if missing:
            raise ValueError(f"{self.kind.value} evidence needs {', '.join(missing)}")
        return self


class FindingOut(BaseModel):
    rule_id: str
    source: EvidenceSource
    weight: int
    title: str
    explanation: str
    evidence: dict[str, str]
    platform: Platform | None
    conclusive: bool


class EvidenceOut(BaseModel):
    kind: EvidenceKind
    accepted: bool
    code: str
    reason: str
    facts: dict[str, str]
    findings: list[FindingOut]
    integrity_state: IntegrityState
    compromise_response: list[str] = Field(
        description="what the agent must do now: stop_web_protection, clear_local_data"
    )


class AttestationOut(BaseModel):
    id: int
    kind: str
    accepted: bool
    code: str
    reason: str
    facts: dict[str, str]
    findings: list[FindingOut]
    verified_at: datetime


class DeviceIntegrityOut(BaseModel):
    device_id: str
    platform: Platform
    state: IntegrityState
    score: int
    summary: str
    judged_at: datetime | None
    findings: list[FindingOut]
    attested: dict[str, datetime] = Field(description="when each kind of evidence last passed")
    attestation_requests: list[str]
    compromise_response: list[str]
    attestations: list[AttestationOut]


class IntegrityRuleOut(BaseModel):
    rule_id: str
    platform: Platform
    weight: int
    conclusive: bool
    title: str
    explanation: str


class IntegritySummaryOut(BaseModel):
    by_state: dict[str, int]
    by_platform: dict[str, dict[str, int]]
    attestations_24h: dict[str, int] = Field(description="accepted and rejected, last 24 h")
