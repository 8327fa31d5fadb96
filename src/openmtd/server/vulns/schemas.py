"""API shapes of vulnerability management (lists use the `queries` dataclasses directly)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from openmtd.engines.vulns.recommendations import Recommendation
from openmtd.server.vulns import queries

#: How many device ids a recommendation lists (its device_count is always complete).
LISTED_DEVICES = 100


class RecommendationOut(BaseModel):
    id: str
    title: str
    kind: str
    product: str
    subject: str
    target_version: str
    target_is_after: bool
    cve_ids: list[str]
    exploited_ids: list[str]
    device_count: int
    device_ids: list[str]  # the first LISTED_DEVICES
    impact: float  # exposure points removed, summed over the devices

    @classmethod
    def of(cls, r: Recommendation) -> RecommendationOut:
        return cls(
            id=r.id,
            title=r.title,
            kind=r.kind.value,
            product=r.product.value,
            subject=r.subject,
            target_version=r.target_version,
            target_is_after=r.target_is_after,
            cve_ids=list(r.cve_ids),
            exploited_ids=list(r.exploited_ids),
            device_count=r.device_count,
            device_ids=list(r.device_ids[:LISTED_DEVICES]),
            impact=r.impact,
        )


class RematchOut(BaseModel):
    state: str  # idle, building, matching, failed
    generation: int
    done: int
    total: int
    started_at: datetime | None
    finished_at: datetime | None
    build_seconds: float
    match_seconds: float
    error: str


class VulnOverviewOut(BaseModel):
    exposure: int
    band: str
    explanation: str
    devices_by_band: dict[str, int]
    devices_by_assessment: dict[str, int]
    vulnerabilities_by_severity: dict[str, int]
    vulnerabilities: int
    exploited: int
    feed_records: int
    last_import: datetime | None
    top_recommendations: list[RecommendationOut]
    rematch: RematchOut


class ProblemOut(BaseModel):
    record: str
    reason: str


class ImportOut(BaseModel):
    id: int
    imported_at: datetime
    origin: str
    format: str
    records: int
    new: int
    changed: int
    unchanged: int
    problems: int
    problem_samples: list[ProblemOut]
    skipped: dict[str, int]
    error: str = ""  # a scheduled fetch that failed

    @classmethod
    def of(cls, row_id: int, at: datetime, summary: dict[str, Any]) -> ImportOut:
        return cls(
            id=row_id,
            imported_at=at,
            origin=str(summary.get("origin", "")),
            format=str(summary.get("format", "")),
            records=int(summary.get("records", 0)),
            new=int(summary.get("new", 0)),
            changed=int(summary.get("changed", 0)),
            unchanged=int(summary.get("unchanged", 0)),
            problems=int(summary.get("problems", 0)),
            problem_samples=[ProblemOut(**p) for p in summary.get("problem_samples", [])],
            skipped={str(k): int(v) for k, v in (summary.get("skipped") or {}).items()},
            error=str(summary.get("error") or ""),
        )


class MappingRowOut(BaseModel):
    identifier: str
    product: str


class MappingOut(BaseModel):
    builtin: list[MappingRowOut]
    custom: list[MappingRowOut]


class VulnDetailOut(BaseModel):
    vulnerability: queries.VulnSummary
    kev: dict[str, Any] | None
    records: list[dict[str, Any]]
    affected: list[queries.AffectedDevice]
    affected_total: int


class DeviceVulnsOut(BaseModel):
    device_id: str
    assessment: str  # full, os-only (vulnerability privacy mode), none, failed
    privacy_note: str
    assessed_at: datetime | None
    exposure: int | None
    band: str
    explanation: str
    count: int
    exploited: int
    top: list[dict[str, Any]]
    problems: list[str]
    findings: list[queries.DeviceFinding]

    @classmethod
    def of(cls, d: queries.DeviceVulns) -> DeviceVulnsOut:
        return cls.model_validate(d, from_attributes=True)
