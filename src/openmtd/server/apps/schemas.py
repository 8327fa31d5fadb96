"""Request and response bodies of the app-protection API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from openmtd.domain.enums import InstallSource
from openmtd.server.schemas_common import Hex40, Hex64


class AnalysisSummary(BaseModel):
    sha256: str
    package: str
    version_name: str
    size: int
    signer_sha256: str | None
    verdict: str
    score: int
    analysed_at: datetime
    analysis_ms: int
    devices: int = Field(description="devices (not retired) that have this APK")


class AnalysisDetail(AnalysisSummary):
    result: dict[str, Any] = Field(description="the verdict with its facts and risk factors")
    device_list: list[dict[str, str]]
    devices_excluded: int = Field(
        description="devices that have it but exclude app details from reports (not listed)"
    )


class AppCheck(BaseModel):
    model_config = ConfigDict(extra="forbid")
    package: str | None = Field(default=None, max_length=255)
    sha256: Hex64 | None = None
    signer_sha256: Hex64 | None = None
    signer_sha1: Hex40 | None = None
    install_source: InstallSource | None = None
    device_groups: list[str] = Field(default_factory=list, max_length=64)


class AppCheckOut(BaseModel):
    verdict: str
    score: int
    confidence: str
    reasons: list[str]
    indicator_matches: list[str]
    analysed: bool = Field(description="the server holds a static analysis of this APK")
    result: dict[str, Any]


class RescanOut(BaseModel):
    devices: int
    apps: int
    alerts_raised: int
    alerts_resolved: int
    seconds: float
