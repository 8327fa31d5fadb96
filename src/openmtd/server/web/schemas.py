"""API bodies of web protection: indicators, feeds, URL checks."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from openmtd.domain.enums import Severity
from openmtd.domain.web import IndicatorAction, IndicatorType

Title = Annotated[str, StringConstraints(max_length=255)]
LongText = Annotated[str, StringConstraints(max_length=4096)]
GroupName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:@/ -]{1,128}$")]
Technique = Annotated[str, StringConstraints(pattern=r"^T[0-9]{4}(\.[0-9]{3})?$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class IndicatorFields(_Strict):
    action: IndicatorAction = IndicatorAction.BLOCK
    severity: Severity = Severity.INFORMATIONAL
    title: Title = ""
    description: LongText = ""
    recommended_actions: LongText = ""
    category: Annotated[str, StringConstraints(max_length=64)] = "Phishing"
    mitre_techniques: Annotated[list[Technique], Field(max_length=32)] = Field(default_factory=list)
    generate_alert: bool = True
    expires_at: datetime | None = Field(
        default=None, description="Stops matching from this moment (naive values are UTC)."
    )
    device_groups: Annotated[list[GroupName], Field(max_length=64)] = Field(
        default_factory=list,
        description="Device groups or tags it applies to; empty means every device.",
    )


class IndicatorCreate(IndicatorFields):
    type: IndicatorType
    value: Annotated[str, StringConstraints(min_length=1, max_length=8192)] = Field(
        description="A domain (covers its subdomains), a URL (covers resources under its "
        "path) or an IP address / CIDR network; for apps a file or signing-certificate hash "
        "(hex) or a package name; stored in canonical form."
    )


class IndicatorUpdate(_Strict):
    action: IndicatorAction | None = None
    severity: Severity | None = None
    title: Title | None = None
    description: LongText | None = None
    recommended_actions: LongText | None = None
    category: Annotated[str, StringConstraints(max_length=64)] | None = None
    mitre_techniques: Annotated[list[Technique], Field(max_length=32)] | None = None
    generate_alert: bool | None = None
    expires_at: datetime | None = None
    clear_expiry: bool = False
    device_groups: Annotated[list[GroupName], Field(max_length=64)] | None = None


class IndicatorOut(BaseModel):
    id: int
    type: IndicatorType
    value: str
    action: IndicatorAction
    severity: Severity
    title: str
    description: str
    recommended_actions: str
    category: str
    mitre_techniques: list[str]
    generate_alert: bool
    expires_at: datetime | None
    expired: bool
    device_groups: list[str]
    created_at: datetime
    created_by: str
    updated_at: datetime


class LineProblemOut(BaseModel):
    line: int
    reason: str
    text: str


class ImportResult(BaseModel):
    format: str
    lines: int
    accepted: int
    created: int
    updated: int
    unchanged: int
    duplicates: int
    ignored: int
    ignored_reasons: dict[str, int]
    problem_count: int
    problems: list[LineProblemOut]


class FeedCreate(_Strict):
    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    location: Annotated[str, StringConstraints(min_length=1, max_length=2048)] = Field(
        description="An http(s) URL, or a path to a file on the server."
    )
    format: Annotated[
        str, StringConstraints(pattern=r"^(auto|domains|hosts|adblock|urls|csv|stix|admin-csv)$")
    ] = "auto"
    action: IndicatorAction = IndicatorAction.BLOCK
    severity: Severity = Severity.INFORMATIONAL
    category: Annotated[str, StringConstraints(max_length=64)] = "Phishing"
    enabled: bool = True
    refresh_minutes: int = Field(default=60, ge=0, le=7 * 24 * 60)


class FeedUpdate(_Strict):
    location: Annotated[str, StringConstraints(min_length=1, max_length=2048)] | None = None
    action: IndicatorAction | None = None
    severity: Severity | None = None
    category: Annotated[str, StringConstraints(max_length=64)] | None = None
    enabled: bool | None = None
    refresh_minutes: int | None = Field(default=None, ge=0, le=7 * 24 * 60)


class FeedOut(BaseModel):
    id: int
    name: str
    location: str
    format: str
    action: IndicatorAction
    severity: Severity
    category: str
    enabled: bool
    refresh_minutes: int
    revision: int
    entry_count: int
    last_refresh_at: datetime | None
    last_status: str
    last_report: dict[str, Any]


class MatchOut(BaseModel):
    kind: str
    source: str
    indicator_type: IndicatorType | None
    expression: str
    action: IndicatorAction
    severity: Severity
    title: str
    description: str
    recommended_actions: str
    reason: str


class UrlCheck(_Strict):
    url: Annotated[str, StringConstraints(min_length=1, max_length=16384)]
    device_groups: Annotated[list[GroupName], Field(max_length=64)] | None = Field(
        default=None, description="Judge as a device in these groups (default: any device)."
    )


class VerdictOut(BaseModel):
    target: str
    action: IndicatorAction | None
    blocked: bool
    explanation: str
    problem: str
    decision: MatchOut | None
    matches: list[MatchOut]
