"""Device risk level: the highest severity among the device's active, non-informational alerts."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from openmtd.domain.enums import AlertStatus, RiskLevel, Severity

_LEVEL_FOR_SEVERITY = {
    Severity.LOW: RiskLevel.LOW,
    Severity.MEDIUM: RiskLevel.MEDIUM,
    Severity.HIGH: RiskLevel.HIGH,
}


@dataclass(frozen=True, slots=True)
class AlertFact:
    """The little the risk engine needs to know about one alert."""

    alert_id: int
    title: str
    severity: Severity
    status: AlertStatus


@dataclass(frozen=True, slots=True)
class RiskAssessment:
    level: RiskLevel
    reason: str
    driving_alert_ids: tuple[int, ...] = ()


def assess_risk(alerts: Iterable[AlertFact]) -> RiskAssessment:
    """Secured unless an active Low/Medium/High alert exists; the worst one sets the level."""
    counted = [a for a in alerts if a.status.is_active and a.severity is not Severity.INFORMATIONAL]
    if not counted:
        return RiskAssessment(RiskLevel.SECURED, "no active alert above Informational")
    worst = max(a.severity.rank for a in counted)
    drivers = sorted((a for a in counted if a.severity.rank == worst), key=lambda a: a.alert_id)
    level = _LEVEL_FOR_SEVERITY[drivers[0].severity]
    names = ", ".join(f"#{a.alert_id} {a.title!r}" for a in drivers[:3])
    more = f" and {len(drivers) - 3} more" if len(drivers) > 3 else ""
    return RiskAssessment(
        level,
        f"{level.value}: active {drivers[0].severity.value} alert(s) {names}{more}",
        tuple(a.alert_id for a in drivers),
    )


def is_at_or_under(level: RiskLevel, allowed: RiskLevel) -> bool:
    """Compliance rule of the reference product: the device level is at or under the allowed one."""
    return level.rank <= allowed.rank
