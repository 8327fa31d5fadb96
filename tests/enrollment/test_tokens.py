"""Onboarding-token rules (check_onboarding_token) and the secret helpers."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from openmtd.domain.enums import EnrollmentScenario as S
from openmtd.domain.enums import Platform
from openmtd.domain.errors import Unauthorized
from openmtd.enrollment.tokens import (
    API_PREFIX,
    DEVICE_PREFIX,
    ONBOARDING_PREFIX,
    SESSION_PREFIX,
    OnboardingScope,
    OnboardingTokenState,
    TokenRejected,
    check_onboarding_token,
    digest,
    new_secret,
    same_digest,
)

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def token(**changes: object) -> OnboardingTokenState:
    base = OnboardingTokenState(
        name="fleet",
        scope=OnboardingScope(platform=None, scenarios=frozenset(), device_group="g", tags=()),
        expires_at=NOW + timedelta(hours=1),
        max_uses=None,
        uses=0,
        revoked_at=None,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def check(
    state: OnboardingTokenState,
    platform: Platform = Platform.ANDROID,
    scenario: S = S.ANDROID_WORK_PROFILE,
    now: datetime = NOW,
) -> None:
    check_onboarding_token(state, platform=platform, scenario=scenario, now=now)


def rejected(state: OnboardingTokenState, **kwargs: object) -> str:
    with pytest.raises(TokenRejected) as info:
        check(state, **kwargs)  # type: ignore[arg-type]
    assert info.value.code == "onboarding_token_rejected"
    assert info.value.status == 401
    assert isinstance(info.value, Unauthorized)
    return str(info.value)


def test_an_unrestricted_token_allows_any_platform_and_scenario() -> None:
    for scenario in (S.ANDROID_COBO, S.IOS_SUPERVISED, S.IOS_MAM):
        platform = Platform.IOS if scenario.value.startswith("ios") else Platform.ANDROID
        check(token(), platform, scenario)


def test_revoked() -> None:
    assert rejected(token(revoked_at=NOW - timedelta(minutes=1))) == (
        "onboarding token 'fleet' was revoked"
    )


def test_expiry_is_exclusive_at_expires_at() -> None:
    check(token(expires_at=NOW + timedelta(microseconds=1)))
    message = rejected(token(expires_at=NOW))
    assert message == f"onboarding token 'fleet' expired at {NOW.isoformat()}"
    assert "expired" in rejected(token(expires_at=NOW - timedelta(days=1)))


def test_max_uses_including_exactly_at_the_limit() -> None:
    check(token(max_uses=3, uses=2))  # the third use is allowed
    assert rejected(token(max_uses=3, uses=3)) == (
        "onboarding token 'fleet' is used up (3 of 3 uses)"
    )
    assert "used up (4 of 3 uses)" in rejected(token(max_uses=3, uses=4))
    check(token(max_uses=None, uses=10_000))


def test_platform_scope() -> None:
    scoped = token(scope=OnboardingScope(Platform.IOS, frozenset(), "g", ()))
    check(scoped, Platform.IOS, S.IOS_SUPERVISED)
    assert rejected(scoped) == "onboarding token 'fleet' is for ios devices, not android"


def test_scenario_scope_lists_what_is_allowed() -> None:
    scoped = token(
        scope=OnboardingScope(None, frozenset({S.ANDROID_COBO, S.ANDROID_COPE}), "g", ())
    )
    check(scoped, Platform.ANDROID, S.ANDROID_COPE)
    assert rejected(scoped, scenario=S.ANDROID_WORK_PROFILE) == (
        "onboarding token 'fleet' does not allow scenario 'android-work-profile' "
        "(allowed: android-cobo, android-cope)"
    )


def test_revocation_is_reported_before_expiry_and_use() -> None:
    state = token(revoked_at=NOW, expires_at=NOW - timedelta(days=1), max_uses=1, uses=1)
    assert "revoked" in rejected(state)


@pytest.mark.parametrize("prefix", [ONBOARDING_PREFIX, DEVICE_PREFIX, API_PREFIX, SESSION_PREFIX])
def test_secrets_are_random_prefixed_and_digested(prefix: str) -> None:
    a, b = new_secret(prefix), new_secret(prefix)
    assert a != b
    assert a.startswith(prefix) and len(a) >= len(prefix) + 43  # 256 bits, url-safe base64
    assert digest(a) == hashlib.sha256(a.encode()).hexdigest()
    assert len(digest(a)) == 64 and a not in digest(a)
    assert same_digest(digest(a), digest(a))
    assert not same_digest(digest(a), digest(b))
