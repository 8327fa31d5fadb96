"""Conditional launch over HTTP: app protection policies (admin CRUD, audited, validated), the
managed app's launch call on enrolled and MAM-only devices, the latch until the threat is
resolved, the launch log and a device's latches."""

from __future__ import annotations

from typing import Any

import pytest
from server_helpers import count, device_auth, error
from sqlalchemy import select

from conftest import Api, FakeClock
from openmtd.domain.enums import Platform, RiskLevel
from openmtd.server.launch import service
from openmtd.store.models import AuditEntry, LaunchLatchRow, LaunchLogEntry

APP = "com.contoso.mail"
HIGH_ALERT = {"category": "Malware", "title": "bad app", "severity": "High", "key": "com.bad"}
MEDIUM_ALERT = {"category": "RogueWifi", "title": "rogue Wi-Fi", "severity": "Medium", "key": "ap"}
POLICIES = "/api/launch/policies"
SCENARIOS = ["android-work-profile", "android-mam", "ios-mam"]


def make_policy(api: Api, expect: int = 201, **body: Any) -> dict[str, Any]:
    body.setdefault("name", "Mail")
    body.setdefault("max_risk", "Medium")
    body.setdefault("action", "block")
    r = api.client.post(POLICIES, json=body, headers=api.headers())
    assert r.status_code == expect, r.text
    return dict(r.json())


def enroll(
    api: Api, scenario: str = "android-work-profile", group: str = "sales"
) -> dict[str, Any]:
    device = api.enroll(scenario, token=api.onboarding_token(device_group=group))
    device["_scenario"] = scenario
    return device


def launch(api: Api, device: dict[str, Any], app: str = APP, **extra: Any) -> Any:
    return api.client.post(
        f"/api/agent/v1/devices/{device['device_id']}/launch",
        json={"app_id": app, **extra},
        headers=device_auth(device),
    )


def decision(api: Api, device: dict[str, Any], app: str = APP) -> dict[str, Any]:
    r = launch(api, device, app)
    assert r.status_code == 200, r.text
    return dict(r.json())


def alert_ids(api: Api, device: dict[str, Any]) -> dict[str, int]:
    r = api.client.get(
        "/api/alerts", params={"device_id": device["device_id"]}, headers=api.headers()
    )
    return {a["severity"]: a["id"] for a in r.json()["items"] if a["status"] != "Resolved"}


def resolve(api: Api, alert_id: int) -> None:
    r = api.client.patch(
        f"/api/alerts/{alert_id}", json={"status": "Resolved"}, headers=api.headers("analyst")
    )
    assert r.status_code == 200, r.text


# --- policies -----------------------------------------------------------------------------------


def test_policy_crud_is_audited(api: Api, clock: FakeClock) -> None:
    created = make_policy(
        api,
        name="Mail on Android",
        app_ids=[APP, "com.contoso.docs", APP],
        device_group="nobody-has-this-group",
        platform="android",
        max_risk="Low",
        action="wipe",
    )
    assert created["app_ids"] == [APP, "com.contoso.docs"]  # duplicates dropped, order kept
    assert (created["device_group"], created["platform"]) == ("nobody-has-this-group", "android")
    assert (created["max_risk"], created["max_risk_code"]) == ("Low", 2)
    assert (created["action"], created["action_code"]) == ("wipe", 1)
    assert created["created_by"] == created["updated_by"] == "admin-user"
    pid = created["id"]

    everyone = make_policy(api, name="Everyone")
    assert (everyone["app_ids"], everyone["device_group"], everyone["platform"]) == ([], None, None)

    listed = api.client.get(POLICIES, headers=api.headers("analyst")).json()
    assert [p["name"] for p in listed] == ["Mail on Android", "Everyone"]
    assert api.client.get(f"{POLICIES}/{pid}", headers=api.headers("analyst")).json() == created

    clock.advance(minutes=5)
    r = api.client.put(
        f"{POLICIES}/{pid}",
        json={"name": "Mail", "app_ids": [APP], "max_risk": "High", "action": "block"},
        headers=api.headers(),
    )
    assert r.status_code == 200, r.text
    replaced = r.json()
    assert (replaced["name"], replaced["app_ids"], replaced["platform"]) == ("Mail", [APP], None)
    assert (replaced["max_risk"], replaced["action"], replaced["device_group"]) == (
        "High",
        "block",
        None,
    )
    assert replaced["updated_at"] == "2026-11-26T12:05:00Z"
    assert replaced["created_at"] == "2026-11-26T12:00:00Z"

    assert api.client.delete(f"{POLICIES}/{pid}", headers=api.headers()).status_code == 204
    error(api.client.get(f"{POLICIES}/{pid}", headers=api.headers()), 404, "not_found")
    error(api.client.delete(f"{POLICIES}/{pid}", headers=api.headers()), 404, "not_found")
    error(
        api.client.put(
            f"{POLICIES}/{pid}",
            json={"name": "x", "max_risk": "Low", "action": "block"},
            headers=api.headers(),
        ),
        404,
        "not_found",
    )

    with api.app.state.ctx.sessions() as db:
        audit = db.scalars(
            select(AuditEntry).where(AuditEntry.action.startswith("launch_policy."))
        ).all()
    assert [(a.action, a.target, a.actor) for a in audit] == [
        ("launch_policy.create", f"launch_policy:{pid}", "admin-user"),
        ("launch_policy.create", f"launch_policy:{everyone['id']}", "admin-user"),
        ("launch_policy.update", f"launch_policy:{pid}", "admin-user"),
        ("launch_policy.delete", f"launch_policy:{pid}", "admin-user"),
    ]
    assert audit[2].details["changes"]["max_risk"] == ["Low", "High"]


def test_names_are_unique(api: Api) -> None:
    first = make_policy(api, name="Mail")
    second = make_policy(api, name="Docs")
    message = error(
        api.client.post(
            POLICIES,
            json={"name": "Mail", "max_risk": "Low", "action": "block"},
            headers=api.headers(),
        ),
        409,
        "policy_name_taken",
    )
    assert (
        message
        == f"app protection policy #{first['id']} is already named 'Mail'; choose another name"
    )
    r = api.client.put(
        f"{POLICIES}/{second['id']}",
        json={"name": "Mail", "max_risk": "Low", "action": "block"},
        headers=api.headers(),
    )
    error(r, 409, "policy_name_taken")
    # Keeping its own name is fine.
    r = api.client.put(
        f"{POLICIES}/{first['id']}",
        json={"name": "Mail", "max_risk": "Low", "action": "block"},
        headers=api.headers(),
    )
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"max_risk": "Critical"}, "body.max_risk"),
        ({"max_risk": "high"}, "body.max_risk"),
        ({"action": "erase"}, "body.action"),
        ({"action": None}, "body.action"),
        ({"name": ""}, "body.name"),
        ({"name": "   "}, "body.name"),
        ({"name": "x" * 129}, "body.name"),
        ({"name": "bad\x00name"}, "body.name"),
        ({"app_ids": ["nodot"]}, "body.app_ids.0"),
        ({"app_ids": ["com.example.app", "com..double"]}, "body.app_ids.1"),
        ({"app_ids": ["com.exa mple"]}, "body.app_ids.0"),
        ({"app_ids": ["a." + "b" * 300]}, "body.app_ids.0"),
        ({"app_ids": [f"com.example.app{i}" for i in range(101)]}, "body.app_ids"),
        ({"app_ids": "com.example.app"}, "body.app_ids"),
        ({"platform": "windows"}, "body.platform"),
        ({"device_group": "bad/group"}, "body.device_group"),
        ({"surprise": 1}, "body.surprise"),
    ],
)
def test_bad_policies_are_refused_with_the_field(
    api: Api, body: dict[str, Any], field: str
) -> None:
    full = {"name": "Mail", "max_risk": "Medium", "action": "block", **body}
    r = api.client.post(POLICIES, json=full, headers=api.headers())
    error(r, 422, "invalid_input")
    assert r.json()["error"]["details"][0]["field"] == field
    assert api.client.get(POLICIES, headers=api.headers()).json() == []


def test_roles(api: Api) -> None:
    pid = make_policy(api)["id"]
    for path in (POLICIES, f"{POLICIES}/{pid}", "/api/launch/log"):
        error(api.client.get(path, headers=api.headers("read-only")), 403, "role_required")
        assert api.client.get(path, headers=api.headers("analyst")).status_code == 200
    body = {"name": "Other", "max_risk": "Low", "action": "block"}
    for role in ("read-only", "analyst"):
        error(api.client.post(POLICIES, json=body, headers=api.headers(role)), 403, "role_required")
        error(
            api.client.put(f"{POLICIES}/{pid}", json=body, headers=api.headers(role)),
            403,
            "role_required",
        )
        error(
            api.client.delete(f"{POLICIES}/{pid}", headers=api.headers(role)), 403, "role_required"
        )


# --- the launch call ----------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_a_high_alert_blocks_the_launch_until_it_is_resolved(
    api: Api, clock: FakeClock, scenario: str
) -> None:
    policy = make_policy(api, name="Mail", app_ids=[APP], max_risk="Medium", action="block")
    device = enroll(api, scenario)

    allowed = decision(api, device)
    assert allowed == {
        "decision": "allow",
        "threat_level": "Secured",
        "threat_level_code": 1,
        "action_code": None,
        "policy": {"id": policy["id"], "name": "Mail", "max_risk": "Medium", "action": "block"},
        "reason": "allowed: device threat level Secured is at or under Medium, the maximum "
        f"policy 'Mail' (#{policy['id']}) allows",
        "retry_after_seconds": None,
    }
    # An app no policy names is not concerned.
    other = decision(api, device, "com.contoso.games")
    assert (other["decision"], other["policy"]) == ("allow", None)

    api.checkin(device, detections=[HIGH_ALERT])
    clock.advance(minutes=1)
    blocked = decision(api, device)
    assert (blocked["decision"], blocked["threat_level"], blocked["threat_level_code"]) == (
        "block",
        "High",
        4,
    )
    assert blocked["action_code"] == 0
    assert blocked["retry_after_seconds"] == 900
    assert blocked["reason"] == (
        "blocked: device threat level High is above Medium, the maximum policy 'Mail' "
        f"(#{policy['id']}) allows; action Block access until the threat is resolved"
    )
    latches = api.client.get(
        f"/api/devices/{device['device_id']}/launch", headers=api.headers("analyst")
    ).json()
    assert latches["threat_level"] == "High" and latches["threat_level_code"] == 4
    assert [
        (x["app_id"], x["action"], x["wiped"], x["threat_level_code"]) for x in latches["latches"]
    ] == [(APP, "block", False, 4)]
    assert latches["latches"][0]["latched_at"] == "2026-11-26T12:01:00Z"

    clock.advance(minutes=1)
    again = decision(api, device)
    assert again["decision"] == "block"
    assert "blocked since 2026-11-26 12:01 UTC until the threat is resolved" in again["reason"]

    resolve(api, alert_ids(api, device)["High"])
    lifted = decision(api, device)
    assert (lifted["decision"], lifted["threat_level"], lifted["action_code"]) == (
        "allow",
        "Secured",
        None,
    )
    assert lifted["reason"].endswith("the block since 2026-11-26 12:01 UTC is lifted")
    assert count(api.app, LaunchLatchRow) == 0

    log = api.client.get(
        "/api/launch/log", params={"device_id": device["device_id"]}, headers=api.headers("analyst")
    ).json()
    assert log["total"] == 5
    assert [(e["decision"], e["threat_level_code"], e["action_code"]) for e in log["items"]] == [
        ("allow", 1, None),
        ("block", 4, 0),
        ("block", 4, 0),
        ("allow", 1, None),
        ("allow", 1, None),
    ]
    newest = log["items"][0]
    assert (newest["app_id"], newest["policy_id"], newest["policy_name"]) == (
        APP,
        policy["id"],
        "Mail",
    )
    assert newest["explanation"] == lifted["reason"]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_wipe_once_then_block_until_resolved(api: Api, scenario: str) -> None:
    make_policy(api, name="Wipe everything", max_risk="Low", action="wipe")
    device = enroll(api, scenario)
    api.checkin(device, detections=[HIGH_ALERT])
    first = decision(api, device, "com.contoso.docs")
    assert (first["decision"], first["action_code"], first["threat_level_code"]) == ("wipe", 1, 4)
    assert "the app must erase its managed data" in first["reason"]
    second = decision(api, device, "com.contoso.docs")
    assert (second["decision"], second["action_code"]) == ("block", 0)
    assert second["reason"].endswith("its managed data was already wiped")
    # Another app latches (and wipes) on its own.
    assert decision(api, device, "com.contoso.chat")["decision"] == "wipe"
    resolve(api, alert_ids(api, device)["High"])
    assert decision(api, device, "com.contoso.docs")["decision"] == "allow"
    assert decision(api, device, "com.contoso.chat")["decision"] == "allow"
    # A new threat wipes again: the earlier latch is gone.
    api.checkin(device, detections=[HIGH_ALERT | {"key": "com.worse"}])
    assert decision(api, device, "com.contoso.docs")["decision"] == "wipe"


def test_the_latch_holds_while_the_level_stays_too_high_whatever_the_alerts(api: Api) -> None:
    make_policy(api, name="Strict", app_ids=[APP], max_risk="Low", action="wipe")
    device = enroll(api, "android-mam")
    api.checkin(device, detections=[HIGH_ALERT])
    assert decision(api, device)["decision"] == "wipe"
    # The High alert that wiped is resolved, but a Medium one appeared: still blocked.
    api.checkin(device, detections=[MEDIUM_ALERT])
    resolve(api, alert_ids(api, device)["High"])
    still = decision(api, device)
    assert (still["decision"], still["threat_level"], still["action_code"]) == (
        "block",
        "Medium",
        0,
    )
    assert "device threat level Medium is above Low" in still["reason"]
    with api.app.state.ctx.sessions() as db:
        (latch,) = db.scalars(select(LaunchLatchRow)).all()
        assert (latch.action, latch.wiped, latch.threat_level) == ("wipe", True, 4)
    # The device itself reports the Medium condition gone: allowed again.
    api.checkin(device, detections=[MEDIUM_ALERT | {"resolved": True}])
    assert decision(api, device)["decision"] == "allow"


def test_policy_precedence_over_http(api: Api) -> None:
    everyone = make_policy(api, name="Everyone", max_risk="High", action="block")
    sales = make_policy(api, name="Sales", device_group="sales", max_risk="Low", action="block")
    mail = make_policy(api, name="Mail", app_ids=[APP], max_risk="Medium", action="wipe")
    ios = make_policy(
        api,
        name="iOS sales",
        device_group="sales",
        platform="ios",
        max_risk="Secured",
        action="block",
    )
    android = enroll(api, "android-mam", group="sales")
    iphone = enroll(api, "ios-mam", group="sales")
    elsewhere = enroll(api, "android-work-profile", group="engineering")
    for d in (android, iphone, elsewhere):
        api.checkin(d, detections=[MEDIUM_ALERT])
    picks = {
        "android mail": decision(api, android)["policy"]["id"],
        "android docs": decision(api, android, "com.contoso.docs")["policy"]["id"],
        "iphone docs": decision(api, iphone, "com.contoso.docs")["policy"]["id"],
        "iphone mail": decision(api, iphone)["policy"]["id"],
        "engineering docs": decision(api, elsewhere, "com.contoso.docs")["policy"]["id"],
    }
    assert picks == {
        "android mail": mail["id"],
        "android docs": sales["id"],
        "iphone docs": ios["id"],
        "iphone mail": mail["id"],
        "engineering docs": everyone["id"],
    }
    assert decision(api, elsewhere, "com.contoso.docs")["decision"] == "allow"  # Medium <= High


def test_deleting_the_policy_lifts_the_block_at_the_next_launch(api: Api) -> None:
    pid = make_policy(api, name="Mail", app_ids=[APP], max_risk="Low")["id"]
    device = enroll(api)
    api.checkin(device, detections=[HIGH_ALERT])
    assert decision(api, device)["decision"] == "block"
    assert api.client.delete(f"{POLICIES}/{pid}", headers=api.headers()).status_code == 204
    with api.app.state.ctx.sessions() as db:
        (latch,) = db.scalars(select(LaunchLatchRow)).all()
        assert latch.policy_id is None  # the latch outlives its policy
    lifted = decision(api, device)
    assert lifted["decision"] == "allow" and lifted["policy"] is None
    assert "no app protection policy applies any more to com.contoso.mail" in lifted["reason"]
    # The log keeps the deleted policy's name.
    items = api.client.get("/api/launch/log", headers=api.headers("analyst")).json()["items"]
    assert [(e["decision"], e["policy_id"], e["policy_name"]) for e in items] == [
        ("allow", None, None),
        ("block", pid, "Mail"),
    ]


def test_only_the_own_device_credential_is_accepted(api: Api) -> None:
    make_policy(api)
    device, other = enroll(api, "android-mam"), enroll(api, "ios-mam")
    r = api.client.post(
        f"/api/agent/v1/devices/{device['device_id']}/launch",
        json={"app_id": APP},
        headers=device_auth(other),
    )
    assert error(r, 403, "not_your_device") == (
        f"this credential belongs to device {other['device_id']}; it cannot act for device "
        f"{device['device_id']}"
    )
    path = f"/api/agent/v1/devices/{device['device_id']}/launch"
    error(api.client.post(path, json={"app_id": APP}), 401, "device_credential_required")
    error(
        api.client.post(path, json={"app_id": APP}, headers={"Authorization": "Bearer omt_dev_x"}),
        401,
        "bad_device_credential",
    )
    # An admin API token is no device credential.
    error(
        api.client.post(path, json={"app_id": APP}, headers=api.headers()),
        401,
        "device_credential_required",
    )
    assert count(api.app, LaunchLogEntry) == 0


def test_a_retired_device_is_refused(api: Api) -> None:
    device = enroll(api, "ios-mam")
    assert decision(api, device)["decision"] == "allow"
    r = api.client.post(
        f"/api/devices/{device['device_id']}/retire", json={"reason": "lost"}, headers=api.headers()
    )
    assert r.status_code == 200, r.text
    error(launch(api, device), 401, "device_retired")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"app_id": ""},
        {"app_id": "nodot"},
        {"app_id": "com.bad app"},
        {"app_id": "com..x"},
        {"app_id": 42},
        {"app_id": "a." + "b" * 300},
        {"app_id": APP, "app_version": "1" * 65},
        {"app_id": APP, "app_version": "1.0\x00"},
        {"app_id": APP, "extra": True},
        [APP],
    ],
)
def test_bad_launch_bodies_are_422(api: Api, body: Any) -> None:
    device = enroll(api)
    r = api.client.post(
        f"/api/agent/v1/devices/{device['device_id']}/launch",
        json=body,
        headers=device_auth(device),
    )
    error(r, 422, "invalid_input")
    assert count(api.app, LaunchLogEntry) == 0


def test_non_json_body_is_422(api: Api) -> None:
    device = enroll(api)
    r = api.client.post(
        f"/api/agent/v1/devices/{device['device_id']}/launch",
        content=b"app_id=com.x.y",
        headers={**device_auth(device), "Content-Type": "application/json"},
    )
    error(r, 422, "invalid_input")


def test_app_version_is_logged(api: Api) -> None:
    device = enroll(api)
    r = launch(api, device, app_version="5.2.1 (beta)")
    assert r.status_code == 200, r.text
    (entry,) = api.client.get("/api/launch/log", headers=api.headers("analyst")).json()["items"]
    assert (entry["app_version"], entry["decision"], entry["threat_level"]) == (
        "5.2.1 (beta)",
        "allow",
        "Secured",
    )


# --- the log ------------------------------------------------------------------------------------


def test_log_filters_and_paging(api: Api) -> None:
    make_policy(api, app_ids=[APP], max_risk="Secured")
    a, b = enroll(api), enroll(api, "ios-mam")
    api.checkin(b, detections=[MEDIUM_ALERT])
    decision(api, a)
    decision(api, a, "com.contoso.docs")
    decision(api, b)
    decision(api, b)

    def log(**params: Any) -> dict[str, Any]:
        r = api.client.get("/api/launch/log", params=params, headers=api.headers("analyst"))
        assert r.status_code == 200, r.text
        return dict(r.json())

    assert log()["total"] == 4
    assert {e["device_id"] for e in log(device_id=b["device_id"])["items"]} == {b["device_id"]}
    assert log(app_id="com.contoso.docs")["total"] == 1
    assert [e["device_id"] for e in log(decision="block")["items"]] == [b["device_id"]] * 2
    page = log(limit=1, offset=1)
    assert (page["total"], page["limit"], page["offset"], len(page["items"])) == (4, 1, 1, 1)
    for bad in ({"limit": 0}, {"limit": 501}, {"device_id": "nope"}, {"decision": "maybe"}):
        error(
            api.client.get("/api/launch/log", params=bad, headers=api.headers()),
            422,
            "invalid_input",
        )


def test_device_launch_route_needs_a_known_device(api: Api) -> None:
    r = api.client.get(
        "/api/devices/00000000-0000-0000-0000-000000000001/launch", headers=api.headers()
    )
    error(r, 404, "not_found")
    device = enroll(api)
    state = api.client.get(f"/api/devices/{device['device_id']}/launch", headers=api.headers())
    assert state.json() == {
        "device_id": device["device_id"],
        "threat_level": "Secured",
        "threat_level_code": 1,
        "latches": [],
    }


def test_the_log_is_bounded_per_device_and_by_age(api: Api, clock: FakeClock) -> None:
    device = enroll(api)
    other = enroll(api)
    ctx = api.app.state.ctx

    def decide(device_id: str, app: str) -> None:
        with ctx.sessions.begin() as db:
            service.decide(
                db,
                device_id=device_id,
                device_group="sales",
                platform=Platform.ANDROID,
                threat_level=RiskLevel.SECURED,
                app_id=app,
                app_version=None,
                now=clock(),
                keep_per_device=3,
                keep_days=2,
            )

    decide(other["device_id"], "com.x.old")
    for i in range(5):
        decide(device["device_id"], f"com.x.app{i}")
    with ctx.sessions() as db:
        kept = db.scalars(
            select(LaunchLogEntry.app_id)
            .where(LaunchLogEntry.device_id == device["device_id"])
            .order_by(LaunchLogEntry.id)
        ).all()
    assert kept == ["com.x.app2", "com.x.app3", "com.x.app4"]
    clock.advance(days=2, seconds=1)
    decide(device["device_id"], "com.x.new")
    with ctx.sessions() as db:
        kept = db.scalars(
            select(LaunchLogEntry.app_id)
            .where(LaunchLogEntry.device_id == device["device_id"])
            .order_by(LaunchLogEntry.id)
        ).all()
    assert kept == ["com.x.new"]  # the rest were older than 2 days
    # Another device's rows are pruned by its own launches only.
    assert count(api.app, LaunchLogEntry, LaunchLogEntry.device_id == other["device_id"]) == 1
