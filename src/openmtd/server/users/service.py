"""Console users and their API tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from openmtd.domain.enums import Role
from openmtd.domain.errors import Conflict, InvalidInput, NotFound
from openmtd.server.audit import service as audit
from openmtd.server.schemas import ApiTokenCreate
from openmtd.server.security import Principal, create_api_token, hash_password
from openmtd.store.models import ApiToken, User


def create_user(
    db: Session, *, username: str, password: str, role: Role, actor: str, now: datetime
) -> User:
    if db.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"user {username!r} already exists")
    try:
        hashed = hash_password(password)
    except ValueError as e:
        raise InvalidInput(str(e), code="weak_password") from e
    user = User(
        username=username, password_hash=hashed, role=role.value, created_at=now, disabled_at=None
    )
    try:
        with db.begin_nested():
            db.add(user)
    except IntegrityError as e:
        raise Conflict(f"user {username!r} already exists") from e
    audit.record(
        db, actor=actor, action="user.create", target=f"user:{username}", now=now, role=role.value
    )
    return user


def list_users(db: Session) -> list[User]:
    return list(db.scalars(select(User).order_by(User.username)))


def get_user(db: Session, user_id: int) -> User:
    user = db.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} does not exist")
    return user


def count_admins(db: Session) -> int:
    return len(
        db.scalars(
            select(User.id).where(User.role == Role.ADMIN.value, User.disabled_at.is_(None))
        ).all()
    )


def disable_user(db: Session, *, user_id: int, actor: str, now: datetime) -> User:
    user = get_user(db, user_id)
    if user.role == Role.ADMIN.value and user.disabled_at is None and count_admins(db) <= 1:
        raise Conflict("cannot disable the last active admin")
    user.disabled_at = now
    audit.record(db, actor=actor, action="user.disable", target=f"user:{user.username}", now=now)
    return user


def revoke_api_token(
    db: Session, *, token_id: int, actor_id: int, actor: str, is_admin: bool, now: datetime
) -> ApiToken:
    token = db.get(ApiToken, token_id)
    if token is None or (token.user_id != actor_id and not is_admin):
        raise NotFound(f"API token {token_id} does not exist")
    if token.revoked_at is None:
        token.revoked_at = now
        audit.record(
            db,
            actor=actor,
            action="api_token.revoke",
            target=f"api_token:{token.id}",
            now=now,
            name=token.name,
        )
    return token


def list_api_tokens(db: Session, user_id: int) -> list[ApiToken]:
    """The API tokens of one user, newest first (digests only; secrets are never stored)."""
    return list(
        db.scalars(select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id.desc()))
    )


def issue_api_token(
    db: Session, *, caller: Principal, request: ApiTokenCreate, now: datetime
) -> tuple[ApiToken, str]:
    """An API token for the caller (at most the caller's role), audited; the secret is returned."""
    user = get_user(db, caller.user_id)
    role = request.role or caller.role
    row, secret = create_api_token(
        db, user, name=request.name, role=role, now=now, days=request.expires_in_days
    )
    audit.record(
        db,
        actor=caller.username,
        action="api_token.create",
        target=f"api_token:{row.id}",
        now=now,
        name=request.name,
        role=role.value,
    )
    return row, secret
