"""Users (admin) and API tokens (any signed-in user, for automation)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from openmtd.domain.enums import Role
from openmtd.server import presenters
from openmtd.server.deps import Admin, Db, Now, ReadOnly
from openmtd.server.errors import API_ERRORS, responses
from openmtd.server.schemas import ApiTokenCreate, ApiTokenCreated, UserCreate, UserOut
from openmtd.server.users import service

router = APIRouter(prefix="/api", tags=["users"], responses=API_ERRORS)
_AUTH = responses(401, 403)
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.get("/me", response_model=UserOut, responses=_AUTH)
def me(p: ReadOnly, db: Db) -> UserOut:
    return presenters.user_out(service.get_user(db, p.user_id))


@router.get("/users", response_model=list[UserOut], responses=_AUTH)
def list_users(_p: Admin, db: Db) -> list[UserOut]:
    return [presenters.user_out(u) for u in service.list_users(db)]


@router.post(
    "/users",
    response_model=UserOut,
    status_code=201,
    responses=responses(401, 403, _409="username taken"),
)
def create_user(body: UserCreate, p: Admin, db: Db, now: Now) -> UserOut:
    user = service.create_user(
        db,
        username=body.username,
        password=body.password,
        role=body.role,
        actor=p.username,
        now=now,
    )
    return presenters.user_out(user)


@router.post(
    "/users/{user_id}/disable",
    response_model=UserOut,
    responses=responses(401, 403, _404="no such user", _409="last admin"),
)
def disable_user(user_id: Id, p: Admin, db: Db, now: Now) -> UserOut:
    return presenters.user_out(service.disable_user(db, user_id=user_id, actor=p.username, now=now))


@router.post("/api-tokens", response_model=ApiTokenCreated, status_code=201, responses=_AUTH)
def new_api_token(body: ApiTokenCreate, p: ReadOnly, db: Db, now: Now) -> ApiTokenCreated:
    """An API token for automation, never stronger than its user; shown once."""
    row, token = service.issue_api_token(db, caller=p, request=body, now=now)
    return ApiTokenCreated(
        id=row.id, name=row.name, role=Role(row.role), expires_at=row.expires_at, token=token
    )


@router.post(
    "/api-tokens/{token_id}/revoke",
    status_code=204,
    responses=responses(401, 403, _404="no such token"),
)
def revoke_api_token(token_id: Id, p: ReadOnly, db: Db, now: Now) -> None:
    service.revoke_api_token(
        db,
        token_id=token_id,
        actor_id=p.user_id,
        actor=p.username,
        is_admin=p.role.value == "admin",
        now=now,
    )
