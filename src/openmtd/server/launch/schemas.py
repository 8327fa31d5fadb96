"""API bodies of conditional launch: app protection policies, the launch call, the log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from openmtd.domain.enums import Platform, RiskLevel
from openmtd.engines.launch import LaunchAction

MAX_APP_IDS = 100

AppId = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+$", max_length=255),
]
PolicyName = Annotated[str, StringConstraints(pattern=r"^[^\x00-\x1f\x7f]{1,128}$")]
GroupName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._ -]{1,128}$")]
AppVersion = Annotated[str, StringConstraints(pattern=r"^[^\x00-\x1f\x7f]{0,64}$")]

_APP_ID_TEXT = (
    "An Android package name or iOS bundle id: dot-separated segments of ASCII letters, digits, "
    "'_' and '-', with at least one dot, at most 255 characters; matched exactly (case too)."
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class PolicyBody(_Strict):
    """An app protection policy (POST creates one, PUT replaces one)."""

    name: PolicyName = Field(description="Unique name, shown in every decision.")
    app_ids: Annotated[list[AppId], Field(max_length=MAX_APP_IDS)] = Field(
        default_factory=list,
        description=f"The managed apps it covers; empty means every managed app. {_APP_ID_TEXT}",
    )
    device_group: GroupName | None = Field(
        default=None,
        description="The device group it covers (a group no device has yet is fine); "
        "null: all groups.",
    )
    platform: Platform | None = Field(default=None, description="null: Android and iOS.")
    max_risk: RiskLevel = Field(
        description="Maximum allowed device threat level: a launch is allowed at or under it."
    )
    action: LaunchAction = Field(
        description="Above the level: 'block' (Block access) or 'wipe' (Wipe data: the app "
        "erases its managed data once, then stays blocked)."
    )


class PolicyOut(BaseModel):
    id: int
    name: str
    app_ids: list[str]
    device_group: str | None
    platform: Platform | None
    max_risk: RiskLevel
    max_risk_code: int = Field(description="1 Secured, 2 Low, 3 Medium, 4 High.")
    action: LaunchAction
    action_code: int = Field(description="0 Block, 1 Wipe.")
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str


class LaunchRequest(_Strict):
    app_id: AppId = Field(description=f"The managed app being launched. {_APP_ID_TEXT}")
    app_version: AppVersion | None = Field(default=None, description="Its version, for the log.")


class PolicyRef(BaseModel):
    id: int
    name: str
    max_risk: RiskLevel
    action: LaunchAction


class LaunchAnswer(BaseModel):
    """Whether the managed app may open."""

    decision: Literal["allow", "block", "wipe"] = Field(
        description="allow: open. block: do not open. wipe: erase the app's managed data, "
        "then do not open (said once; later launches while still above the level say block)."
    )
    threat_level: RiskLevel = Field(description="The device's current threat level.")
    threat_level_code: int = Field(ge=1, le=4, description="1 Secured, 2 Low, 3 Medium, 4 High.")
    action_code: int | None = Field(description="0 Block, 1 Wipe; null when allowed.")
    policy: PolicyRef | None = Field(description="The policy that decided; null: none applies.")
    reason: str = Field(description="Why, naming the policy, the device level and the allowed one.")
    retry_after_seconds: int | None = Field(
        default=None,
        description="When blocked: how long to wait before asking again (the device's threat "
        "level changes at its next check-in, or when an analyst resolves the alert).",
    )


class LaunchLogOut(BaseModel):
    id: int
    device_id: str
    app_id: str
    app_version: str | None
    at: datetime
    decision: Literal["allow", "block", "wipe"]
    threat_level: RiskLevel
    threat_level_code: int = Field(description="1 Secured, 2 Low, 3 Medium, 4 High.")
    action_code: int | None = Field(description="0 Block, 1 Wipe; null when allowed.")
    policy_id: int | None
    policy_name: str | None
    explanation: str


class LatchOut(BaseModel):
    app_id: str
    policy_id: int | None
    action: LaunchAction = Field(description="The action that latched the block.")
    wiped: bool = Field(description="The app was told to erase its managed data.")
    threat_level_code: int = Field(description="The device's level when it latched (1-4).")
    latched_at: datetime
    last_blocked_at: datetime


class DeviceLaunchOut(BaseModel):
    """A device's conditional-launch state: the blocks it holds until its threat is resolved."""

    device_id: str
    threat_level: RiskLevel
    threat_level_code: int
    latches: list[LatchOut]
