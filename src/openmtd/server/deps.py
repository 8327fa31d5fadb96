"""FastAPI dependencies: the per-request transaction, the clock, callers and their roles."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from openmtd.domain.enums import Role
from openmtd.domain.errors import Forbidden, Unauthorized
from openmtd.server.context import AppContext
from openmtd.server.security import (
    SESSION_COOKIE,
    Principal,
    principal_from_api_token,
    principal_from_session,
)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


# Dependencies that do no I/O are `async def`: FastAPI runs sync dependencies in the thread
# pool, one hop each, which costs more than the work itself.
async def get_context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


Ctx = Annotated[AppContext, Depends(get_context)]


def get_db(ctx: Ctx) -> Iterator[Session]:
    """One transaction per request: committed when the handler returns, rolled back on error."""
    session = ctx.sessions()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# scope="function": commit (or roll back) before the response is sent, so that a failed commit
# becomes an error response instead of a success the client already received.
Db = Annotated[Session, Depends(get_db, scope="function")]


async def get_now(ctx: Ctx) -> datetime:
    return ctx.clock()


Now = Annotated[datetime, Depends(get_now)]


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def optional_principal(request: Request, db: Db, now: Now) -> Principal | None:
    token = bearer_token(request)
    if token is not None:
        return principal_from_api_token(db, token, now=now)
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    principal = principal_from_session(db, cookie, now=now)
    if (
        principal is not None
        and request.method not in SAFE_METHODS
        and request.url.path.startswith("/api/")
        and not secrets.compare_digest(
            request.headers.get("x-csrf-token", ""), principal.csrf_token
        )
    ):
        raise Forbidden(
            "a session-authenticated API call that changes state needs the X-CSRF-Token header",
            code="csrf_failed",
        )
    return principal


def current_principal(
    principal: Annotated[Principal | None, Depends(optional_principal)],
) -> Principal:
    if principal is None:
        raise Unauthorized(
            "sign in to the console or send 'Authorization: Bearer <API token>'",
            code="authentication_required",
        )
    return principal


def require(role: Role) -> Callable[..., Principal]:
    """Dependency factory: the caller must hold at least `role`."""

    def dependency(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        principal.require(role)
        return principal

    dependency.__name__ = f"require_{role.name.lower()}"
    return dependency


ReadOnly = Annotated[Principal, Depends(require(Role.READ_ONLY))]
Analyst = Annotated[Principal, Depends(require(Role.ANALYST))]
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
