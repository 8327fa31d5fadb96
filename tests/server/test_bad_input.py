"""Bad input gets a clear 4xx JSON error envelope, never a 500, and nothing is half-written."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from server_helpers import (
    checkin_body,
    count,
    device_auth,
    dump_database,
    enroll_body,
    error,
)
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from conftest import Api
from openmtd.store.models import CheckIn, Device, DeviceApp, OnboardingToken


def post_raw(api: Api, url: str, content: bytes, headers: dict[str, str] | None = None) -> Any:
    return api.client.post(
        url, content=content, headers={"content-type": "application/json", **(headers or {})}
    )


class TestEnrollInput:
    @pytest.mark.parametrize(
        ("content", "status", "code", "message"),
        [
            (
                b'{"onboarding_token": ',
                422,
                "invalid_input",
                "invalid request: body.21: JSON decode error",
            ),
            (
                b"{'single': 'quotes'}",
                422,
                "invalid_input",
                "invalid request: body.1: JSON decode error",
            ),
            (
                b"[]",
                422,
                "invalid_input",
                "invalid request: body: Input should be a valid dictionary",
            ),
            (
                b"null",
                422,
                "invalid_input",
                "invalid request: body: Input should be a valid dictionary",
            ),
            (b"\xff\xfe\x00", 400, "bad_request", "There was an error parsing the body"),
        ],
    )
    def test_malformed_json(
        self, api: Api, content: bytes, status: int, code: str, message: str
    ) -> None:
        before = dump_database(api.app)
        r = post_raw(api, "/api/agent/v1/enroll", content)
        assert error(r, status, code).startswith(message)
        assert dump_database(api.app) == before

    def test_deeply_nested_json_is_a_4xx(self, api: Api) -> None:
        r = post_raw(api, "/api/agent/v1/enroll", b"[" * 200_000 + b"]" * 200_000)
        assert r.status_code in (400, 422), r.text
        assert set(r.json()) == {"error"}

    @pytest.mark.parametrize(
        ("change", "field", "problem"),
        [
            ({"platform": 3}, "body.platform", "Input should be 'android' or 'ios'"),
            ({"device": "Pixel"}, "body.device", "valid dictionary"),
            ({"hardware_id": "short"}, "body.hardware_id", "should match pattern"),
            ({"hardware_id": None}, "body.hardware_id", "valid string"),
            ({"unexpected": 1}, "body.unexpected", "Extra inputs are not permitted"),
            (
                {"privacy": {"share_everything": True}},
                "body.privacy.share_everything",
                "Extra inputs are not permitted",
            ),
            (
                {"device": {"model": "x" * 10_000, "os_version": "14"}},
                "body.device.model",
                "at most 128 characters",
            ),
            (
                {"onboarding_token": "t" * 100_000},
                "body.onboarding_token",
                "at most 128 characters",
            ),
            ({"device_tag": "two words"}, "body.device_tag", "should match pattern"),
            ({"scenario": "android-tv"}, "body.scenario", "Input should be"),
        ],
    )
    def test_wrong_types_unknown_fields_and_huge_strings(
        self, api: Api, change: dict[str, Any], field: str, problem: str
    ) -> None:
        token = api.onboarding_token(name="kept")
        before = dump_database(api.app)
        r = api.client.post("/api/agent/v1/enroll", json=enroll_body(token) | change)
        message = error(r, 422, "invalid_input")
        assert message.startswith(f"invalid request: {field}: ")
        assert problem in message
        assert {"field": field, "problem": message.split(": ", 2)[2]} in r.json()["error"][
            "details"
        ]
        assert dump_database(api.app) == before

    def test_refused_enrollments_write_nothing(self, api: Api) -> None:
        used_up = api.onboarding_token(name="one", max_uses=1)
        api.enroll(token=used_up)
        revoked = api.onboarding_token(name="revoked")
        token_id = max(
            t["id"] for t in api.client.get("/api/onboarding/tokens", headers=api.headers()).json()
        )
        api.client.post(f"/api/onboarding/tokens/{token_id}/revoke", headers=api.headers())
        expired = api.onboarding_token(name="expired", expires_in_hours=1)
        api.clock.advance(hours=2)
        before = dump_database(api.app)
        for token, why in (
            (used_up, "is used up (1 of 1 uses)"),
            (revoked, "was revoked"),
            (expired, "expired at"),
        ):
            r = api.client.post("/api/agent/v1/enroll", json=enroll_body(token))
            assert why in error(r, 401, "onboarding_token_rejected")
        r = api.client.post(
            "/api/agent/v1/enroll", json=enroll_body(api.onboarding_token(), "android-aosp")
        )
        error(r, 422, "enrollment_refused")
        after = dump_database(api.app)
        assert count(api.app, Device) == 1
        assert "\n".join(
            line
            for line in after.splitlines()
            if "onboarding_tokens" not in line and "audit_log" not in line
        ) == "\n".join(
            line
            for line in before.splitlines()
            if "onboarding_tokens" not in line and "audit_log" not in line
        )

    def test_too_many_tags_is_refused_before_anything_is_stored(self, api: Api) -> None:
        tags = [f"tag-{i:02d}" for i in range(16)]
        token = api.onboarding_token(name="tagged", tags=tags)
        r = api.client.post("/api/agent/v1/enroll", json=enroll_body(token, device_tag="extra"))
        assert error(r, 422, "too_many_tags") == (
            "a device carries at most 16 tags (its onboarding token's and its own together); "
            "this one would carry 17"
        )
        assert count(api.app, Device) == 0
        device = api.enroll(token=token, device_tag="tag-00")  # already one of them: fine
        r = api.client.post(
            f"/api/agent/v1/devices/{device['device_id']}/checkins",
            json=checkin_body() | {"facts": checkin_body()["facts"] | {"tags": ["more"]}},
            headers=device_auth(device),
        )
        assert "this one would carry 17" in error(r, 422, "too_many_tags")
        assert count(api.app, CheckIn) == 0

    def test_a_long_model_name_still_enrolls(self, api: Api) -> None:
        body = enroll_body(api.onboarding_token()) | {
            "device": {"model": "M" * 128, "os_version": "14"}
        }
        r = api.client.post("/api/agent/v1/enroll", json=body)
        assert r.status_code == 201, r.text
        detail = api.client.get(
            f"/api/devices/{r.json()['device_id']}", headers=api.headers()
        ).json()
        assert detail["name"] == ("M" * 128 + " (android)")[:128]
        assert detail["model"] == "M" * 128


class TestCheckInInput:
    def test_duplicate_app_identifiers_are_refused_and_the_report_can_be_retried(
        self, api: Api
    ) -> None:
        device = api.enroll()
        body = checkin_body(
            report_id="report-dup-1",
            apps=[{"identifier": "com.a", "version": "1"}, {"identifier": "com.a", "version": "2"}],
            detections=[{"category": "Malware", "title": "x", "severity": "High", "key": "k"}],
        )
        before = dump_database(api.app)
        url = f"/api/agent/v1/devices/{device['device_id']}/checkins"
        r = api.client.post(url, json=body, headers=device_auth(device))
        assert error(r, 422, "duplicate_app") == ("the app inventory lists an app identifier twice")
        assert dump_database(api.app) == before  # no check-in, no alert, no apps, no last seen
        body["apps"] = [{"identifier": "com.a", "version": "2"}]
        r = api.client.post(url, json=body, headers=device_auth(device))
        assert r.status_code == 200, r.text
        assert r.json()["duplicate"] is False and r.json()["alerts_raised"] == 1
        assert count(api.app, DeviceApp) == 1 and count(api.app, CheckIn) == 1

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"report_id": "x"}, "body.report_id"),
            ({"report_id": "has spaces in it"}, "body.report_id"),
            ({"collected_at": "yesterday"}, "body.collected_at"),
            ({"apps": {"com.a": "1"}}, "body.apps"),
            ({"apps": [{"identifier": "", "version": "1"}]}, "body.apps.0.identifier"),
            ({"apps": [{"identifier": "a", "sha256": "zz"}]}, "body.apps.0.sha256"),
            (
                {"apps": [{"identifier": "a", "install_source": "usb"}]},
                "body.apps.0.install_source",
            ),
            ({"apps": [{"identifier": f"a{i}"} for i in range(5001)]}, "body.apps"),
            (
                {
                    "detections": [
                        {"category": "Malware", "title": "t", "severity": "Critical", "key": "k"}
                    ]
                },
                "body.detections.0.severity",
            ),
            (
                {"detections": [{"category": "9bad", "title": "t", "severity": "Low", "key": "k"}]},
                "body.detections.0.category",
            ),
            (
                {
                    "detections": [
                        {"category": "Malware", "title": "t" * 256, "severity": "Low", "key": "k"}
                    ]
                },
                "body.detections.0.title",
            ),
            ({"network_observations": [{"kind": "bluetooth"}]}, "body.network_observations.0.kind"),
            ({"extra": True}, "body.extra"),
        ],
    )
    def test_malformed_reports_are_422_and_not_recorded(
        self, api: Api, change: dict[str, Any], field: str
    ) -> None:
        device = api.enroll()
        before = dump_database(api.app)
        r = api.client.post(
            f"/api/agent/v1/devices/{device['device_id']}/checkins",
            json=checkin_body() | change,
            headers=device_auth(device),
        )
        assert error(r, 422, "invalid_input").startswith(f"invalid request: {field}: ")
        assert dump_database(api.app) == before


class TestConsoleInput:
    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({}, "body.name"),
            ({"name": ""}, "body.name"),
            ({"name": "n" * 129}, "body.name"),
            ({"name": "n", "platform": "windows"}, "body.platform"),
            ({"name": "n", "scenarios": "android-cobo"}, "body.scenarios"),
            ({"name": "n", "device_group": "a;b"}, "body.device_group"),
            ({"name": "n", "tags": ["has space"]}, "body.tags.0"),
            ({"name": "n", "tags": [f"t{i}" for i in range(17)]}, "body.tags"),
            ({"name": "n", "expires_in_hours": 0}, "body.expires_in_hours"),
            ({"name": "n", "expires_in_hours": "soon"}, "body.expires_in_hours"),
            ({"name": "n", "max_uses": 0}, "body.max_uses"),
            ({"name": "n", "token": "mine"}, "body.token"),
        ],
    )
    def test_onboarding_token_input(self, api: Api, body: dict[str, Any], field: str) -> None:
        r = api.client.post("/api/onboarding/tokens", json=body, headers=api.headers())
        assert error(r, 422, "invalid_input").startswith(f"invalid request: {field}: ")
        assert count(api.app, OnboardingToken) == 0

    def test_managed_config_input(self, api: Api) -> None:
        url = "/api/onboarding/managed-config"
        base = {"onboarding_token": "omt_onb_abcdefgh", "scenario": "ios-supervised"}
        r = api.client.post(
            url, json=base | {"onboarding_token": "omt_onb_\x01\x02control"}, headers=api.headers()
        )
        assert error(r, 422, "invalid_input").startswith("invalid request: body.onboarding_token")
        r = api.client.post(url, json=base | {"scenario": "ios-shared"}, headers=api.headers())
        assert "'ios-shared'" in error(r, 422, "unsupported_scenario")
        r = api.client.post(url, json=base | {"device_tag": "a b"}, headers=api.headers())
        assert error(r, 422, "invalid_input").startswith("invalid request: body.device_tag")
        r = api.client.post(url, json=base | {"device_tag": "floor-3"}, headers=api.headers())
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/x-plist"
        assert b"<string>floor-3</string>" in r.content

    def test_nul_characters_are_never_a_server_error(self, api: Api, database_url: str) -> None:
        r = api.client.post(
            "/api/onboarding/tokens", json={"name": "a\x00b"}, headers=api.headers()
        )
        r2 = api.client.get("/api/devices", params={"q": "a\x00"}, headers=api.headers())
        if database_url.startswith("postgresql"):  # PostgreSQL text cannot hold NUL
            for response in (r, r2):
                assert error(response, 422, "invalid_input") == (
                    "a value in the request cannot be stored: PostgreSQL text fields cannot "
                    "contain NUL (0x00) bytes"
                )
            assert count(api.app, OnboardingToken) == 0
        else:
            assert r.status_code == 201 and r2.status_code == 200


class _FailingCommit(Session):
    def commit(self) -> None:
        raise OperationalError("COMMIT", {}, Exception("connection lost"))


def test_a_failed_commit_is_an_error_response_not_a_success(api: Api) -> None:
    """The transaction commits before the response goes out, so a client never sees a success
    for a change that was lost."""
    headers = api.headers()
    ctx = api.app.state.ctx
    good = ctx.sessions
    ctx.sessions = sessionmaker(ctx.engine, class_=_FailingCommit, expire_on_commit=False)
    try:
        with TestClient(api.app, raise_server_exceptions=False) as client:
            r = client.post("/api/onboarding/tokens", json={"name": "lost"}, headers=headers)
            r2 = client.post("/api/agent/v1/enroll", json=enroll_body("omt_onb_whatever-token"))
    finally:
        ctx.sessions = good
    assert error(r, 500, "internal_error") == ("internal error; the server log has the details")
    assert "token" not in r.json()["error"]
    assert r2.status_code == 401  # an error already: the failed commit does not hide it
    assert count(api.app, OnboardingToken) == 0
