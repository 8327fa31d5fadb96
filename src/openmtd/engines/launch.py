"""Conditional launch for managed apps (MAM): which app protection policy applies, and its verdict.

A managed app asks the server at every launch whether it may open. The answer comes from the
device's threat level (`RiskLevel`, recomputed from its active alerts) and the one app
protection policy that applies to this app on this device:

* **allow** when no policy applies, or the device's level is at or under the policy's maximum
  allowed level (the reference product's compliance rule, `engines.risk.is_at_or_under`);
* otherwise the policy's action: **block** (the app refuses to open) or **wipe** (the app erases
  its managed data, then refuses to open).

Which policy applies (most specific wins), compared in this order:

1. a policy that names the app beats one for every managed app (an empty app list);
2. then a policy for the device's group beats one for all groups;
3. then a policy for the device's platform beats one for both platforms;
4. ties: the strictest wins (the lowest allowed level, then Wipe over Block), then the lowest
   policy id (the oldest policy), so the choice never depends on the order of the list.

"A blocked device stays blocked until the threat is resolved": a block or wipe *latches* for
this (device, app). While the latch holds, every launch is blocked until the device's level is
back at or under the allowed level of the policy that applies then; that launch is allowed and
the latch cleared. Wipe happens once: the first decision says "wipe" (the app must erase its
managed data), later launches while the level is still too high say "block", since the data is
already gone. (A latch set by a Block-access policy whose action the admin later changed to
Wipe data answers "wipe" once, as nothing was wiped yet.) When no policy applies any more (the
admin deleted it or narrowed its scope), a latch is cleared and the launch allowed.

Reference log encoding: threat level 1 Secured, 2 Low, 3 Medium, 4 High (`RiskLevel.code`);
action 0 Block, 1 Wipe (`LaunchAction.code`; none on allow).

Pure: no I/O, the caller passes `now` (the time a new latch starts).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum

from openmtd.domain.enums import Platform, RiskLevel
from openmtd.engines.risk import is_at_or_under


class LaunchAction(StrEnum):
    """What a policy does to a launch above its allowed level."""

    BLOCK = "block"
    WIPE = "wipe"

    @property
    def code(self) -> int:
        """The reference log encoding: 0 Block, 1 Wipe."""
        return 0 if self is LaunchAction.BLOCK else 1

    @property
    def label(self) -> str:
        return "Block access" if self is LaunchAction.BLOCK else "Wipe data"


class LaunchOutcome(StrEnum):
    ALLOW = "allow"
    BLOCK = "block"
    WIPE = "wipe"


@dataclass(frozen=True, slots=True)
class AppProtectionPolicy:
    """An admin's app protection policy, as the engine needs it."""

    id: int
    name: str
    app_ids: tuple[str, ...] = ()  # empty: every managed app
    device_group: str | None = None  # None: all groups
    platform: Platform | None = None  # None: both platforms
    max_risk: RiskLevel = RiskLevel.MEDIUM
    action: LaunchAction = LaunchAction.BLOCK

    def applies_to(self, *, app_id: str, device_group: str, platform: Platform) -> bool:
        return (
            (not self.app_ids or app_id in self.app_ids)
            and (self.device_group is None or self.device_group == device_group)
            and (self.platform is None or self.platform is platform)
        )

    @property
    def label(self) -> str:
        return f"policy {self.name!r} (#{self.id})"


@dataclass(frozen=True, slots=True)
class LaunchLatch:
    """A block that holds for one (device, app) until the threat is resolved."""

    since: datetime
    action: LaunchAction  # the action that first latched it
    wiped: bool  # the app was told to erase its managed data
    policy_id: int | None = None  # the policy that latched it (None: since deleted)


@dataclass(frozen=True, slots=True)
class LaunchDecision:
    outcome: LaunchOutcome
    threat_level: RiskLevel
    policy: AppProtectionPolicy | None
    reason: str
    latch: LaunchLatch | None  # the latch to hold after this decision (None: no latch)

    @property
    def threat_level_code(self) -> int:
        """1 Secured, 2 Low, 3 Medium, 4 High."""
        return self.threat_level.code

    @property
    def action_code(self) -> int | None:
        """0 Block, 1 Wipe; None when the launch is allowed."""
        if self.outcome is LaunchOutcome.ALLOW:
            return None
        return (
            LaunchAction.WIPE if self.outcome is LaunchOutcome.WIPE else LaunchAction.BLOCK
        ).code


def specificity(policy: AppProtectionPolicy) -> tuple[int, int, int]:
    """How specific a policy is: (names apps, names a group, names a platform), each 0 or 1."""
    return (
        int(bool(policy.app_ids)),
        int(policy.device_group is not None),
        int(policy.platform is not None),
    )


def _precedence(policy: AppProtectionPolicy) -> tuple[int, int, int, int, int, int]:
    """Sort key: the smallest key wins (see the module docstring for the order)."""
    app, group, platform = specificity(policy)
    return (-app, -group, -platform, policy.max_risk.rank, -policy.action.code, policy.id)


def select_policy(
    policies: Iterable[AppProtectionPolicy],
    *,
    app_id: str,
    device_group: str,
    platform: Platform,
) -> AppProtectionPolicy | None:
    """The one policy that applies to this app on this device (None: no policy applies)."""
    applicable = [
        p
        for p in policies
        if p.applies_to(app_id=app_id, device_group=device_group, platform=platform)
    ]
    return min(applicable, key=_precedence, default=None)


def _fmt(when: datetime) -> str:
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def decide_launch(
    *,
    app_id: str,
    device_group: str,
    platform: Platform,
    threat_level: RiskLevel,
    policies: Iterable[AppProtectionPolicy],
    latch: LaunchLatch | None,
    now: datetime,
) -> LaunchDecision:
    """Allow, block or wipe one launch of `app_id`, with the reason and the latch to keep."""
    level = threat_level
    policy = select_policy(policies, app_id=app_id, device_group=device_group, platform=platform)

    if policy is None:
        where = f"on this device (group {device_group!r}, {platform.value})"
        if latch is not None:
            return LaunchDecision(
                LaunchOutcome.ALLOW,
                level,
                None,
                f"allowed: no app protection policy applies any more to {app_id} {where}; "
                f"the block since {_fmt(latch.since)} is lifted",
                None,
            )
        return LaunchDecision(
            LaunchOutcome.ALLOW,
            level,
            None,
            f"allowed: no app protection policy applies to {app_id} {where}",
            None,
        )

    allowed = policy.max_risk
    compared = f"the maximum {policy.label} allows"
    if is_at_or_under(level, allowed):
        if latch is not None:
            return LaunchDecision(
                LaunchOutcome.ALLOW,
                level,
                policy,
                f"allowed: device threat level {level.value} is back at or under "
                f"{allowed.value}, {compared}; the block since {_fmt(latch.since)} is lifted",
                None,
            )
        return LaunchDecision(
            LaunchOutcome.ALLOW,
            level,
            policy,
            f"allowed: device threat level {level.value} is at or under {allowed.value}, "
            f"{compared}",
            None,
        )

    above = f"device threat level {level.value} is above {allowed.value}, {compared}"
    if latch is None:
        if policy.action is LaunchAction.WIPE:
            return LaunchDecision(
                LaunchOutcome.WIPE,
                level,
                policy,
                f"wipe: {above}; action Wipe data: the app must erase its managed data, and "
                "stays blocked until the threat is resolved",
                LaunchLatch(since=now, action=LaunchAction.WIPE, wiped=True, policy_id=policy.id),
            )
        return LaunchDecision(
            LaunchOutcome.BLOCK,
            level,
            policy,
            f"blocked: {above}; action Block access until the threat is resolved",
            LaunchLatch(since=now, action=LaunchAction.BLOCK, wiped=False, policy_id=policy.id),
        )

    since = _fmt(latch.since)
    if policy.action is LaunchAction.WIPE and not latch.wiped:
        return LaunchDecision(
            LaunchOutcome.WIPE,
            level,
            policy,
            f"wipe: {above}; action Wipe data: the app must erase its managed data "
            f"(blocked since {since}, not wiped before), and stays blocked until the threat "
            "is resolved",
            replace(latch, wiped=True),
        )
    wiped = "; its managed data was already wiped" if latch.wiped else ""
    return LaunchDecision(
        LaunchOutcome.BLOCK,
        level,
        policy,
        f"blocked: {above}; blocked since {since} until the threat is resolved{wiped}",
        latch,
    )
