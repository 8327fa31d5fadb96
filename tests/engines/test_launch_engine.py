"""Conditional launch: which policy applies (most specific wins), allow at or under the allowed
level, block or wipe above it, and the latch that holds until the threat is resolved."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from openmtd.domain.enums import Platform, RiskLevel
from openmtd.engines.launch import (
    AppProtectionPolicy,
    LaunchAction,
    LaunchDecision,
    LaunchLatch,
    LaunchOutcome,
    decide_launch,
    select_policy,
    specificity,
)

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
APP = "com.contoso.mail"
ANDROID, IOS = Platform.ANDROID, Platform.IOS
SECURED, LOW, MEDIUM, HIGH = RiskLevel.SECURED, RiskLevel.LOW, RiskLevel.MEDIUM, RiskLevel.HIGH
BLOCK, WIPE = LaunchAction.BLOCK, LaunchAction.WIPE


def policy(
    id: int,
    name: str = "",
    *,
    apps: tuple[str, ...] = (),
    group: str | None = None,
    platform: Platform | None = None,
    max_risk: RiskLevel = MEDIUM,
    action: LaunchAction = BLOCK,
) -> AppProtectionPolicy:
    return AppProtectionPolicy(id, name or f"p{id}", apps, group, platform, max_risk, action)


def decide(
    level: RiskLevel,
    policies: list[AppProtectionPolicy],
    latch: LaunchLatch | None = None,
    *,
    app: str = APP,
    group: str = "sales",
    platform: Platform = ANDROID,
    now: datetime = NOW,
) -> LaunchDecision:
    return decide_launch(
        app_id=app,
        device_group=group,
        platform=platform,
        threat_level=level,
        policies=policies,
        latch=latch,
        now=now,
    )


def chosen(
    policies: list[AppProtectionPolicy],
    *,
    app: str = APP,
    group: str = "sales",
    platform: Platform = ANDROID,
) -> int | None:
    found = select_policy(policies, app_id=app, device_group=group, platform=platform)
    return None if found is None else found.id


# --- which policy applies ---------------------------------------------------------------------


def test_policies_that_do_not_cover_the_device_or_app_never_apply() -> None:
    others = [
        policy(1, apps=("com.other.app",)),
        policy(2, group="engineering"),
        policy(3, platform=IOS),
    ]
    assert chosen(others) is None
    result = decide(HIGH, others)
    assert result.outcome is LaunchOutcome.ALLOW
    assert result.policy is None and result.latch is None
    assert result.reason == (
        "allowed: no app protection policy applies to com.contoso.mail on this device "
        "(group 'sales', android)"
    )


def test_a_policy_naming_the_app_beats_a_group_and_platform_wide_one() -> None:
    named = policy(1, apps=(APP,))
    group_and_platform = policy(2, group="sales", platform=ANDROID)
    assert chosen([group_and_platform, named]) == 1
    assert specificity(named) == (1, 0, 0)
    assert specificity(group_and_platform) == (0, 1, 1)


def test_a_policy_for_the_group_beats_an_all_groups_one_then_platform_decides() -> None:
    everyone = policy(1)
    android = policy(2, platform=ANDROID)
    sales = policy(3, group="sales")
    sales_android = policy(4, group="sales", platform=ANDROID)
    assert chosen([everyone]) == 1
    assert chosen([everyone, android]) == 2
    assert chosen([everyone, android, sales]) == 3  # group beats platform
    assert chosen([everyone, android, sales, sales_android]) == 4
    # Named apps first, then the same order among them.
    named_all = policy(5, apps=(APP, "com.x.y"))
    named_sales = policy(6, apps=(APP,), group="sales")
    assert chosen([sales_android, named_all]) == 5
    assert chosen([sales_android, named_all, named_sales]) == 6
    # On iOS the Android ones drop out.
    assert chosen([everyone, android, sales_android], platform=IOS) == 1


def test_ties_go_to_the_strictest_then_the_oldest_whatever_the_order() -> None:
    lenient = policy(1, max_risk=HIGH)
    strict = policy(7, max_risk=LOW)
    strict_wipe = policy(9, max_risk=LOW, action=WIPE)
    strict_older = policy(3, max_risk=LOW)
    candidates = [lenient, strict, strict_wipe, strict_older]
    for seed in range(10):
        shuffled = candidates[:]
        random.Random(seed).shuffle(shuffled)
        assert chosen(shuffled) == 9  # lowest level, then Wipe over Block
    assert chosen([lenient, strict, strict_older]) == 3  # equal: the lowest id
    assert chosen([strict, strict_older]) == 3


def test_app_ids_match_exactly() -> None:
    named = [policy(1, apps=(APP,))]
    assert chosen(named, app="com.contoso.mail") == 1
    assert chosen(named, app="com.contoso.mail2") is None
    assert chosen(named, app="com.contoso") is None


# --- allow / block / wipe at every level -------------------------------------------------------

LEVELS = [SECURED, LOW, MEDIUM, HIGH]


@pytest.mark.parametrize("allowed", LEVELS)
@pytest.mark.parametrize("level", LEVELS)
def test_allowed_exactly_at_or_under_the_maximum(allowed: RiskLevel, level: RiskLevel) -> None:
    p = policy(4, "Mail", max_risk=allowed)
    result = decide(level, [p])
    assert result.threat_level is level
    assert result.threat_level_code == LEVELS.index(level) + 1
    if LEVELS.index(level) <= LEVELS.index(allowed):
        assert result.outcome is LaunchOutcome.ALLOW
        assert result.action_code is None and result.latch is None
        assert result.reason == (
            f"allowed: device threat level {level.value} is at or under {allowed.value}, "
            "the maximum policy 'Mail' (#4) allows"
        )
    else:
        assert result.outcome is LaunchOutcome.BLOCK
        assert result.action_code == 0
        assert result.latch == LaunchLatch(since=NOW, action=BLOCK, wiped=False, policy_id=4)
        assert result.reason == (
            f"blocked: device threat level {level.value} is above {allowed.value}, "
            "the maximum policy 'Mail' (#4) allows; action Block access until the threat "
            "is resolved"
        )


def test_codes_follow_the_reference_log_encoding() -> None:
    assert [lv.code for lv in LEVELS] == [1, 2, 3, 4]
    assert (BLOCK.code, WIPE.code) == (0, 1)
    assert (BLOCK.label, WIPE.label) == ("Block access", "Wipe data")


# --- the latch ----------------------------------------------------------------------------------


def test_block_latches_and_holds_until_the_level_is_back_under() -> None:
    p = [policy(2, "Mail", max_risk=LOW)]
    first = decide(HIGH, p)
    assert first.outcome is LaunchOutcome.BLOCK and first.latch is not None
    # Later: a Medium alert is left, still above Low: still blocked, the latch unchanged.
    later = NOW + timedelta(hours=3)
    still = decide(MEDIUM, p, first.latch, now=later)
    assert still.outcome is LaunchOutcome.BLOCK
    assert still.latch == first.latch  # since is the first block, not now
    assert still.reason == (
        "blocked: device threat level Medium is above Low, the maximum policy 'Mail' (#2) "
        "allows; blocked since 2026-11-26 12:00 UTC until the threat is resolved"
    )
    # Resolved: back at Low, allowed, and the latch is lifted.
    lifted = decide(LOW, p, still.latch, now=later)
    assert lifted.outcome is LaunchOutcome.ALLOW and lifted.latch is None
    assert lifted.reason == (
        "allowed: device threat level Low is back at or under Low, the maximum policy "
        "'Mail' (#2) allows; the block since 2026-11-26 12:00 UTC is lifted"
    )
    # And the next launch is an ordinary allow.
    assert decide(LOW, p, lifted.latch).reason.startswith("allowed: device threat level Low is at")


def test_wipe_is_answered_once_then_block_until_resolved() -> None:
    p = [policy(5, "Docs", max_risk=MEDIUM, action=WIPE)]
    first = decide(HIGH, p)
    assert first.outcome is LaunchOutcome.WIPE
    assert first.action_code == 1
    assert first.latch == LaunchLatch(since=NOW, action=WIPE, wiped=True, policy_id=5)
    assert first.reason == (
        "wipe: device threat level High is above Medium, the maximum policy 'Docs' (#5) "
        "allows; action Wipe data: the app must erase its managed data, and stays blocked "
        "until the threat is resolved"
    )
    second = decide(HIGH, p, first.latch, now=NOW + timedelta(minutes=5))
    assert second.outcome is LaunchOutcome.BLOCK
    assert second.action_code == 0
    assert second.latch == first.latch
    assert second.reason.endswith(
        "until the threat is resolved; its managed data was already wiped"
    )
    assert decide(MEDIUM, p, second.latch).outcome is LaunchOutcome.ALLOW


def test_a_block_latch_under_a_policy_changed_to_wipe_wipes_once() -> None:
    blocked = decide(HIGH, [policy(5, max_risk=LOW)])
    assert blocked.latch is not None and not blocked.latch.wiped
    now_wipe = [policy(5, max_risk=LOW, action=WIPE)]
    wiped = decide(HIGH, now_wipe, blocked.latch)
    assert wiped.outcome is LaunchOutcome.WIPE
    assert wiped.latch == LaunchLatch(since=NOW, action=BLOCK, wiped=True, policy_id=5)
    assert "(blocked since 2026-11-26 12:00 UTC, not wiped before)" in wiped.reason
    assert decide(HIGH, now_wipe, wiped.latch).outcome is LaunchOutcome.BLOCK


def test_the_latch_follows_the_policy_that_applies_now() -> None:
    latch = LaunchLatch(since=NOW, action=BLOCK, wiped=False, policy_id=1)
    # The admin relaxed the policy: High is now allowed, so the block is lifted.
    relaxed = decide(HIGH, [policy(1, max_risk=HIGH)], latch)
    assert relaxed.outcome is LaunchOutcome.ALLOW and relaxed.latch is None
    # The policy is gone: nothing keeps the app blocked.
    gone = decide(HIGH, [], latch)
    assert gone.outcome is LaunchOutcome.ALLOW and gone.latch is None
    assert gone.reason == (
        "allowed: no app protection policy applies any more to com.contoso.mail on this "
        "device (group 'sales', android); the block since 2026-11-26 12:00 UTC is lifted"
    )
    # Another policy still applies and still blocks: the latch keeps its start, names the new one.
    other = decide(MEDIUM, [policy(8, "Strict", max_risk=SECURED)], latch)
    assert other.outcome is LaunchOutcome.BLOCK
    assert other.latch == latch
    assert "policy 'Strict' (#8)" in other.reason


def test_decision_codes() -> None:
    allow = decide(SECURED, [policy(1)])
    assert (allow.threat_level_code, allow.action_code) == (1, None)
    wipe = decide(HIGH, [policy(1, action=WIPE)])
    assert (wipe.threat_level_code, wipe.action_code) == (4, 1)
