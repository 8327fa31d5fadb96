"""Console authentication: passwords (argon2), sessions (cookie), API tokens (bearer), roles."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from openmtd.domain.enums import Role
from openmtd.domain.errors import Forbidden, TooManyRequests, Unauthorized
from openmtd.enrollment.tokens import (
    API_PREFIX,
    SESSION_PREFIX,
    digest,
    new_secret,
)
from openmtd.server.audit import service as audit
from openmtd.store.models import ApiToken, AuditEntry, ConsoleSession, User

SESSION_COOKIE = "openmtd_session"
_hasher = PasswordHasher()
# Verified against when the user does not exist, so that timing does not reveal usernames.
_DUMMY_HASH = _hasher.hash("openmtd-dummy-password")

MIN_PASSWORD_LENGTH = 12


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a console user through a session or an API token."""

    user_id: int
    username: str
    role: Role
    via: str  # "session" | "api-token"
    csrf_token: str = ""

    def require(self, needed: Role) -> None:
        if not self.role.allows(needed):
            raise Forbidden(
                f"this needs the {needed.value} role; {self.username!r} has {self.role.value}",
                code="role_required",
            )


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
    return _hasher.hash(password)


def verify_password(db: Session, username: str, password: str) -> User:
    user = db.scalar(select(User).where(User.username == username))
    stored = user.password_hash if user is not None else _DUMMY_HASH
    try:
        _hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        raise Unauthorized("wrong username or password", code="bad_credentials") from None
    if user is None or user.disabled_at is not None:
        raise Unauthorized("wrong username or password", code="bad_credentials")
    return user


# Failed console sign-ins for one username within the window before further attempts are
# refused (counted from the audit log, so every server instance sees the same count).
MAX_FAILED_SIGN_INS = 20
SIGN_IN_WINDOW = timedelta(minutes=15)


def sign_in(db: Session, username: str, password: str, *, now: datetime, client: str) -> User:
    """Check a console sign-in; failures and successes are written to the audit log."""
    since = now - SIGN_IN_WINDOW
    failures = (
        db.scalar(
            select(func.count(AuditEntry.id)).where(
                AuditEntry.action == "auth.sign_in_failed",
                AuditEntry.target == f"user:{username}",
                AuditEntry.at >= since,
            )
        )
        or 0
    )
    if failures >= MAX_FAILED_SIGN_INS:
        raise TooManyRequests(
            f"too many failed sign-ins for {username!r}; try again in "
            f"{int(SIGN_IN_WINDOW.total_seconds() // 60)} minutes",
            code="sign_in_throttled",
        )
    try:
        user = verify_password(db, username, password)
    except Unauthorized:
        audit.record(
            db,
            actor=username or "-",
            action="auth.sign_in_failed",
            target=f"user:{username}",
            now=now,
            client=client,
        )
        raise
    audit.record(
        db,
        actor=username,
        action="auth.sign_in",
        target=f"user:{username}",
        now=now,
        client=client,
    )
    return user


def open_session(db: Session, user: User, *, now: datetime, hours: int) -> str:
    token = new_secret(SESSION_PREFIX)
    db.add(
        ConsoleSession(
            token_digest=digest(token),
            csrf_token=secrets.token_urlsafe(32),
            user_id=user.id,
            created_at=now,
            expires_at=now + timedelta(hours=hours),
        )
    )
    return token


def close_session(db: Session, token: str) -> None:
    row = db.scalar(select(ConsoleSession).where(ConsoleSession.token_digest == digest(token)))
    if row is not None:
        db.delete(row)


def principal_from_session(db: Session, token: str, *, now: datetime) -> Principal | None:
    row = db.execute(
        select(ConsoleSession, User)
        .join(User, User.id == ConsoleSession.user_id)
        .where(ConsoleSession.token_digest == digest(token))
    ).first()
    if row is None:
        return None
    session, user = row
    if session.expires_at <= now or user.disabled_at is not None:
        return None
    return Principal(user.id, user.username, Role(user.role), "session", session.csrf_token)


def create_api_token(
    db: Session, user: User, *, name: str, role: Role, now: datetime, days: int | None
) -> tuple[ApiToken, str]:
    granted = Role(user.role)
    if not granted.allows(role):
        raise Forbidden(f"cannot create a {role.value} token as a {granted.value} user")
    token = new_secret(API_PREFIX)
    row = ApiToken(
        name=name,
        token_digest=digest(token),
        user_id=user.id,
        role=role.value,
        created_at=now,
        expires_at=now + timedelta(days=days) if days else None,
        revoked_at=None,
        last_used_at=None,
    )
    db.add(row)
    db.flush()
    return row, token


def principal_from_api_token(db: Session, token: str, *, now: datetime) -> Principal:
    row = db.execute(
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_digest == digest(token))
    ).first()
    if row is None:
        raise Unauthorized("unknown API token", code="bad_token")
    api, user = row
    if api.revoked_at is not None:
        raise Unauthorized(f"API token {api.name!r} was revoked", code="token_revoked")
    if api.expires_at is not None and api.expires_at <= now:
        raise Unauthorized(f"API token {api.name!r} expired", code="token_expired")
    if user.disabled_at is not None:
        raise Unauthorized("the token's user is disabled", code="user_disabled")
    # The token can never do more than its user can do today.
    role = min(Role(api.role), Role(user.role), key=lambda r: r.rank)
    return Principal(user.id, user.username, role, "api-token")
