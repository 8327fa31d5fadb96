"""Schemathesis against the app's own OpenAPI document: no input may produce a 5xx.

Every operation gets valid (positive) and invalid (negative) generated requests, sent as an
admin API token for the console API and as a real enrolled device for the agent protocol (with
its own device id in the path, so the generated bodies reach the check-in and sync logic, and a
valid onboarding token in generated enrollments). Checks: never a server error; responses
conform to the documented schemas; every error uses the JSON error envelope.

Bounded and derandomized (same examples every run) so that it stays fast. It runs on SQLite and
on PostgreSQL: PostgreSQL is the backend that refuses what SQLite silently stores (NUL
characters, over-long strings), so it is the half that finds more.
"""

from __future__ import annotations

import uuid
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from conftest import Api
from openmtd.domain.enums import Role
from openmtd.server.security import create_api_token
from openmtd.server.users.service import create_user

# DoH bodies are DNS wire format: let schemathesis send bytes for them.
schemathesis.serializer.alias("application/dns-message", "application/octet-stream")

EXAMPLES = {GenerationMode.POSITIVE: 15, GenerationMode.NEGATIVE: 10}  # 25 per operation


def _fresh_admin(api: Api) -> dict[str, str]:
    """A new admin token (a generated request may revoke the old one or disable its user)."""
    with api.app.state.ctx.sessions.begin() as db:
        user = create_user(
            db,
            username=f"fuzz-{uuid.uuid4().hex[:8]}",
            password="correct horse battery",
            role=Role.ADMIN,
            actor="test",
            now=api.clock(),
        )
        db.flush()
        _row, token = create_api_token(
            db, user, name="fuzz", role=Role.ADMIN, now=api.clock(), days=None
        )
    return {"Authorization": f"Bearer {token}"}


def _assert_envelope(response: Any, label: str) -> None:
    if response.status_code < 400:
        return
    body = response.json()
    assert isinstance(body, dict) and set(body) == {"error"}, (label, response.text)
    error = body["error"]
    assert isinstance(error.get("code"), str) and error["code"], (label, response.text)
    assert isinstance(error.get("message"), str) and error["message"], (label, response.text)


def _fuzz(
    operation: Any,
    mode: GenerationMode,
    examples: int,
    path_parameters: dict[str, str] | None,
    headers: dict[str, str],
    onboarding: str,
) -> None:
    strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters)

    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: Any) -> None:
        if (
            operation.path == "/api/agent/v1/enroll"
            and isinstance(case.body, dict)
            and len(case.body) % 2 == 0  # about half get a valid token, to reach enrollment
        ):
            case.body["onboarding_token"] = onboarding
        response = case.call(headers=headers)
        case.validate_response(
            response, checks=[not_a_server_error, response_schema_conformance], headers=headers
        )
        _assert_envelope(response, operation.label)

    try:
        run()
    except Unsatisfiable:
        # Nothing left to make invalid (no parameters or body, or only fixed ones).
        assert mode is GenerationMode.NEGATIVE, operation.label


def test_no_server_errors_and_documented_responses(api: Api) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.app)
    onboarding = api.onboarding_token(name="fuzz-onboarding")
    device = api.enroll("android-work-profile", token=onboarding)
    api.checkin(
        device,
        apps=[{"identifier": "com.example.app", "version": "1"}],
        detections=[{"category": "Malware", "title": "bad app", "severity": "Medium", "key": "k1"}],
    )
    device_headers = {"Authorization": f"Bearer {device['device_credential']}"}
    admin = {"headers": _fresh_admin(api)}
    operations = [
        op
        for op in (result.ok() for result in schema.get_all_operations())
        if not op.path.startswith("/console")  # HTML forms, another suite's business
    ]
    assert len(operations) >= 15, [op.label for op in operations]
    checked: list[str] = []

    for operation in operations:
        agent = operation.path.startswith("/api/agent/")
        path_parameters = (
            {"device_id": device["device_id"]}
            if "{device_id}" in operation.path and agent
            else None
        )
        for mode, examples in EXAMPLES.items():
            headers = device_headers if agent else admin["headers"]
            _fuzz(operation, mode, examples, path_parameters, headers, onboarding)
            checked.append(f"{operation.label} [{mode.value}]")
            if api.client.get("/api/me", headers=admin["headers"]).status_code != 200:
                admin["headers"] = _fresh_admin(api)

    assert len(checked) == 2 * len(operations)
