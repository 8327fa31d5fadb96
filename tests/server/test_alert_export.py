"""Alert export through signed webhooks, against a real HTTP receiver on loopback.

The outbox is written in the change's transaction; delivery is at least once with an
idempotency key (the receiver de-duplicates), retried with backoff, marked dead after
max_attempts; a dead receiver never blocks the API; a restart loses nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from server_helpers import error
from sqlalchemy import select, update

from conftest import Api, FakeClock
from exportwire import WebhookReceiver, free_port
from openmtd.config import Settings
from openmtd.export_settings import ExportSink
from openmtd.server.app import create_app
from openmtd.server.export.delivery import ExportWorker, claim, deliver_due
from openmtd.server.export.outbox import enqueue
from openmtd.store.db import make_engine, make_session_factory
from openmtd.store.models import AuditEntry, ExportOutbox

SECRET = "correct-horse-battery-staple-42"


def malware(key: str = "com.evil.app", severity: str = "Medium") -> dict[str, Any]:
    return {
        "category": "Malware",
        "title": f"Malicious app {key}",
        "severity": severity,
        "key": key,
        "evidence": {"package": key, "verdict": "known malware family"},
    }


def hook(url: str, **extra: Any) -> ExportSink:
    return ExportSink(name="soar", kind="webhook", url=url, secret=SECRET, **extra)


def export_settings(settings: Settings, *sinks: ExportSink, worker: bool = False) -> Settings:
    return settings.model_copy(update={"export_sinks": list(sinks), "export_worker": worker})


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    r = WebhookReceiver(secret=SECRET.encode())
    yield r
    r.close()


def start(settings: Settings, clock: FakeClock) -> tuple[Any, TestClient, Api]:
    app = create_app(settings, clock=clock)
    client = TestClient(app)
    client.__enter__()
    return app, client, Api(app, client, clock)


def stop(app: Any, client: TestClient) -> None:
    client.__exit__(None, None, None)
    app.state.ctx.close()


@pytest.fixture
def hooked(settings: Settings, clock: FakeClock, receiver: WebhookReceiver) -> Iterator[Api]:
    app, client, api = start(
        export_settings(settings, hook(receiver.url, backoff_base_seconds=10)), clock
    )
    yield api
    stop(app, client)


def outbox(api: Api) -> list[ExportOutbox]:
    with api.app.state.ctx.sessions() as db:
        return list(db.scalars(select(ExportOutbox).order_by(ExportOutbox.id)))


def deliver(api: Api) -> Any:
    return deliver_due(api.app.state.ctx, now=api.clock())


def device(api: Api) -> dict[str, Any]:
    d = api.enroll(device={"model": "Pixel 8", "os_version": "14", "name": "Alice phone"})
    d["_scenario"] = "android-work-profile"
    return d


def changes(receiver: WebhookReceiver) -> list[tuple[str, str, str]]:
    return [
        (e["data"]["change"], e["data"]["alert"]["severity"], e["data"]["alert"]["status"])
        for e in receiver.events
    ]


def test_an_alerts_life_is_exported_signed_and_once_per_change(
    hooked: Api, receiver: WebhookReceiver, clock: FakeClock
) -> None:
    api = hooked
    d = device(api)
    api.checkin(d, detections=[malware()])
    assert [r.state for r in outbox(api)] == ["pending"]  # queued with the check-in
    assert receiver.requests == []  # nothing is sent on the request path
    report = deliver(api)
    assert (report.claimed, report.delivered) == (1, 1)
    assert changes(receiver) == [("raised", "Medium", "New")]
    first = receiver.events[0]
    headers = receiver.requests[0]["headers"]
    assert headers["idempotency-key"] == first["idempotency_key"]
    assert first["idempotency_key"].startswith(f"alert:{first['data']['alert']['id']}:raised:")
    assert headers["x-openmtd-topic"] == "alert" and headers["x-openmtd-attempt"] == "1"
    assert headers["content-type"] == "application/json"
    assert first["topic"] == "alert"
    assert first["data"]["alert"]["evidence"] == {
        "package": "com.evil.app",
        "verdict": "known malware family",
    }
    assert first["data"]["device"] == {
        "id": d["device_id"],
        "name": "Alice phone",
        "platform": "android",
        "scenario": "android-work-profile",
        "device_group": "default",
        "model": "Pixel 8",
        "os_version": "14",
    }
    assert receiver.bad_signatures == 0

    clock.advance(minutes=1)
    api.checkin(d, detections=[malware()])  # a repeat: counted, not exported
    clock.advance(minutes=1)
    api.checkin(d, detections=[malware(severity="High")])  # the severity rose: exported
    deliver(api)
    assert changes(receiver)[1:] == [("updated", "High", "New")]
    assert receiver.events[1]["data"]["alert"]["count"] == 3

    alert_id = first["data"]["alert"]["id"]
    clock.advance(minutes=1)
    r = api.client.patch(
        f"/api/alerts/{alert_id}",
        json={"status": "InProgress", "classification": "TruePositive"},
        headers=api.headers("analyst"),
    )
    assert r.status_code == 200, r.text
    clock.advance(minutes=1)
    r = api.client.patch(
        f"/api/alerts/{alert_id}", json={"assigned_to": "ana"}, headers=api.headers("analyst")
    )
    assert r.status_code == 200  # an assignment alone is not exported
    clock.advance(minutes=1)
    api.checkin(d, detections=[malware() | {"resolved": True}])
    deliver(api)
    assert changes(receiver)[2:] == [
        ("updated", "High", "InProgress"),
        ("resolved", "High", "Resolved"),
    ]
    resolved = receiver.events[3]["data"]
    assert resolved["alert"]["classification"] == "TruePositive"
    assert resolved["alert"]["assigned_to"] == "ana"
    assert resolved["alert"]["resolved_at"] == resolved["occurred_at"]
    assert len({e["idempotency_key"] for e in receiver.events}) == 4
    assert len(receiver.requests) == 4
    assert [r.state for r in outbox(api)] == ["delivered"] * 4


def test_the_outbox_is_written_in_the_changes_transaction(hooked: Api) -> None:
    ctx = hooked.app.state.ctx
    now = hooked.clock()
    with ctx.sessions() as db:
        enqueue(db, topic="alert", key="k:1", payload={"x": 1}, now=now)
        db.rollback()  # the change failed: its event is gone with it
    assert outbox(hooked) == []
    with ctx.sessions() as db:
        enqueue(db, topic="alert", key="k:1", payload={"x": 1}, now=now)
        enqueue(db, topic="alert", key="k:1", payload={"x": 1}, now=now)  # the same event
        enqueue(db, topic="device.health", key="k:2", payload={}, now=now)  # not subscribed
        db.commit()
    with ctx.sessions() as db:  # queued by another transaction too: still once
        enqueue(db, topic="alert", key="k:1", payload={"x": 2}, now=now)
        db.commit()
    rows = outbox(hooked)
    assert [(r.sink, r.topic, r.key, r.payload) for r in rows] == [
        ("soar", "alert", "k:1", {"x": 1})
    ]
    with ctx.sessions() as db, pytest.raises(ValueError, match="not JSON"):
        enqueue(db, topic="alert", key="k:3", payload={"x": object()}, now=now)


def test_retries_back_off_and_the_receiver_sees_each_event_once(
    hooked: Api, receiver: WebhookReceiver, clock: FakeClock
) -> None:
    api = hooked
    receiver.fail_first = 2
    api.checkin(device(api), detections=[malware()])
    report = deliver(api)
    assert (report.claimed, report.delivered, report.retrying) == (1, 0, 1)
    [row] = outbox(api)
    assert row.state == "pending" and row.attempts == 1 and row.last_error == "HTTP 503: no"
    wait = row.next_attempt_at - clock()
    assert timedelta(seconds=5) <= wait <= timedelta(seconds=10)  # base 10 s, equal jitter
    # Not due yet: the next pass leaves it alone.
    assert deliver(api).claimed == 0
    sinks = api.client.get("/api/export/sinks", headers=api.headers("analyst")).json()
    assert sinks[0]["pending"] == 1 and sinks[0]["last_error"] == "HTTP 503: no"

    clock.now = row.next_attempt_at
    assert deliver(api).retrying == 1
    [row] = outbox(api)
    second_wait = row.next_attempt_at - clock()
    assert timedelta(seconds=10) <= second_wait <= timedelta(seconds=20)  # doubled
    clock.now = row.next_attempt_at
    assert deliver(api).delivered == 1
    [row] = outbox(api)
    assert (row.state, row.attempts, row.last_error) == ("delivered", 3, None)
    assert [r["headers"]["x-openmtd-attempt"] for r in receiver.requests] == ["1", "2", "3"]
    keys = {r["headers"]["idempotency-key"] for r in receiver.requests}
    bodies = {r["body"] for r in receiver.requests}
    assert len(keys) == 1 and len(bodies) == 1  # the same event, byte for byte
    assert len(receiver.events) == 1

    # At least once: a worker that delivered but died before recording it sends it again;
    # the receiver recognises the key.
    with api.app.state.ctx.sessions.begin() as db:
        db.execute(update(ExportOutbox).values(state="pending", next_attempt_at=clock()))
    assert deliver(api).delivered == 1
    assert len(receiver.requests) == 4 and len(receiver.events) == 1


def test_events_go_dead_after_max_attempts_and_an_admin_requeues_them(
    settings: Settings, clock: FakeClock, receiver: WebhookReceiver
) -> None:
    app, client, api = start(
        export_settings(settings, hook(receiver.url, max_attempts=2, backoff_base_seconds=1)),
        clock,
    )
    try:
        receiver.fail_first = 10
        api.checkin(device(api), detections=[malware()])
        assert deliver(api).retrying == 1
        clock.advance(seconds=5)
        assert deliver(api).dead == 1
        clock.advance(days=1)
        assert deliver(api).claimed == 0  # dead stays dead
        [status] = client.get("/api/export/sinks", headers=api.headers("analyst")).json()
        assert (status["pending"], status["delivered"], status["dead"]) == (0, 0, 1)
        assert status["last_error"] == "HTTP 503: no"

        error(
            client.post("/api/export/dead/nosuch/retry", headers=api.headers()),
            404,
            "sink_not_found",
        )
        receiver.fail_first = 0
        r = client.post("/api/export/dead/soar/retry", headers=api.headers())
        assert r.status_code == 200 and r.json() == {"sink": "soar", "requeued": 1}
        [row] = outbox(api)
        assert (row.state, row.attempts) == ("pending", 0)
        assert deliver(api).delivered == 1
        assert len(receiver.events) == 1
        with app.state.ctx.sessions() as db:
            audit = db.scalars(select(AuditEntry).where(AuditEntry.action.like("export.%")))
            assert [(a.action, a.target, a.details) for a in audit] == [
                ("export.retry_dead", "export:soar", {"requeued": 1})
            ]
    finally:
        stop(app, client)


def test_while_the_receiver_is_down_one_event_probes_and_the_rest_wait(
    settings: Settings, clock: FakeClock
) -> None:
    app, client, api = start(
        export_settings(settings, hook(f"http://127.0.0.1:{free_port()}/hook")), clock
    )
    try:
        d = device(api)
        api.checkin(d, detections=[malware(f"com.evil.{i}") for i in range(3)])
        report = deliver(api)
        assert (report.claimed, report.retrying) == (1, 1)
        probe, *others = outbox(api)
        assert probe.attempts == 1 and "ConnectError" in (probe.last_error or "")
        assert [o.attempts for o in others] == [0, 0]  # their attempts are not used up
        assert {o.next_attempt_at for o in others} == {probe.next_attempt_at}
        assert deliver(api).claimed == 0
    finally:
        stop(app, client)


def test_a_dead_receiver_never_blocks_the_api(settings: Settings, clock: FakeClock) -> None:
    gate = threading.Event()  # the receiver accepts and answers nothing until the test says so
    blackhole = WebhookReceiver(secret=SECRET.encode(), gate=gate)
    app, client, api = start(
        export_settings(settings, hook(blackhole.url, timeout_seconds=60), worker=True), clock
    )
    try:
        d = device(api)
        api.checkin(d, detections=[malware("com.first")])
        assert blackhole.entered.wait(30)  # the worker is stuck inside the receiver now
        # The API goes on: check-ins raise alerts, lists and the export status answer.
        result = api.checkin(d, detections=[malware("com.second", "High")])
        assert result["risk_level"] == "High"
        alerts = client.get("/api/alerts", headers=api.headers("analyst")).json()
        assert alerts["total"] == 2
        [status] = client.get("/api/export/sinks", headers=api.headers("analyst")).json()
        assert status["pending"] == 2
        assert not gate.is_set()  # all of the above happened while the receiver held on
        gate.set()
        assert blackhole.wait_for(2)
    finally:
        stop(app, client)
        blackhole.close()
    assert [e["data"]["alert"]["title"] for e in blackhole.events] == [
        "Malicious app com.first",
        "Malicious app com.second",
    ]


def test_nothing_is_lost_across_a_restart(settings: Settings, clock: FakeClock) -> None:
    port = free_port()
    configured = export_settings(settings, hook(f"http://127.0.0.1:{port}/hook"), worker=True)
    app, client, api = start(configured, clock)
    api.checkin(device(api), detections=[malware()])
    stop(app, client)  # the receiver was down the whole time
    [row] = outbox_of(settings)
    assert row.state == "pending"

    receiver = WebhookReceiver(secret=SECRET.encode(), bind_port=port)  # it comes up
    clock.advance(hours=2)  # past any retry time or lease of the first process
    app, client, api = start(configured, clock)  # a new server on the same database
    try:
        assert receiver.wait_for(1)
        assert app.state.ctx.export.running
    finally:
        stop(app, client)
        receiver.close()
    assert [e["data"]["change"] for e in receiver.events] == ["raised"]
    [row] = outbox_of(settings)
    assert row.state == "delivered"


def outbox_of(settings: Settings) -> list[ExportOutbox]:
    engine = make_engine(settings.resolved_database_url())
    try:
        with make_session_factory(engine)() as db:
            return list(db.scalars(select(ExportOutbox)))
    finally:
        engine.dispose()


def test_two_workers_never_deliver_one_event_at_the_same_time(
    hooked: Api, receiver: WebhookReceiver
) -> None:
    api = hooked
    ctx = api.app.state.ctx
    with ctx.sessions.begin() as db:
        for i in range(20):
            enqueue(db, topic="alert", key=f"bulk:{i}", payload={"i": i}, now=api.clock())
    # A second server process: its own worker and connections on the same database.
    engine = make_engine(ctx.settings.resolved_database_url())
    other = ExportWorker(
        ctx.settings, request_sessions=make_session_factory(engine), clock=api.clock
    )
    barrier = threading.Barrier(2)
    reports: list[Any] = []

    def run(worker: ExportWorker) -> None:
        barrier.wait()
        reports.append(worker.deliver_due(now=api.clock()))

    threads = [threading.Thread(target=run, args=(w,)) for w in (ctx.export, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    other.close()
    engine.dispose()
    assert sum(r.delivered for r in reports) == 20
    keys = [r["headers"]["idempotency-key"] for r in receiver.requests]
    assert sorted(keys) == sorted(f"bulk:{i}" for i in range(20))  # none twice


def test_a_claim_is_a_lease(hooked: Api) -> None:
    ctx = hooked.app.state.ctx
    now = hooked.clock()
    with ctx.sessions.begin() as db:
        enqueue(db, topic="alert", key="lease:1", payload={}, now=now)
    sessions = ctx.export.sessions
    [taken] = claim(sessions, sink="soar", now=now, limit=10, lease_seconds=60)
    assert taken.attempts == 1
    assert claim(sessions, sink="soar", now=now, limit=10, lease_seconds=60) == []
    later = now + timedelta(seconds=61)  # the first worker died: its lease ran out
    [again] = claim(sessions, sink="soar", now=later, limit=10, lease_seconds=60)
    assert again.key == "lease:1" and again.attempts == 2


def test_retiring_a_device_exports_each_resolution(
    hooked: Api, receiver: WebhookReceiver, clock: FakeClock
) -> None:
    api = hooked
    d = device(api)
    api.checkin(d, detections=[malware("com.a"), malware("com.b")])
    clock.advance(minutes=5)
    r = api.client.post(
        f"/api/devices/{d['device_id']}/retire", json={"reason": "lost"}, headers=api.headers()
    )
    assert r.status_code == 200, r.text
    deliver(api)
    assert sorted(changes(receiver)) == [
        ("raised", "Medium", "New"),
        ("raised", "Medium", "New"),
        ("resolved", "Medium", "Resolved"),
        ("resolved", "Medium", "Resolved"),
    ]


def test_ocsf_webhooks_and_device_health_events(
    settings: Settings, clock: FakeClock, receiver: WebhookReceiver
) -> None:
    second = WebhookReceiver(secret=SECRET.encode())
    sinks = [
        hook(receiver.url, format="ocsf"),
        ExportSink(
            name="mdm",
            kind="webhook",
            url=second.url,
            secret=SECRET,
            topics=("alert", "device.health"),
        ),
    ]
    app, client, api = start(export_settings(settings, *sinks), clock)
    try:
        api.checkin(device(api), detections=[malware(severity="High")])
        with app.state.ctx.sessions.begin() as db:
            enqueue(
                db,
                topic="device.health",
                key="device.health:x:unhealthy:1",
                payload={"device_id": "x", "health_state": "unhealthy"},
                now=clock(),
            )
        assert deliver(api).errors == []
    finally:
        stop(app, client)
        second.close()
    [finding] = receiver.events
    assert finding["class_uid"] == 2004 and finding["type_uid"] == 200401
    assert finding["severity_id"] == 4
    assert finding["metadata"]["uid"] == receiver.requests[0]["headers"]["idempotency-key"]
    # The check-in may also change the device's health state (the lead's events): pick ours.
    assert [e["topic"] for e in second.events].count("alert") == 1
    [health] = [e for e in second.events if e["idempotency_key"] == "device.health:x:unhealthy:1"]
    assert health == {
        "idempotency_key": "device.health:x:unhealthy:1",
        "topic": "device.health",
        "occurred_at": "2026-11-26T12:00:00.000000Z",
        "data": {"device_id": "x", "health_state": "unhealthy"},
    }
    assert {r["headers"]["x-openmtd-topic"] for r in second.requests} == {"alert", "device.health"}


def test_the_sinks_api_shows_no_secret_and_an_admin_sends_a_test_event(
    settings: Settings, clock: FakeClock, receiver: WebhookReceiver
) -> None:
    url = receiver.url.replace("/hook", "/hooks/T0K3N-in-the-path?sig=abc")
    app, client, api = start(export_settings(settings, hook(url)), clock)
    try:
        r = client.get("/api/export/sinks", headers=api.headers("analyst"))
        assert r.status_code == 200
        assert SECRET not in r.text and "T0K3N" not in r.text and "sig=abc" not in r.text
        assert r.json() == [
            {
                "name": "soar",
                "kind": "webhook",
                "format": "openmtd",
                "topics": ["alert"],
                "target": f"http://127.0.0.1:{receiver.port}/…",
                "pending": 0,
                "delivered": 0,
                "dead": 0,
                "last_delivered_at": None,
                "last_error": None,
                "last_error_at": None,
                "oldest_pending_at": None,
            }
        ]
        r = client.post("/api/export/sinks/soar/test", headers=api.headers())
        assert r.status_code == 202, r.text
        key = r.json()["key"]
        assert key.startswith("test:soar:")
        error(
            client.post("/api/export/sinks/nosuch/test", headers=api.headers()),
            404,
            "sink_not_found",
        )
        assert deliver(api).delivered == 1
        [status] = client.get("/api/export/sinks", headers=api.headers("analyst")).json()
        assert status["delivered"] == 1
        assert status["last_delivered_at"] == "2026-11-26T12:00:00Z"
        with app.state.ctx.sessions() as db:
            [entry] = db.scalars(select(AuditEntry).where(AuditEntry.action == "export.test"))
            assert (entry.actor, entry.target, entry.details) == (
                "admin-user",
                "export:soar",
                {"key": key},
            )
    finally:
        stop(app, client)
    [event] = receiver.events
    assert event["idempotency_key"] == key
    assert event["data"]["change"] == "test"
    assert event["data"]["alert"]["title"] == "openmtd test event"


@pytest.mark.parametrize(
    ("sink", "message"),
    [
        (
            {"name": "a", "kind": "webhook", "url": "https://h/x"},
            "export sink 'a': a webhook needs a secret of at least 16 characters",
        ),
        (
            {"name": "a", "kind": "webhook", "url": "ftp://h/x", "secret": SECRET},
            "export sink 'a': a webhook needs an http(s) url",
        ),
        ({"name": "a", "kind": "syslog"}, "export sink 'a': a syslog sink needs a host"),
        (
            {"name": "a", "kind": "syslog", "host": "h", "format": "openmtd"},
            "export sink 'a': format 'openmtd' is not for a syslog; use 'cef' or 'ocsf'",
        ),
        (
            {"name": "a", "kind": "syslog", "host": "h", "topics": ["device.health"]},
            "export sink 'a': the cef format carries alerts only",
        ),
        (
            {"name": "a", "kind": "syslog", "host": "h", "ca_file": "/etc/hostname"},
            "export sink 'a': ca_file and server_name need transport 'tls'",
        ),
        (
            {"name": "a", "kind": "syslog", "host": "h", "transport": "tls", "ca_file": "/nope"},
            "export sink 'a': ca_file '/nope' is not a readable file",
        ),
        (
            {"name": "a", "kind": "syslog", "host": "h", "backoff_cap_seconds": 1},
            "export sink 'a': backoff_cap_seconds is below backoff_base_seconds",
        ),
        ({"name": "A b", "kind": "syslog", "host": "h"}, "String should match pattern"),
        ({"name": "a", "kind": "kafka", "host": "h"}, "Input should be 'webhook' or 'syslog'"),
        ({"name": "a", "kind": "syslog", "host": "h", "colour": 1}, "Extra inputs"),
    ],
)
def test_bad_sink_configuration_is_named(
    sink: dict[str, Any], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from pydantic import ValidationError

    monkeypatch.setenv("OPENMTD_EXPORT_SINKS", json.dumps([sink]))
    with pytest.raises(ValidationError) as raised:
        Settings()
    assert message in str(raised.value)


def test_sink_names_are_unique(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    sink = {"name": "siem", "kind": "syslog", "host": "h"}
    monkeypatch.setenv("OPENMTD_EXPORT_SINKS", f"[{sink}, {sink}]".replace("'", '"'))
    with pytest.raises(ValidationError, match="two export sinks are named 'siem'"):
        Settings()
    monkeypatch.setenv("OPENMTD_EXPORT_SINKS", f"[{sink}]".replace("'", '"'))
    assert Settings().export_sinks[0].target() == "syslog+udp://h:514"


def test_delivered_events_are_pruned_after_the_retention_time(hooked: Api) -> None:
    from openmtd.server.export.delivery import prune

    ctx = hooked.app.state.ctx
    now = hooked.clock()
    with ctx.sessions.begin() as db:
        for key in ("old", "new", "dead"):
            enqueue(db, topic="alert", key=key, payload={}, now=now)
        db.execute(
            update(ExportOutbox)
            .where(ExportOutbox.key.in_(["old", "new"]))
            .values(state="delivered", delivered_at=now)
        )
        db.execute(update(ExportOutbox).where(ExportOutbox.key == "dead").values(state="dead"))
        db.execute(
            update(ExportOutbox)
            .where(ExportOutbox.key == "old")
            .values(delivered_at=now - timedelta(days=8))
        )
    assert prune(ctx.export.sessions, before=now - timedelta(days=7)) == 1
    assert sorted(r.key for r in outbox(hooked)) == ["dead", "new"]
