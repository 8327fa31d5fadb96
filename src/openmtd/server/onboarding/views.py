"""Onboarding tokens, the scenario table and MDM managed-configuration files."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from openmtd.enrollment.scenarios import SCENARIOS
from openmtd.server import presenters
from openmtd.server.deps import Admin, Ctx, Db, Now, ReadOnly
from openmtd.server.errors import API_ERRORS, responses
from openmtd.server.onboarding import service
from openmtd.server.schemas import (
    ManagedConfigRequest,
    OnboardingTokenCreate,
    OnboardingTokenCreated,
    OnboardingTokenOut,
    ScenarioOut,
)

router = APIRouter(prefix="/api/onboarding", tags=["onboarding"], responses=API_ERRORS)
_AUTH = responses(401, 403)
TokenId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.get("/scenarios", response_model=list[ScenarioOut], responses=_AUTH)
def scenarios(_p: ReadOnly) -> list[ScenarioOut]:
    """The enrollment scenario table of both platforms, supported or not."""
    return [
        ScenarioOut(
            scenario=s.scenario,
            platform=s.platform,
            title=s.title,
            supported=s.supported,
            company_portal=s.company_portal,
            protection_scope=s.scope.value if s.scope else None,
            onboarding=s.onboarding.value,
            notes=s.notes,
            refusal=s.refusal,
            deprecated_after=s.deprecated_after,
        )
        for s in SCENARIOS.values()
    ]


@router.get("/tokens", response_model=list[OnboardingTokenOut], responses=_AUTH)
def list_tokens(_p: Admin, db: Db, now: Now) -> list[OnboardingTokenOut]:
    return [presenters.token_out(t, now) for t in service.list_tokens(db)]


@router.post("/tokens", response_model=OnboardingTokenCreated, status_code=201, responses=_AUTH)
def create_token(body: OnboardingTokenCreate, p: Admin, db: Db, now: Now) -> OnboardingTokenCreated:
    """Create an onboarding token; the secret is in this response only."""
    token, secret = service.create_token(db, request=body, actor=p.username, now=now)
    return OnboardingTokenCreated(**presenters.token_out(token, now).model_dump(), token=secret)


@router.post(
    "/tokens/{token_id}/revoke",
    response_model=OnboardingTokenOut,
    responses=responses(401, 403, _404="no such token", _409="already revoked"),
)
def revoke_token(token_id: TokenId, p: Admin, db: Db, now: Now) -> OnboardingTokenOut:
    token = service.revoke_token(db, token_id=token_id, actor=p.username, now=now)
    return presenters.token_out(token, now)


@router.post(
    "/managed-config",
    responses={
        **_AUTH,
        200: {
            "description": "Android managed-configuration JSON or iOS app-config plist",
            "content": {"application/json": {}, "application/x-plist": {}},
        },
    },
    response_class=Response,
)
def managed_config(body: ManagedConfigRequest, _p: Admin, ctx: Ctx) -> Response:
    """Render the managed configuration an MDM deploys for zero/low-touch onboarding."""
    content, media_type, filename = service.render_managed_config(
        body, server_url=ctx.settings.public_url
    )
    return Response(
        content,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
