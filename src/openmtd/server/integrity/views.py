"""Integrity routes: challenges and evidence from agents; verdicts, rules and a summary for the
console and the API."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from openmtd.domain.enums import Platform
from openmtd.domain.errors import InvalidInput, NotFound
from openmtd.domain.integrity import IntegrityState
from openmtd.engines.integrity.signals import RULES
from openmtd.server.agent_api import service as agent_service
from openmtd.server.deps import Ctx, Db, Now, ReadOnly, bearer_token
from openmtd.server.errors import API_ERRORS, responses
from openmtd.server.integrity import service
from openmtd.server.integrity.schemas import (
    AttestationOut,
    ChallengeOut,
    ChallengeRequest,
    DeviceIntegrityOut,
    EvidenceIn,
    EvidenceOut,
    FindingOut,
    IntegrityRuleOut,
    IntegritySummaryOut,
)
from openmtd.server.integrity.verifiers import EvidenceKind
from openmtd.server.integrity.wire import findings_to_json
from openmtd.server.schemas_common import DeviceIdStr
from openmtd.store.models import Device, IntegrityAttestation

agent_router = APIRouter(prefix="/api/agent/v1", tags=["agent"], responses=API_ERRORS)
router = APIRouter(tags=["integrity"], responses=API_ERRORS)
_AUTH = responses(401, 403)


def _bytes(value: str, field: str) -> bytes:
    """Standard or url-safe base64, padding optional."""
    text = value.replace("-", "+").replace("_", "/").rstrip("=")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError) as e:
        raise InvalidInput(f"{field} is not base64: {e}", code="bad_base64") from None


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _finding_out(doc: dict[str, Any]) -> FindingOut:
    return FindingOut(
        rule_id=doc["rule_id"],
        source=doc["source"],
        weight=doc["weight"],
        title=doc["title"],
        explanation=doc["explanation"],
        evidence={str(k): str(v) for k, v in doc.get("evidence") or ()},
        platform=doc.get("platform"),
        conclusive=bool(doc.get("conclusive")),
    )


def _own_device(request: Request, db: Session, device_id: str) -> Device:
    caller = agent_service.authenticate_device(db, bearer_token(request))
    agent_service.require_own(caller, device_id)
    device = db.get(Device, caller.id)
    assert device is not None  # authenticated a moment ago, in this transaction
    return device


@agent_router.post(
    "/devices/{device_id}/integrity/challenges",
    response_model=ChallengeOut,
    status_code=201,
    responses=responses(401, 403, 409, 422, 429),
)
def issue_challenge(
    device_id: DeviceIdStr, body: ChallengeRequest, request: Request, db: Db, ctx: Ctx, now: Now
) -> ChallengeOut:
    """A fresh attestation challenge: single use, bound to this device and this kind."""
    device = _own_device(request, db, device_id)
    issued = service.issue_challenge(
        db,
        device_id=device.id,
        platform=Platform(device.platform),
        kind=body.kind,
        verifiers=ctx.integrity,
        now=now,
    )
    return ChallengeOut(
        challenge_id=issued.id,
        kind=issued.kind,
        challenge=b64url(issued.nonce),
        expires_at=issued.expires_at,
    )


@agent_router.post(
    "/devices/{device_id}/integrity/evidence",
    response_model=EvidenceOut,
    responses=responses(401, 403, 422),
)
def submit_evidence(
    device_id: DeviceIdStr, body: EvidenceIn, request: Request, db: Db, ctx: Ctx, now: Now
) -> EvidenceOut:
    """Verify attestation evidence. A verdict, not an error: evidence that does not verify is
    answered with accepted=false and the precise reason (and recorded)."""
    device = _own_device(request, db, device_id)
    evidence = service.Evidence(
        kind=body.kind,
        challenge_id=body.challenge_id,
        challenge=_bytes(body.challenge, "challenge"),
        chain=tuple(_bytes(c, f"chain[{i}]") for i, c in enumerate(body.chain)),
        token=body.token,
        key_id=_bytes(body.key_id, "key_id"),
        attestation=_bytes(body.attestation, "attestation"),
        assertion=_bytes(body.assertion, "assertion"),
        client_data=_bytes(body.client_data, "client_data"),
    )
    result = service.submit_evidence(
        db, device=device, evidence=evidence, verifiers=ctx.integrity, now=now
    )
    o = result.outcome
    return EvidenceOut(
        kind=body.kind,
        accepted=o.accepted,
        code=o.code,
        reason=o.reason,
        facts=dict(o.facts),
        findings=[_finding_out(f) for f in findings_to_json(o.findings)],
        integrity_state=result.state,
        compromise_response=service.compromise_response(
            result.state, Platform(device.platform), ctx.integrity
        ),
    )


@router.get(
    "/api/devices/{device_id}/integrity", response_model=DeviceIntegrityOut, responses=_AUTH
)
def device_integrity(
    device_id: DeviceIdStr, _p: ReadOnly, db: Db, ctx: Ctx, now: Now
) -> DeviceIntegrityOut:
    """The device's integrity verdict with every finding, and its recent attestation evidence."""
    device = db.get(Device, device_id)
    if device is None:
        raise NotFound(f"no device {device_id}")
    doc = device.integrity or {}
    platform = Platform(device.platform)
    rows = service.recent_attestations(db, device.id)
    judged = doc.get("judged_at")
    return DeviceIntegrityOut(
        device_id=device.id,
        platform=platform,
        state=IntegrityState(device.integrity_state),
        score=int(doc.get("score") or 0),
        summary=str(doc.get("summary") or "No integrity signals or attestation yet."),
        judged_at=datetime.fromisoformat(judged) if judged else None,
        findings=[_finding_out(f) for f in doc.get("findings") or []],
        attested={k: datetime.fromisoformat(v) for k, v in (device.attested or {}).items()},
        attestation_requests=service.attestation_requests(
            device.attested or {}, platform, ctx.integrity, now
        ),
        compromise_response=service.compromise_response(
            device.integrity_state, platform, ctx.integrity
        ),
        attestations=[
            AttestationOut(
                id=r.id,
                kind=r.kind,
                accepted=r.accepted,
                code=r.code,
                reason=r.reason,
                facts={str(k): str(v) for k, v in r.facts.items()},
                findings=[_finding_out(f) for f in r.findings],
                verified_at=r.verified_at,
            )
            for r in rows
        ],
    )


@router.get("/api/integrity/rules", response_model=list[IntegrityRuleOut], responses=_AUTH)
def integrity_rules(_p: ReadOnly) -> list[IntegrityRuleOut]:
    """The heuristic root and jailbreak rules, with their weights and explanations."""
    return [
        IntegrityRuleOut(
            rule_id=r.id,
            platform=r.platform,
            weight=r.weight,
            conclusive=r.conclusive,
            title=r.title,
            explanation=r.explanation,
        )
        for r in RULES
    ]


@router.get("/api/integrity/summary", response_model=IntegritySummaryOut, responses=_AUTH)
def integrity_summary(_p: ReadOnly, db: Db, now: Now) -> IntegritySummaryOut:
    """Devices per integrity state (and per platform), and the last day's attestation results."""
    by_platform: dict[str, dict[str, int]] = {p.value: {} for p in Platform}
    by_state: dict[str, int] = {s.value: 0 for s in IntegrityState}
    for platform, state, count in db.execute(
        select(Device.platform, Device.integrity_state, func.count())
        .where(Device.retired_at.is_(None))
        .group_by(Device.platform, Device.integrity_state)
    ):
        by_platform.setdefault(platform, {})[state] = count
        by_state[state] = by_state.get(state, 0) + count
    results = {"accepted": 0, "rejected": 0}
    for accepted, count in db.execute(
        select(IntegrityAttestation.accepted, func.count())
        .where(IntegrityAttestation.verified_at > now - timedelta(hours=24))
        .group_by(IntegrityAttestation.accepted)
    ):
        results["accepted" if accepted else "rejected"] = count
    return IntegritySummaryOut(by_state=by_state, by_platform=by_platform, attestations_24h=results)


__all__ = ["EvidenceKind", "agent_router", "router"]
