"""Secrets the server hands out: onboarding tokens, device credentials, API tokens, sessions.

Every secret is 256 bits from `secrets`, shown once, and stored only as its SHA-256 digest. A
fast hash is right here (unlike for passwords): the secrets are random, so there is nothing to
guess, and a lookup by digest keeps check-in authentication to one indexed query.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from openmtd.domain.enums import EnrollmentScenario, Platform
from openmtd.domain.errors import Unauthorized

ONBOARDING_PREFIX = "omt_onb_"
DEVICE_PREFIX = "omt_dev_"
API_PREFIX = "omt_api_"
SESSION_PREFIX = "omt_ses_"


def new_secret(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def same_digest(a: str, b: str) -> bool:
    return hmac.compare_digest(a, b)


class TokenRejected(Unauthorized):
    """An onboarding token cannot be used; the message says which rule refused it."""

    code = "onboarding_token_rejected"


@dataclass(frozen=True, slots=True)
class OnboardingScope:
    """What an onboarding token allows."""

    platform: Platform | None  # None: either platform
    scenarios: frozenset[EnrollmentScenario]  # empty: every supported scenario
    device_group: str
    tags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class OnboardingTokenState:
    name: str
    scope: OnboardingScope
    expires_at: datetime
    max_uses: int | None
    uses: int
    revoked_at: datetime | None


def check_onboarding_token(
    token: OnboardingTokenState,
    *,
    platform: Platform,
    scenario: EnrollmentScenario,
    now: datetime,
) -> None:
    """Raise TokenRejected naming the rule if `token` may not enroll this device now."""
    if token.revoked_at is not None:
        raise TokenRejected(f"onboarding token {token.name!r} was revoked")
    if now >= token.expires_at:
        raise TokenRejected(
            f"onboarding token {token.name!r} expired at {token.expires_at.isoformat()}"
        )
    if token.max_uses is not None and token.uses >= token.max_uses:
        raise TokenRejected(
            f"onboarding token {token.name!r} is used up ({token.uses} of {token.max_uses} uses)"
        )
    if token.scope.platform is not None and token.scope.platform is not platform:
        raise TokenRejected(
            f"onboarding token {token.name!r} is for {token.scope.platform.value} devices, "
            f"not {platform.value}"
        )
    if token.scope.scenarios and scenario not in token.scope.scenarios:
        allowed = ", ".join(sorted(s.value for s in token.scope.scenarios))
        raise TokenRejected(
            f"onboarding token {token.name!r} does not allow scenario {scenario.value!r} "
            f"(allowed: {allowed})"
        )
