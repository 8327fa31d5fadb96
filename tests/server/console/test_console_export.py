"""The console's Export page: sinks with their status (analysts and admins), a test event and
dead events queued again (admins, with the session's CSRF token)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from console_helpers import signed_in

from conftest import FakeClock
from exportwire import WebhookReceiver
from openmtd.config import Settings
from openmtd.export_settings import ExportSink
from openmtd.server.app import create_app
from openmtd.server.export.delivery import deliver_due

SECRET = "correct-horse-battery-staple-42"


@pytest.fixture
def export_app(settings: Settings, clock: FakeClock) -> Iterator[tuple[Any, WebhookReceiver]]:
    receiver = WebhookReceiver(secret=SECRET.encode(), fail_first=1)
    sink = ExportSink(name="soar", kind="webhook", url=receiver.url, secret=SECRET)
    app = create_app(
        settings.model_copy(update={"export_sinks": [sink], "export_worker": False}), clock=clock
    )
    yield app, receiver
    app.state.ctx.close()
    receiver.close()


def test_admin_sees_sinks_and_sends_a_test_event(
    export_app: tuple[Any, WebhookReceiver], clock: FakeClock
) -> None:
    app, receiver = export_app
    admin = signed_in(app, clock, "admin")
    page = admin.get("/console/export")
    assert page.status_code == 200, page.text
    assert "soar" in page.text and f"http://127.0.0.1:{receiver.port}/…" in page.text
    assert SECRET not in page.text
    assert 'action="/console/export/soar/test"' in page.text
    r = admin.post("/console/export/soar/test")
    assert r.status_code == 303 and r.headers["location"] == "/console/export?msg=test-queued"
    deliver_due(app.state.ctx, now=clock())  # the receiver refuses the first request
    page = admin.get("/console/export?msg=test-queued").text
    assert "Test event queued" in page
    assert "Recent problems" in page and "HTTP 503: no" in page
    clock.advance(hours=1)
    deliver_due(app.state.ctx, now=clock())
    assert [e["data"]["change"] for e in receiver.events] == ["test"]
    r = admin.post("/console/export/soar/retry")
    assert r.headers["location"] == "/console/export?msg=nothing-dead"


def test_roles_and_csrf(export_app: tuple[Any, WebhookReceiver], clock: FakeClock) -> None:
    app, _receiver = export_app
    analyst = signed_in(app, clock, "analyst")
    page = analyst.get("/console/export")
    assert page.status_code == 200 and "soar" in page.text
    assert "/console/export/soar/test" not in page.text  # no admin buttons
    assert analyst.post("/console/export/soar/test").status_code == 403
    assert signed_in(app, clock, "read-only").get("/console/export").status_code == 403
    admin = signed_in(app, clock, "admin")
    r = admin.post("/console/export/soar/test", csrf="forged")
    assert r.status_code == 403 and "CSRF" in r.text
    assert admin.post("/console/export/nosuch/test").status_code == 404
