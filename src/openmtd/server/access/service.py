"""Device access credentials (tokens and client certificates) and what a decision reads.

A device asks for an access token or a client certificate with its device credential; the token
is shown once and kept as a digest, the certificate is kept as its SHA-256. Either identifies the
device to the forward-auth endpoint, never the device credential itself (which stays between the
agent and this server).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from openmtd.domain.enums import RiskLevel
from openmtd.engines.access import DeviceAccess
from openmtd.engines.compliance import policy_for_group
from openmtd.enrollment.tokens import digest, new_secret
from openmtd.server.access.ca import AccessCA
from openmtd.server.audit import service as audit
from openmtd.server.compliance import service as compliance
from openmtd.server.timeline import add_event
from openmtd.store.models import Device, DeviceAccessToken, DeviceClientCertificate

ACCESS_TOKEN_PREFIX = "omt_acc_"
MAX_ACTIVE_TOKENS = 5  # per device: a new one beyond this revokes the oldest
MAX_ACTIVE_CERTIFICATES = 5


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    expires_at: datetime


def issue_token(db: Session, *, device_id: str, now: datetime, days: int) -> IssuedToken:
    token = new_secret(ACCESS_TOKEN_PREFIX)
    expires = now + timedelta(days=days)
    db.add(
        DeviceAccessToken(
            device_id=device_id,
            token_digest=digest(token),
            created_at=now,
            expires_at=expires,
            revoked_at=None,
        )
    )
    db.flush()
    _keep_newest(db, DeviceAccessToken, device_id=device_id, now=now, keep=MAX_ACTIVE_TOKENS)
    add_event(db, device_id=device_id, kind="access", now=now, summary="access token issued")
    return IssuedToken(token, expires)


def issue_certificate(
    db: Session, *, device_id: str, csr_pem: str, ca: AccessCA, now: datetime, days: int
) -> tuple[DeviceClientCertificate, str]:
    issued = ca.sign(csr_pem, device_id=device_id, now=now, days=days)
    row = DeviceClientCertificate(
        device_id=device_id,
        sha256=_sha256(issued.der),
        serial=issued.serial,
        not_after=issued.not_after,
        created_at=now,
        revoked_at=None,
    )
    db.add(row)
    db.flush()
    _keep_newest(
        db, DeviceClientCertificate, device_id=device_id, now=now, keep=MAX_ACTIVE_CERTIFICATES
    )
    add_event(
        db,
        device_id=device_id,
        kind="access",
        now=now,
        summary=f"client certificate {issued.serial} issued",
    )
    return row, issued.pem


def _sha256(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


def _keep_newest(
    db: Session,
    model: type[DeviceAccessToken] | type[DeviceClientCertificate],
    *,
    device_id: str,
    now: datetime,
    keep: int,
) -> None:
    active = db.scalars(
        select(model.id)
        .where(model.device_id == device_id, model.revoked_at.is_(None))
        .order_by(model.created_at.desc(), model.id.desc())
        .offset(keep)
    ).all()
    if active:
        db.execute(update(model).where(model.id.in_(list(active))).values(revoked_at=now))


def revoke_device_access(db: Session, *, device_id: str, actor: str, now: datetime) -> int:
    """Revoke every access token and client certificate of a device (audited)."""
    count = 0
    for model in (DeviceAccessToken, DeviceClientCertificate):
        result = db.execute(
            update(model)
            .where(model.device_id == device_id, model.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        count += int(getattr(result, "rowcount", 0) or 0)
    add_event(
        db,
        device_id=device_id,
        kind="access",
        now=now,
        summary=f"access credentials revoked by {actor} ({count})",
    )
    audit.record(
        db, actor=actor, action="access.revoke", target=f"device:{device_id}", now=now, count=count
    )
    compliance.access_changed(db, now=now)
    return count


@dataclass(frozen=True, slots=True)
class CredentialRow:
    kind: str  # token | certificate
    id: int
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    serial: str | None = None
    sha256: str | None = None


def device_credentials(db: Session, device_id: str) -> list[CredentialRow]:
    tokens = db.scalars(
        select(DeviceAccessToken)
        .where(DeviceAccessToken.device_id == device_id)
        .order_by(DeviceAccessToken.created_at.desc())
        .limit(50)
    )
    certs = db.scalars(
        select(DeviceClientCertificate)
        .where(DeviceClientCertificate.device_id == device_id)
        .order_by(DeviceClientCertificate.created_at.desc())
        .limit(50)
    )
    return [
        *(CredentialRow("token", t.id, t.created_at, t.expires_at, t.revoked_at) for t in tokens),
        *(
            CredentialRow(
                "certificate", c.id, c.created_at, c.not_after, c.revoked_at, c.serial, c.sha256
            )
            for c in certs
        ),
    ]


# --- what a forward-auth decision reads ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Lookup:
    access: DeviceAccess | None
    reason: str  # why no device, when access is None


def by_token(db: Session, token: str, *, now: datetime) -> Lookup:
    if not token.startswith(ACCESS_TOKEN_PREFIX) or len(token) > 200:
        return Lookup(None, "the device token is not an openmtd access token")
    row = db.execute(
        select(DeviceAccessToken.expires_at, DeviceAccessToken.revoked_at, Device)
        .join(Device, Device.id == DeviceAccessToken.device_id)
        .where(DeviceAccessToken.token_digest == digest(token))
    ).first()
    if row is None:
        return Lookup(None, "unknown device token")
    if row.revoked_at is not None:
        return Lookup(None, "the device token was revoked")
    return Lookup(_access(db, row.Device, expires=row.expires_at), "")


def by_certificate(db: Session, sha256: str, *, now: datetime) -> Lookup:
    row = db.execute(
        select(DeviceClientCertificate.not_after, DeviceClientCertificate.revoked_at, Device)
        .join(Device, Device.id == DeviceClientCertificate.device_id)
        .where(DeviceClientCertificate.sha256 == sha256)
    ).first()
    if row is None:
        return Lookup(None, "the client certificate was not issued to a device by openmtd")
    if row.revoked_at is not None:
        return Lookup(None, "the client certificate was revoked")
    return Lookup(_access(db, row.Device, expires=row.not_after), "")


def _access(db: Session, device: Device, *, expires: datetime) -> DeviceAccess:
    policy = policy_for_group(compliance.load_policies(db), device.device_group)
    return DeviceAccess(
        device_id=device.id,
        risk_level=RiskLevel(device.risk_level),
        verdict=compliance.verdict_of(device),
        retired=device.retired_at is not None,
        require_onboarding=True if policy is None else policy.require_onboarding,
        credential_expires_at=expires,
    )


def onboarding_required(db: Session) -> bool:
    """Whether devices without an identity are denied (the all-groups policy says)."""
    policy = policy_for_group(compliance.load_policies(db), "")
    return True if policy is None else policy.require_onboarding
