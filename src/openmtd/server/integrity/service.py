"""Challenges, evidence verification, and the device's integrity verdict.

A challenge is 32 random bytes, single use, valid for a few minutes and bound to one device
and one kind of evidence; only its SHA-256 is stored. Evidence is verified by the pure engines
(engines.integrity) and every outcome, accepted or not, is recorded with its reason. The
verdict combines the heuristic signals of the latest check-in with the findings of the latest
attestation of each kind (while it is fresh); a compromised verdict raises the reference
product's High alert ("Jailbroken device" on iOS, "Rooted device" on Android), and the alert
resolves itself when a later verdict is no longer compromised.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from openmtd.domain.device import AppInfo, Detection, IntegritySignal
from openmtd.domain.enums import Platform, Severity
from openmtd.domain.errors import Conflict, InvalidInput, TooManyRequests
from openmtd.domain.integrity import (
    AttestationOutcome,
    EvidenceSource,
    IntegrityFinding,
    IntegrityState,
    IntegrityVerdict,
)
from openmtd.engines.integrity.app_attest import (
    AttestedKey,
    verify_assertion,
    verify_attestation,
)
from openmtd.engines.integrity.key_attestation import verify_key_attestation
from openmtd.engines.integrity.play_integrity import verify_play_integrity
from openmtd.engines.integrity.signals import evaluate_signals
from openmtd.engines.integrity.verdict import alert_title, combine
from openmtd.server.alerts.service import apply_detections
from openmtd.server.compliance import service as compliance
from openmtd.server.integrity.verifiers import EvidenceKind, IntegrityVerifiers
from openmtd.server.integrity.wire import finding_from_json, findings_to_json, verdict_to_json
from openmtd.server.timeline import add_event
from openmtd.store.models import (
    AppAttestKey,
    Device,
    DeviceApp,
    IntegrityAttestation,
    IntegrityChallenge,
)

MAX_OPEN_CHALLENGES = 8
COMPROMISE_ACTIONS = ("stop_web_protection", "clear_local_data")
ALERT_KEY = "integrity"
# Rejections that say nothing about the device (a slow network, a server restart).
_HARMLESS_REJECTIONS = frozenset({"challenge_expired", "challenge_unknown"})
_SOURCES = {
    EvidenceKind.ANDROID_KEY: EvidenceSource.KEY_ATTESTATION,
    EvidenceKind.PLAY_INTEGRITY: EvidenceSource.PLAY_INTEGRITY,
    EvidenceKind.APP_ATTEST: EvidenceSource.APP_ATTEST,
    EvidenceKind.APP_ATTEST_ASSERTION: EvidenceSource.APP_ATTEST,
}


def alert_category(platform: Platform) -> str:
    return "Jailbreak" if platform is Platform.IOS else "Root"


# --------------------------------------------------------------------------------------------
# Challenges
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IssuedChallenge:
    id: str
    kind: EvidenceKind
    nonce: bytes
    expires_at: datetime


def _require_kind(verifiers: IntegrityVerifiers, kind: EvidenceKind, platform: Platform) -> None:
    if not verifiers.accepts(kind, platform):
        raise InvalidInput(
            f"this server does not take {kind.value} evidence from {platform.value} devices"
            + ("" if kind.platform is platform else f" ({kind.value} is for {kind.platform})"),
            code="attestation_kind_unavailable",
        )


def issue_challenge(
    db: Session,
    *,
    device_id: str,
    platform: Platform,
    kind: EvidenceKind,
    verifiers: IntegrityVerifiers,
    now: datetime,
) -> IssuedChallenge:
    _require_kind(verifiers, kind, platform)
    if kind is EvidenceKind.APP_ATTEST_ASSERTION and not db.scalar(
        select(func.count()).select_from(AppAttestKey).where(AppAttestKey.device_id == device_id)
    ):
        raise Conflict(
            "this device has no attested App Attest key yet: submit an app_attest attestation "
            "first",
            code="no_attested_key",
        )
    db.execute(
        delete(IntegrityChallenge).where(
            IntegrityChallenge.device_id == device_id, IntegrityChallenge.expires_at <= now
        )
    )
    open_now = db.scalar(
        select(func.count())
        .select_from(IntegrityChallenge)
        .where(IntegrityChallenge.device_id == device_id, IntegrityChallenge.used_at.is_(None))
    )
    if (open_now or 0) >= MAX_OPEN_CHALLENGES:
        raise TooManyRequests(
            f"this device already holds {open_now} unused challenges; use one or wait "
            f"{int(verifiers.challenge_ttl.total_seconds())} s for them to expire",
            code="too_many_challenges",
        )
    nonce = secrets.token_bytes(32)
    issued = IssuedChallenge(str(uuid.uuid4()), kind, nonce, now + verifiers.challenge_ttl)
    db.add(
        IntegrityChallenge(
            id=issued.id,
            device_id=device_id,
            kind=kind.value,
            nonce_sha256=hashlib.sha256(nonce).hexdigest(),
            issued_at=now,
            expires_at=issued.expires_at,
            used_at=None,
        )
    )
    return issued


def _consume(
    db: Session,
    *,
    device_id: str,
    kind: EvidenceKind,
    challenge_id: str,
    nonce: bytes,
    now: datetime,
) -> tuple[str, str] | None:
    """None when the challenge is good (it is then used up); else (code, reason)."""
    row = db.get(IntegrityChallenge, challenge_id)
    if row is None or row.device_id != device_id:
        return (
            "challenge_unknown",
            f"no challenge {challenge_id} was issued to this device (or it expired and was "
            "removed); ask for a new one",
        )
    if row.kind != kind.value:
        return (
            "challenge_kind",
            f"challenge {challenge_id} was issued for {row.kind} evidence, not {kind.value}",
        )
    if not hmac.compare_digest(row.nonce_sha256, hashlib.sha256(nonce).hexdigest()):
        return ("challenge_mismatch", "the challenge sent back is not the one the server issued")
    if row.used_at is not None:
        return (
            "challenge_replayed",
            f"challenge {challenge_id} was already used at {row.used_at.isoformat()}; every "
            "piece of evidence needs a fresh challenge",
        )
    if now >= row.expires_at:
        age = int((now - row.issued_at).total_seconds())
        return (
            "challenge_expired",
            f"challenge {challenge_id} expired at {row.expires_at.isoformat()} ({age} s after "
            "it was issued)",
        )
    used = db.execute(
        update(IntegrityChallenge)
        .where(IntegrityChallenge.id == challenge_id, IntegrityChallenge.used_at.is_(None))
        .values(used_at=now)
    )
    if used.rowcount != 1:  # type: ignore[attr-defined]
        return ("challenge_replayed", f"challenge {challenge_id} was used by a concurrent request")
    return None


# --------------------------------------------------------------------------------------------
# Evidence
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Evidence:
    """One submission, already decoded from its JSON (base64 fields are bytes here)."""

    kind: EvidenceKind
    challenge_id: str
    challenge: bytes
    chain: tuple[bytes, ...] = ()  # android_key, leaf first
    token: str = ""  # play_integrity
    key_id: bytes = b""  # app_attest, app_attest_assertion
    attestation: bytes = b""  # app_attest
    assertion: bytes = b""  # app_attest_assertion
    client_data: bytes = b""  # app_attest_assertion


@dataclass(frozen=True, slots=True)
class SubmitResult:
    outcome: AttestationOutcome
    state: IntegrityState


def submit_evidence(
    db: Session,
    *,
    device: Device,
    evidence: Evidence,
    verifiers: IntegrityVerifiers,
    now: datetime,
) -> SubmitResult:
    platform = Platform(device.platform)
    source = _SOURCES[evidence.kind]
    _require_kind(verifiers, evidence.kind, platform)
    rejected = _consume(
        db,
        device_id=device.id,
        kind=evidence.kind,
        challenge_id=evidence.challenge_id,
        nonce=evidence.challenge,
        now=now,
    )
    if rejected is not None:
        outcome = AttestationOutcome(source, False, *rejected)
    else:
        outcome = _verify(db, device_id=device.id, evidence=evidence, verifiers=verifiers, now=now)
    db.add(
        IntegrityAttestation(
            device_id=device.id,
            kind=evidence.kind.value,
            accepted=outcome.accepted,
            code=outcome.code,
            reason=outcome.reason,
            facts=dict(outcome.facts),
            findings=findings_to_json(outcome.findings),
            verified_at=now,
        )
    )
    if outcome.accepted:
        device.attested = {**(device.attested or {}), evidence.kind.value: now.isoformat()}
    db.flush()
    judged = rejudge(db, device=device, verifiers=verifiers, now=now)
    return SubmitResult(outcome, judged.state)


def _verify(
    db: Session,
    *,
    device_id: str,
    evidence: Evidence,
    verifiers: IntegrityVerifiers,
    now: datetime,
) -> AttestationOutcome:
    kind = evidence.kind
    if kind is EvidenceKind.ANDROID_KEY:
        policy, revocation_status = verifiers.key_attestation_policy(now)
        outcome = verify_key_attestation(
            evidence.chain, challenge=evidence.challenge, policy=policy, now=now
        )
        return replace(outcome, facts=(*outcome.facts, ("revocation_list", revocation_status)))
    if kind is EvidenceKind.PLAY_INTEGRITY:
        assert verifiers.play is not None  # accepts() checked it
        keys, play_policy = verifiers.play
        return verify_play_integrity(
            evidence.token, keys=keys, challenge=evidence.challenge, policy=play_policy, now=now
        )
    assert verifiers.app_attest is not None
    if kind is EvidenceKind.APP_ATTEST:
        return _attest_app_key(
            db, device_id=device_id, evidence=evidence, verifiers=verifiers, now=now
        )
    return _check_assertion(db, device_id=device_id, evidence=evidence, now=now)


def _attest_app_key(
    db: Session,
    *,
    device_id: str,
    evidence: Evidence,
    verifiers: IntegrityVerifiers,
    now: datetime,
) -> AttestationOutcome:
    assert verifiers.app_attest is not None
    key_hex = evidence.key_id.hex()
    if db.get(AppAttestKey, (device_id, key_hex)) is not None:
        return AttestationOutcome(
            EvidenceSource.APP_ATTEST,
            False,
            "key_already_attested",
            f"App Attest key {key_hex} was attested before; a key is attested once, then used "
            "for assertions",
        )
    outcome, key = verify_attestation(
        evidence.attestation,
        key_id=evidence.key_id,
        challenge=evidence.challenge,
        policy=verifiers.app_attest,
        now=now,
    )
    if outcome.accepted and key is not None:
        db.add(
            AppAttestKey(
                device_id=device_id,
                key_id=key_hex,
                app_id=key.app_id,
                environment=key.environment,
                public_key=key.public_key_der,
                counter=key.counter,
                attested_at=now,
                last_used_at=None,
            )
        )
    return outcome


def _check_assertion(
    db: Session, *, device_id: str, evidence: Evidence, now: datetime
) -> AttestationOutcome:
    key_hex = evidence.key_id.hex()
    row = db.get(AppAttestKey, (device_id, key_hex))
    if row is None:
        return AttestationOutcome(
            EvidenceSource.APP_ATTEST,
            False,
            "key_unknown",
            f"App Attest key {key_hex} was never attested by this device",
        )
    key = AttestedKey(
        key_id=evidence.key_id,
        public_key_der=row.public_key,
        app_id=row.app_id,
        environment=row.environment,
        counter=row.counter,
        receipt=b"",
    )
    outcome, counter = verify_assertion(
        evidence.assertion,
        client_data=evidence.client_data,
        challenge=evidence.challenge,
        key=key,
        now=now,
    )
    if not outcome.accepted or counter is None:
        return outcome
    moved = db.execute(
        update(AppAttestKey)
        .where(
            AppAttestKey.device_id == device_id,
            AppAttestKey.key_id == key_hex,
            AppAttestKey.counter < counter,
        )
        .values(counter=counter, last_used_at=now)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        return AttestationOutcome(
            EvidenceSource.APP_ATTEST,
            False,
            "counter_not_increasing",
            f"a concurrent assertion already moved the counter of key {key_hex} to {counter} or "
            "beyond",
        )
    return outcome


# --------------------------------------------------------------------------------------------
# The verdict
# --------------------------------------------------------------------------------------------


def input_digest(signals: Sequence[Any], inventory_digest: str) -> str:
    """What the verdict depends on at check-in: the signals and the app inventory."""
    material = orjson.dumps([signals, inventory_digest], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(material).hexdigest()


def due_for_evaluation(valid_until: datetime | None, now: datetime) -> bool:
    """True when an attestation finding the stored verdict counts has aged out."""
    return valid_until is not None and now >= valid_until


def attestation_requests(
    attested: dict[str, Any], platform: Platform, verifiers: IntegrityVerifiers, now: datetime
) -> list[str]:
    """The evidence the device should send now: each kind not attested within the interval.

    An iOS device with an attested App Attest key is asked for assertions instead.
    """
    wanted: list[str] = []
    for kind in verifiers.kinds(platform):
        name = kind.value
        if kind is EvidenceKind.APP_ATTEST and EvidenceKind.APP_ATTEST.value in attested:
            name = EvidenceKind.APP_ATTEST_ASSERTION.value
            last = attested.get(name) or attested[EvidenceKind.APP_ATTEST.value]
        else:
            last = attested.get(name, "")
        if not last or datetime.fromisoformat(last) + verifiers.interval <= now:
            wanted.append(name)
    return wanted


def signals_of(raw: Sequence[Any]) -> list[IntegritySignal]:
    """Stored or reported signals ({"name", "value"} objects) as the engine takes them."""
    return [
        IntegritySignal(str(s.get("name", "")), str(s.get("value", "")))
        for s in raw
        if isinstance(s, dict)
    ]


def _attestation_findings(
    db: Session, device_id: str, platform: Platform, now: datetime, max_age: timedelta
) -> tuple[list[IntegrityFinding], datetime | None]:
    """The findings of the newest evidence of each kind (while fresh) and when they age out."""
    rows = db.execute(
        select(
            IntegrityAttestation.kind,
            IntegrityAttestation.accepted,
            IntegrityAttestation.code,
            IntegrityAttestation.reason,
            IntegrityAttestation.findings,
            IntegrityAttestation.verified_at,
        )
        .where(
            IntegrityAttestation.device_id == device_id,
            IntegrityAttestation.verified_at > now - max_age,
        )
        .order_by(IntegrityAttestation.verified_at.desc(), IntegrityAttestation.id.desc())
    ).all()
    newest: dict[str, Any] = {}
    for row in rows:
        if row.code in _HARMLESS_REJECTIONS:
            continue
        newest.setdefault(row.kind, row)
    findings: list[IntegrityFinding] = []
    ages_out: datetime | None = None
    for row in newest.values():
        until = row.verified_at + max_age
        ages_out = until if ages_out is None else min(ages_out, until)
        if row.accepted:
            findings.extend(finding_from_json(f) for f in row.findings)
            continue
        findings.append(
            IntegrityFinding(
                rule_id="attestation.rejected",
                source=_SOURCES[EvidenceKind(row.kind)],
                weight=40,
                title=f"{row.kind} evidence rejected",
                explanation="The device's latest attestation evidence of this kind did not "
                f"verify ({row.code}: {row.reason}). A genuine device with a genuine agent "
                "passes; a tampered one, an emulator or a replay does not.",
                evidence=(("kind", row.kind), ("code", row.code)),
                platform=platform,
            )
        )
    return findings, ages_out


@dataclass(frozen=True, slots=True)
class Judgement:
    """A fresh verdict and what storing it means; the caller writes `columns` to the device."""

    verdict: IntegrityVerdict
    before: IntegrityState
    columns: dict[str, Any]  # integrity_state, integrity, integrity_valid_until
    changed: bool  # the state or the set of findings moved

    @property
    def state(self) -> IntegrityState:
        return self.verdict.state


def judge(
    db: Session,
    *,
    device_id: str,
    platform: Platform,
    signals: Sequence[IntegritySignal],
    apps: Sequence[AppInfo] | None,
    before: IntegrityState,
    verifiers: IntegrityVerifiers,
    now: datetime,
) -> Judgement:
    """The verdict over the device's signals, apps (None: read them) and fresh attestation."""
    if apps is None:
        apps = [
            AppInfo(identifier=i, version=v, name=n)
            for i, v, n in db.execute(
                select(DeviceApp.identifier, DeviceApp.version, DeviceApp.name).where(
                    DeviceApp.device_id == device_id
                )
            )
        ]
    findings = list(evaluate_signals(platform, signals, apps))
    attested, ages_out = _attestation_findings(
        db, device_id, platform, now, verifiers.findings_max_age
    )
    verdict = combine([*findings, *attested])
    doc = {**verdict_to_json(verdict), "judged_at": now.isoformat()}
    previous_rules: list[str] = []
    if before is not IntegrityState.UNKNOWN:
        stored = db.scalar(select(Device.integrity).where(Device.id == device_id)) or {}
        previous_rules = _rule_ids(stored)
    changed = before is not verdict.state or previous_rules != _rule_ids(doc)
    columns = {
        "integrity_state": verdict.state.value,
        "integrity": doc,
        "integrity_valid_until": ages_out,
    }
    return Judgement(verdict, before, columns, changed)


def record(
    db: Session, *, device_id: str, platform: Platform, judged: Judgement, now: datetime
) -> int:
    """The timeline event and the alert (raised or resolved) of a changed verdict; returns the
    number of new alerts. A first clean verdict with nothing to show is not an event."""
    if not judged.changed:
        return 0
    verdict, before = judged.verdict, judged.before
    if before is not IntegrityState.UNKNOWN or verdict.findings:
        add_event(
            db,
            device_id=device_id,
            kind="Integrity",
            summary=f"Integrity {before.value} → {verdict.state.value}: {verdict.summary}",
            now=now,
            severity=Severity.INFORMATIONAL.value,
            score=verdict.score,
            findings=[f.rule_id for f in verdict.findings],
        )
    detection = _detection(platform, verdict, before)
    if detection is None:
        return 0
    return apply_detections(db, device_id=device_id, detections=[detection], now=now).raised


def rejudge(
    db: Session, *, device: Device, verifiers: IntegrityVerifiers, now: datetime
) -> Judgement:
    """Judge a device loaded as a row (after new evidence) and store the verdict on it."""
    platform = Platform(device.platform)
    judged = judge(
        db,
        device_id=device.id,
        platform=platform,
        signals=signals_of((device.signals or {}).get("integrity") or []),
        apps=None,
        before=IntegrityState(device.integrity_state),
        verifiers=verifiers,
        now=now,
    )
    for column, value in judged.columns.items():
        setattr(device, column, value)
    db.flush()
    record(db, device_id=device.id, platform=platform, judged=judged, now=now)
    if judged.changed:
        compliance.refresh_device(db, device_id=device.id, now=now)
    return judged


def _rule_ids(doc: dict[str, Any]) -> list[str]:
    return sorted(str(f.get("rule_id")) for f in doc.get("findings") or [])


def _detection(
    platform: Platform, verdict: IntegrityVerdict, before: IntegrityState
) -> Detection | None:
    title = alert_title(platform, IntegrityState.COMPROMISED)
    category = alert_category(platform)
    if verdict.state is IntegrityState.COMPROMISED:
        top = sorted(verdict.findings, key=lambda f: (-f.conclusive, -f.weight))[:8]
        return Detection(
            category=category,
            title=title,
            severity=Severity.HIGH,
            key=ALERT_KEY,
            evidence=(
                ("summary", verdict.summary),
                ("score", str(verdict.score)),
                ("findings", "; ".join(f"{f.title} ({f.source.value})" for f in top)),
                ("rules", ", ".join(f.rule_id for f in top)),
            ),
        )
    if before is IntegrityState.COMPROMISED:
        return Detection(
            category=category, title=title, severity=Severity.HIGH, key=ALERT_KEY, resolved=True
        )
    return None


def compromise_response(
    state: IntegrityState | str, platform: Platform, verifiers: IntegrityVerifiers
) -> list[str]:
    """What the agent must do now (empty unless compromised and the policy says so)."""
    if IntegrityState(state) is IntegrityState.COMPROMISED and verifiers.responds_to_compromise(
        platform
    ):
        return list(COMPROMISE_ACTIONS)
    return []


def recent_attestations(
    db: Session, device_id: str, *, limit: int = 50
) -> Sequence[IntegrityAttestation]:
    """The device's latest evidence, newest first."""
    return db.scalars(
        select(IntegrityAttestation)
        .where(IntegrityAttestation.device_id == device_id)
        .order_by(IntegrityAttestation.verified_at.desc(), IntegrityAttestation.id.desc())
        .limit(limit)
    ).all()
