"""Protocol details: refusal order, conditional sync, and an OpenAPI that matches the errors."""

from __future__ import annotations

from typing import Any

from conftest import Api


def test_unsupported_scenario_is_refused_by_name_before_the_token_is_looked_at(api: Api) -> None:
    r = api.client.post(
        "/api/agent/v1/enroll",
        json={
            "onboarding_token": "omt_onb_not-a-real-token",
            "platform": "android",
            "scenario": "android-cosu",
            "hardware_id": "0123456789abcdef",
            "device": {"model": "Zebra TC52", "os_version": "13"},
        },
    )
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "enrollment_refused"
    assert "android-cosu" in error["message"] and "not supported" in error["message"]


def _sync(api: Api, device: dict[str, Any], if_none_match: str | None) -> Any:
    headers = {"Authorization": f"Bearer {device['device_credential']}"}
    if if_none_match is not None:
        headers["If-None-Match"] = if_none_match
    return api.client.get(f"/api/agent/v1/devices/{device['device_id']}/sync", headers=headers)


def test_sync_if_none_match_accepts_weak_tags_lists_and_star(api: Api) -> None:
    device = api.enroll("android-cobo")
    etag = _sync(api, device, None).headers["ETag"]
    assert _sync(api, device, f"W/{etag}").status_code == 304
    assert _sync(api, device, f'"other", {etag}').status_code == 304
    assert _sync(api, device, "*").status_code == 304
    assert _sync(api, device, '"other"').status_code == 200


def test_openapi_documents_the_error_envelope_not_fastapis_default(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert set(schemas["ErrorEnvelope"]["properties"]) == {"error"}
    for path, item in spec["paths"].items():
        for method, op in item.items():
            for status, response in op["responses"].items():
                if status.startswith(("4", "5")):
                    ref = response["content"]["application/json"]["schema"]["$ref"]
                    assert ref.endswith("/ErrorEnvelope"), (method, path, status)


def test_sync_etag_follows_the_agent_policy_settings(api: Api, settings: Any, clock: Any) -> None:
    from fastapi.testclient import TestClient

    from openmtd.server.app import create_app

    device = api.enroll("ios-supervised")
    before = _sync(api, device, None)
    assert before.json()["policy"]["checkin_interval_seconds"] == 900
    changed = create_app(settings.model_copy(update={"checkin_interval_seconds": 60}), clock=clock)
    with TestClient(changed) as client:
        r = client.get(
            f"/api/agent/v1/devices/{device['device_id']}/sync",
            headers={
                "Authorization": f"Bearer {device['device_credential']}",
                "If-None-Match": before.headers["ETag"],
            },
        )
    assert r.status_code == 200, "a new check-in interval must reach agents holding the old ETag"
    assert r.json()["checkin_interval_seconds"] == 60
    assert r.headers["ETag"] != before.headers["ETag"]
