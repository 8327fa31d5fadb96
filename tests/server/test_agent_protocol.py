"""The agent protocol: credentials, idempotent check-ins, limits, ownership, sync, inventory."""

from __future__ import annotations

from collections.abc import Iterator
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
from sqlalchemy import select, update

from conftest import Api, FakeClock
from openmtd.config import Settings
from openmtd.server.agent_api import service as agent_service
from openmtd.server.app import create_app
from openmtd.store.models import Alert, CheckIn, Device, DeviceApp, DeviceEvent


def checkin_url(device: dict[str, Any], device_id: str | None = None) -> str:
    return f"/api/agent/v1/devices/{device_id or device['device_id']}/checkins"


def detail(api: Api, device: dict[str, Any]) -> dict[str, Any]:
    r = api.client.get(f"/api/devices/{device['device_id']}", headers=api.headers())
    assert r.status_code == 200, r.text
    return dict(r.json())


class TestCredential:
    def test_random_returned_once_and_stored_hashed(self, api: Api) -> None:
        token = api.onboarding_token(name="fleet")
        a = api.enroll(token=token)
        b = api.enroll(token=token)
        assert a["device_credential"] != b["device_credential"]
        for device in (a, b):
            credential = device["device_credential"]
            assert credential.startswith("omt_dev_") and len(credential) >= 8 + 43
            own = api.client.get(
                f"/api/agent/v1/devices/{device['device_id']}", headers=device_auth(device)
            )
            assert own.status_code == 200 and credential not in own.text
            assert (
                credential
                not in api.client.get(
                    f"/api/devices/{device['device_id']}", headers=api.headers()
                ).text
            )
        dump = dump_database(api.app)
        assert a["device_id"] in dump  # the dump does see the devices
        assert a["device_credential"] not in dump
        assert b["device_credential"] not in dump
        assert token not in dump

    @pytest.mark.parametrize(
        ("headers", "code", "message"),
        [
            (
                {},
                "device_credential_required",
                "send the device credential as 'Authorization: Bearer omt_dev_…'",
            ),
            (
                {"Authorization": "Bearer omt_dev_unknown"},
                "bad_device_credential",
                "unknown device credential",
            ),
            ({"Authorization": "Basic b21k"}, "device_credential_required", None),
        ],
    )
    def test_missing_or_unknown_credential_is_401(
        self, api: Api, headers: dict[str, str], code: str, message: str | None
    ) -> None:
        device = api.enroll()
        for method, url in (
            ("POST", checkin_url(device)),
            ("GET", f"/api/agent/v1/devices/{device['device_id']}/sync"),
            ("GET", f"/api/agent/v1/devices/{device['device_id']}"),
        ):
            r = api.client.request(method, url, headers=headers, json=checkin_body())
            text = error(r, 401, code)
            assert r.headers["www-authenticate"] == "Bearer"
            if message:
                assert text == message
        assert count(api.app, CheckIn) == 0

    def test_an_api_token_is_not_a_device_credential(self, api: Api) -> None:
        device = api.enroll()
        r = api.client.post(checkin_url(device), json=checkin_body(), headers=api.headers())
        error(r, 401, "device_credential_required")

    def test_retired_device_is_401(self, api: Api) -> None:
        device = api.enroll()
        with api.app.state.ctx.sessions.begin() as db:
            db.execute(
                update(Device)
                .where(Device.id == device["device_id"])
                .values(retired_at=api.clock())
            )
        r = api.client.post(checkin_url(device), json=checkin_body(), headers=device_auth(device))
        assert error(r, 401, "device_retired") == (
            f"device {device['device_id']} was retired; enroll again"
        )


def test_a_device_reads_and_writes_only_its_own_data(api: Api) -> None:
    mine, other = api.enroll(), api.enroll()
    expected = (
        f"this credential belongs to device {mine['device_id']}; it cannot act for device "
        f"{other['device_id']}"
    )
    for method, url in (
        ("POST", checkin_url(mine, other["device_id"])),
        ("GET", f"/api/agent/v1/devices/{other['device_id']}/sync"),
        ("GET", f"/api/agent/v1/devices/{other['device_id']}"),
    ):
        r = api.client.request(method, url, headers=device_auth(mine), json=checkin_body())
        assert error(r, 403, "not_your_device") == expected
    assert count(api.app, CheckIn) == 0


class TestCheckIn:
    def test_replay_with_the_same_body_is_a_duplicate_and_writes_nothing(self, api: Api) -> None:
        device = api.enroll()
        body = checkin_body(
            report_id="report-0001",
            apps=[{"identifier": "com.example.a", "version": "1"}],
            detections=[
                {"category": "Malware", "title": "bad app", "severity": "Medium", "key": "com.bad"}
            ],
        )
        first = api.client.post(checkin_url(device), json=body, headers=device_auth(device))
        assert first.status_code == 200 and first.json()["duplicate"] is False
        assert first.json()["alerts_raised"] == 1
        assert first.json()["risk_level"] == "Medium"
        before = dump_database(api.app)
        api.clock.advance(minutes=5)
        again = api.client.post(checkin_url(device), json=body, headers=device_auth(device))
        assert again.status_code == 200
        assert again.json()["duplicate"] is True
        assert again.json()["alerts_raised"] == 0
        assert again.json()["report_id"] == "report-0001"
        assert dump_database(api.app) == before  # nothing written twice, not even last seen
        (alert,) = api.client.get("/api/alerts", headers=api.headers()).json()["items"]
        assert alert["count"] == 1

    def test_reusing_a_report_id_with_other_content_is_409(self, api: Api) -> None:
        device = api.enroll()
        api.checkin(device, report_id="report-0002")
        before = dump_database(api.app)
        r = api.client.post(
            checkin_url(device),
            json=checkin_body(
                report_id="report-0002",
                detections=[
                    {"category": "Jailbreak", "title": "jb", "severity": "High", "key": "jb"}
                ],
            ),
            headers=device_auth(device),
        )
        assert error(r, 409, "report_id_reused") == (
            "report id 'report-0002' was already used by this device with different content; "
            "every report needs a new id"
        )
        assert dump_database(api.app) == before

    def test_report_ids_are_per_device(self, api: Api) -> None:
        a, b = api.enroll(), api.enroll()
        api.checkin(a, report_id="same-report-id")
        assert api.checkin(b, report_id="same-report-id")["duplicate"] is False

    def test_facts_update_and_last_seen_moves(self, api: Api, clock: FakeClock) -> None:
        device = api.enroll()
        clock.advance(hours=3)
        api.checkin(
            device,
            facts={
                "platform": "android",
                "scenario": "android-work-profile",
                "os_version": "15",
                "security_patch_level": "2026-11-05",
                "model": "Pixel 9",
                "manufacturer": "Google",
                "build": "AP4A",
            },
        )
        d = detail(api, device)
        assert d["last_seen_at"] == "2026-11-26T15:00:00Z"
        assert d["enrolled_at"] == "2026-11-26T12:00:00Z"
        assert (d["os_version"], d["model"], d["manufacturer"], d["build"]) == (
            "15",
            "Pixel 9",
            "Google",
            "AP4A",
        )
        assert d["security_patch_level"] == "2026-11-05"

    def test_platform_and_scenario_must_match_the_enrollment(self, api: Api) -> None:
        device = api.enroll()
        facts = {
            "platform": "ios",
            "scenario": "android-work-profile",
            "os_version": "18",
            "model": "x",
        }
        r = api.client.post(
            checkin_url(device), json=checkin_body() | {"facts": facts}, headers=device_auth(device)
        )
        assert error(r, 422, "platform_mismatch") == (
            f"device {device['device_id']} is enrolled as android but reports ios"
        )
        facts |= {"platform": "android", "scenario": "android-cobo"}
        r = api.client.post(
            checkin_url(device), json=checkin_body() | {"facts": facts}, headers=device_auth(device)
        )
        assert "enrolled in scenario 'android-work-profile' but reports 'android-cobo'" in error(
            r, 409, "scenario_mismatch"
        )
        assert count(api.app, CheckIn) == 0


@pytest.fixture
def small_limits(settings: Settings, clock: FakeClock) -> Iterator[tuple[Api, TestClient]]:
    small = settings.model_copy(
        update={"max_agent_body_bytes": 4096, "max_console_body_bytes": 2048}
    )
    app = create_app(small, clock=clock)
    with TestClient(app) as client:
        yield Api(app, client, clock), client


class TestBodyLimits:
    def test_content_length_over_the_limit_is_413(
        self, small_limits: tuple[Api, TestClient]
    ) -> None:
        api, client = small_limits
        device = api.enroll()
        body = checkin_body(
            apps=[{"identifier": f"com.example.app{i}", "version": "1.0"} for i in range(100)]
        )
        r = client.post(checkin_url(device), json=body, headers=device_auth(device))
        assert error(r, 413, "payload_too_large") == "request body exceeds 4096 bytes"
        assert r.headers["content-type"] == "application/json"
        assert count(api.app, CheckIn) == 0

    def test_streamed_body_over_the_limit_is_413(
        self, small_limits: tuple[Api, TestClient]
    ) -> None:
        api, client = small_limits
        device = api.enroll()

        def chunks() -> Iterator[bytes]:
            yield b'{"report_id": "chunked-001", "apps": ['
            for i in range(200):
                yield b'{"identifier": "com.example.app%d", "version": "1"},' % i
            yield b"{}]}"

        headers = device_auth(device) | {"content-type": "application/json"}
        r = client.post(checkin_url(device), content=chunks(), headers=headers)
        assert "content-length" not in r.request.headers
        assert error(r, 413, "payload_too_large") == "request body exceeds 4096 bytes"
        assert count(api.app, CheckIn) == 0

    def test_console_api_has_its_own_smaller_limit(
        self, small_limits: tuple[Api, TestClient]
    ) -> None:
        api, client = small_limits
        r = client.post("/api/onboarding/tokens", json={"name": "x" * 3000}, headers=api.headers())
        assert error(r, 413, "payload_too_large") == "request body exceeds 2048 bytes"

        def chunks() -> Iterator[bytes]:
            yield b'{"name": "'
            yield b"x" * 3000
            yield b'"}'

        r = client.post(
            "/api/onboarding/tokens",
            content=chunks(),
            headers=api.headers() | {"content-type": "application/json"},
        )
        assert error(r, 413, "payload_too_large") == "request body exceeds 2048 bytes"
        # Under the agent limit but over the console one: the path decides.
        body = checkin_body(
            apps=[{"identifier": f"com.example.app{i}", "version": "1"} for i in range(40)]
        )
        assert 2048 < len(str(body)) < 4096
        device = api.enroll()
        r = client.post(checkin_url(device), json=body, headers=device_auth(device))
        assert r.status_code == 200, r.text

    def test_a_bad_content_length_is_400(self, small_limits: tuple[Api, TestClient]) -> None:
        _api, client = small_limits
        r = client.post(
            "/api/agent/v1/enroll",
            content=b"{}",
            headers={"content-length": "lots", "content-type": "application/json"},
        )
        assert error(r, 400, "bad_request") == "Content-Length is not a number"


class TestSync:
    def sync(self, api: Api, device: dict[str, Any], etag: str | None = None) -> Any:
        headers = device_auth(device) | ({"If-None-Match": etag} if etag else {})
        return api.client.get(f"/api/agent/v1/devices/{device['device_id']}/sync", headers=headers)

    def test_etag_and_304(self, api: Api) -> None:
        device = api.enroll()
        first = self.sync(api, device)
        assert first.status_code == 200
        etag = first.headers["etag"]
        assert etag.startswith('"') and etag.endswith('"')
        assert first.json()["etag"] == etag
        assert first.json()["device_id"] == device["device_id"]
        assert first.json()["privacy"] == {
            "exclude_url_in_report": False,
            "exclude_app_in_report": False,
            "vulnerability_privacy_mode": False,
            "network_protection_privacy": True,
        }
        assert api.checkin(device)["sync_etag"] == etag  # check-ins announce the same ETag
        second = self.sync(api, device, etag)
        assert second.status_code == 304
        assert second.headers["etag"] == etag
        assert second.content == b""
        assert self.sync(api, device, f'"other", {etag}').status_code == 304
        assert self.sync(api, device, '"stale"').status_code == 200

    def test_etag_changes_with_the_policy_generation(self, api: Api) -> None:
        device = api.enroll()
        etag = self.sync(api, device).headers["etag"]
        with api.app.state.ctx.sessions.begin() as db:
            assert agent_service.bump_policy_generation(db, now=api.clock()) == 1
        changed = self.sync(api, device, etag)
        assert changed.status_code == 200 and changed.headers["etag"] != etag
        etag2 = changed.headers["etag"]
        assert self.sync(api, device, etag2).status_code == 304
        with api.app.state.ctx.sessions.begin() as db:
            assert agent_service.bump_policy_generation(db, now=api.clock()) == 2
        assert self.sync(api, device, etag2).headers["etag"] not in {etag, etag2}

    def test_etag_changes_with_privacy(self, api: Api) -> None:
        device = api.enroll()
        etag = self.sync(api, device).headers["etag"]
        with api.app.state.ctx.sessions.begin() as db:
            row = db.get(Device, device["device_id"])
            assert row is not None
            row.privacy = {**row.privacy, "exclude_url_in_report": True}
        changed = self.sync(api, device, etag)
        assert changed.status_code == 200
        assert changed.headers["etag"] != etag
        assert changed.json()["privacy"]["exclude_url_in_report"] is True

    def test_etag_is_per_group_not_per_device_noise(self, api: Api) -> None:
        token = api.onboarding_token(device_group="grp-a")
        a, b = api.enroll(token=token), api.enroll(token=token)
        c = api.enroll(token=api.onboarding_token(device_group="grp-b"))
        tags = {self.sync(api, d).headers["etag"] for d in (a, b)}
        assert len(tags) == 1
        assert self.sync(api, c).headers["etag"] not in tags


class TestUnresponsive:
    def test_after_n_days_without_check_in(self, api: Api, clock: FakeClock) -> None:
        quiet, active = api.enroll(), api.enroll()
        clock.advance(days=7)  # exactly N days: not yet unresponsive
        api.checkin(active)
        listed = api.client.get(
            "/api/devices", params={"unresponsive": True}, headers=api.headers()
        ).json()
        assert listed["total"] == 0
        clock.advance(seconds=1)
        listed = api.client.get(
            "/api/devices", params={"unresponsive": True}, headers=api.headers()
        ).json()
        assert [d["id"] for d in listed["items"]] == [quiet["device_id"]]
        assert listed["items"][0]["unresponsive"] is True
        assert listed["items"][0]["compliant"] is False
        responsive = api.client.get(
            "/api/devices", params={"unresponsive": False}, headers=api.headers()
        ).json()
        assert [d["id"] for d in responsive["items"]] == [active["device_id"]]
        noncompliant = api.client.get(
            "/api/devices", params={"compliant": False}, headers=api.headers()
        ).json()
        assert [d["id"] for d in noncompliant["items"]] == [quiet["device_id"]]
        d = detail(api, quiet)
        assert d["compliance_reasons"] == [
            "unresponsive: no check-in for more than 7 days (last seen 2026-11-26 12:00 UTC)"
        ]
        assert detail(api, active)["compliance_reasons"] == []
        summary = api.client.get("/api/devices/summary", headers=api.headers()).json()
        assert summary["unresponsive"] == 1 and summary["total"] == 2

        api.checkin(quiet)  # back again
        assert detail(api, quiet)["unresponsive"] is False
        assert detail(api, quiet)["compliance_reasons"] == []

    def test_the_threshold_comes_from_settings(self, settings: Settings, clock: FakeClock) -> None:
        app = create_app(settings.model_copy(update={"unresponsive_days": 2}), clock=clock)
        with TestClient(app) as client:
            api = Api(app, client, clock)
            device = api.enroll()
            clock.advance(days=2, seconds=1)
            d = detail(api, device)
            assert d["unresponsive"] is True
            assert "no check-in for more than 2 days" in d["compliance_reasons"][0]


def apps(*items: tuple[str, str]) -> list[dict[str, str]]:
    return [{"identifier": i, "version": v, "name": i.split(".")[-1]} for i, v in items]


def inventory_events(api: Api, device: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in detail(api, device)["timeline"] if e["kind"] == "inventory"]


def app_rows(api: Api) -> list[tuple[int, str, str]]:
    with api.app.state.ctx.sessions() as db:
        return [
            (r.id, r.identifier, r.version)
            for r in db.scalars(select(DeviceApp).order_by(DeviceApp.identifier))
        ]


class TestInventory:
    def test_delta_unchanged_writes_nothing_changes_make_one_event(self, api: Api) -> None:
        device = api.enroll()
        api.checkin(device, apps=apps(("com.a", "1"), ("com.b", "1"), ("com.c", "1")))
        assert inventory_events(api, device) == []  # the first inventory is not a change
        rows = app_rows(api)
        assert [r[1:] for r in rows] == [("com.a", "1"), ("com.b", "1"), ("com.c", "1")]

        events_before = count(api.app, DeviceEvent)
        api.checkin(
            device, apps=list(reversed(apps(("com.a", "1"), ("com.b", "1"), ("com.c", "1"))))
        )
        assert app_rows(api) == rows  # same rows, same ids: nothing rewritten
        assert count(api.app, DeviceEvent) == events_before
        api.checkin(device, apps=None)  # null: unchanged, withheld
        assert app_rows(api) == rows

        api.checkin(
            device, apps=apps(("com.a", "1"), ("com.b", "2"), ("com.d", "1"), ("com.e", "1"))
        )
        (event,) = inventory_events(api, device)
        assert event["summary"] == "app inventory changed: 2 installed, 1 removed, 1 updated"
        assert event["details"] == {
            "installed": ["com.d", "com.e"],
            "removed": ["com.c"],
            "updated": ["com.b"],
        }
        after = app_rows(api)
        assert [r[1:] for r in after] == [
            ("com.a", "1"),
            ("com.b", "2"),
            ("com.d", "1"),
            ("com.e", "1"),
        ]
        assert after[0] == rows[0]  # the unchanged app was not rewritten
        d = detail(api, device)
        assert d["app_count"] == 4
        assert [a["identifier"] for a in d["apps"]] == ["com.a", "com.b", "com.d", "com.e"]

        api.checkin(device, apps=[])
        assert inventory_events(api, device)[0]["summary"] == (
            "app inventory changed: 0 installed, 4 removed, 0 updated"
        )
        assert detail(api, device)["app_count"] == 0

    def test_vulnerability_privacy_mode_device_apps_are_dropped(self, api: Api) -> None:
        device = api.enroll(privacy={"vulnerability_privacy_mode": True})
        api.checkin(device, apps=apps(("com.secret", "1")))
        d = detail(api, device)
        assert d["privacy"]["vulnerability_privacy_mode"] is True
        assert d["apps"] == [] and d["app_count"] == 0
        assert count(api.app, DeviceApp) == 0
        assert "com.secret" not in dump_database(api.app)


def test_own_device_view_shows_active_alerts(api: Api) -> None:
    device = api.enroll()
    api.checkin(
        device,
        detections=[
            {"category": "Malware", "title": "bad app", "severity": "Medium", "key": "a"},
            {"category": "Phishing", "title": "warned", "severity": "Informational", "key": "b"},
        ],
    )
    r = api.client.get(f"/api/agent/v1/devices/{device['device_id']}", headers=device_auth(device))
    assert r.status_code == 200
    own = r.json()
    assert own["risk_level"] == "Medium"
    assert own["protection_scope"] == "work-profile"
    assert own["risk_reason"].startswith("Medium: active Medium alert(s) #")
    assert sorted(a["title"] for a in own["alerts"]) == ["bad app", "warned"]
    assert count(api.app, Alert) == 2


def test_enrollment_response_carries_the_checkin_interval(api: Api) -> None:
    r = api.client.post("/api/agent/v1/enroll", json=enroll_body(api.onboarding_token()))
    assert r.status_code == 201
    assert r.json()["checkin_interval_seconds"] == 900
    assert r.json()["warnings"] == []
