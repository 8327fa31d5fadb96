"""Onboarding tokens: create (secret shown once), list, revoke; render MDM managed config."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from openmtd.domain.enums import Platform
from openmtd.domain.errors import Conflict, InvalidInput, NotFound
from openmtd.enrollment import managed_config
from openmtd.enrollment.scenarios import SCENARIOS
from openmtd.enrollment.tokens import ONBOARDING_PREFIX, digest, new_secret
from openmtd.server.audit import service as audit
from openmtd.server.schemas import ManagedConfigRequest, OnboardingTokenCreate
from openmtd.store.models import OnboardingToken


def token_state(token: OnboardingToken, now: datetime) -> str:
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at <= now:
        return "expired"
    if token.max_uses is not None and token.uses >= token.max_uses:
        return "used up"
    return "active"


def create_token(
    db: Session, *, request: OnboardingTokenCreate, actor: str, now: datetime
) -> tuple[OnboardingToken, str]:
    """Create a token (API, console and CLI alike); the secret is returned, never stored."""
    platform, scenarios = request.platform, request.scenarios
    name, device_group, tags = request.name, request.device_group, request.tags
    max_uses = request.max_uses
    expires_in = timedelta(hours=request.expires_in_hours)
    for s in scenarios:
        spec = SCENARIOS[s]
        if not spec.supported:
            raise InvalidInput(
                f"scenario {s.value!r} ({spec.title}) is not supported: {spec.refusal}",
                code="unsupported_scenario",
            )
        if platform is not None and spec.platform is not platform:
            raise InvalidInput(
                f"scenario {s.value!r} is a {spec.platform.value} scenario; the token is for "
                f"{platform.value}"
            )
    secret = new_secret(ONBOARDING_PREFIX)
    token = OnboardingToken(
        name=name,
        token_digest=digest(secret),
        platform=platform.value if platform else None,
        scenarios=sorted({s.value for s in scenarios}),
        device_group=device_group,
        tags=sorted(set(tags)),
        created_at=now,
        created_by=actor,
        expires_at=now + expires_in,
        max_uses=max_uses,
        uses=0,
        revoked_at=None,
    )
    db.add(token)
    db.flush()
    audit.record(
        db,
        actor=actor,
        action="onboarding_token.create",
        target=f"token:{token.id}",
        now=now,
        name=name,
        platform=token.platform,
        scenarios=token.scenarios,
        device_group=device_group,
        tags=token.tags,
        max_uses=max_uses,
        expires_at=token.expires_at.isoformat(),
    )
    return token, secret


def list_tokens(db: Session) -> list[OnboardingToken]:
    return list(db.scalars(select(OnboardingToken).order_by(OnboardingToken.id.desc())))


def get_token(db: Session, token_id: int) -> OnboardingToken:
    token = db.get(OnboardingToken, token_id)
    if token is None:
        raise NotFound(f"onboarding token {token_id} does not exist")
    return token


def revoke_token(db: Session, *, token_id: int, actor: str, now: datetime) -> OnboardingToken:
    token = get_token(db, token_id)
    if token.revoked_at is not None:
        raise Conflict(f"onboarding token {token.name!r} is already revoked")
    token.revoked_at = now
    audit.record(
        db,
        actor=actor,
        action="onboarding_token.revoke",
        target=f"token:{token.id}",
        now=now,
        name=token.name,
    )
    return token


def render_managed_config(
    request: ManagedConfigRequest, *, server_url: str
) -> tuple[bytes, str, str]:
    """The file for the MDM: (content, media type, file name)."""
    scenario = request.scenario
    spec = SCENARIOS[scenario]
    if not spec.supported:
        raise InvalidInput(
            f"scenario {scenario.value!r} ({spec.title}) is not supported: {spec.refusal}",
            code="unsupported_scenario",
        )
    config = managed_config.ManagedConfig(
        server_url=server_url,
        onboarding_token=request.onboarding_token,
        scenario=scenario,
        device_tag=request.device_tag,
        privacy=request.privacy_settings(spec.scope),
    )
    content = managed_config.render(config, spec.platform)
    if spec.platform is Platform.ANDROID:
        return content, "application/json", f"openmtd-{scenario.value}.json"
    return content, "application/x-plist", f"openmtd-{scenario.value}.plist"
