"""Domain enums and the error hierarchy the server maps to its JSON envelope."""

from __future__ import annotations

import dataclasses

import pytest

from openmtd.domain.device import AppInfo, Detection, DeviceFacts
from openmtd.domain.enums import (
    AlertStatus,
    EnrollmentScenario,
    InstallSource,
    Platform,
    RiskLevel,
    Role,
    Severity,
)
from openmtd.domain.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    OpenMTDError,
    PayloadTooLarge,
    Unauthorized,
)


def test_severity_and_risk_order() -> None:
    assert [
        s.rank for s in (Severity.INFORMATIONAL, Severity.LOW, Severity.MEDIUM, Severity.HIGH)
    ] == [0, 1, 2, 3]
    assert [
        r.rank for r in (RiskLevel.SECURED, RiskLevel.LOW, RiskLevel.MEDIUM, RiskLevel.HIGH)
    ] == [0, 1, 2, 3]
    assert {s.value for s in Severity} == {"Informational", "Low", "Medium", "High"}


def test_only_resolved_alerts_are_inactive() -> None:
    assert AlertStatus.NEW.is_active and AlertStatus.IN_PROGRESS.is_active
    assert not AlertStatus.RESOLVED.is_active


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (Role.READ_ONLY, {Role.READ_ONLY}),
        (Role.ANALYST, {Role.READ_ONLY, Role.ANALYST}),
        (Role.ADMIN, {Role.READ_ONLY, Role.ANALYST, Role.ADMIN}),
    ],
)
def test_roles_include_the_ones_below(role: Role, allowed: set[Role]) -> None:
    assert {needed for needed in Role if role.allows(needed)} == allowed


def test_scenario_values_name_their_platform() -> None:
    for scenario in EnrollmentScenario:
        assert Platform(scenario.value.split("-")[0])


@pytest.mark.parametrize(
    ("cls", "status", "code"),
    [
        (OpenMTDError, 400, "error"),
        (InvalidInput, 422, "invalid_input"),
        (NotFound, 404, "not_found"),
        (Conflict, 409, "conflict"),
        (Unauthorized, 401, "unauthorized"),
        (Forbidden, 403, "forbidden"),
        (PayloadTooLarge, 413, "payload_too_large"),
    ],
)
def test_error_hierarchy(cls: type[OpenMTDError], status: int, code: str) -> None:
    error = cls("what went wrong", extra=1)
    assert isinstance(error, OpenMTDError)
    assert (error.status, error.code, error.message, str(error)) == (
        status,
        code,
        "what went wrong",
        "what went wrong",
    )
    assert error.details == {"extra": 1}
    custom = cls("x", code="specific")
    assert custom.code == "specific" and cls.code == code  # the class default is untouched


def test_domain_values_are_frozen() -> None:
    app = AppInfo("com.example", "1.0")
    assert app.install_source is InstallSource.UNKNOWN
    with pytest.raises(dataclasses.FrozenInstanceError):
        app.version = "2.0"  # type: ignore[misc]
    detection = Detection("Malware", "bad", Severity.MEDIUM, "k")
    assert not detection.timeline_only and not detection.resolved
    facts = DeviceFacts(Platform.IOS, EnrollmentScenario.IOS_MAM, "18.1", "iPhone")
    assert facts.apps == () and facts.tags == ()
