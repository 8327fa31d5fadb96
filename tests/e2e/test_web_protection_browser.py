"""Web protection, whole system, in a real browser: server, agent, local proxy, console.

A simulated device enrolls with the real server and syncs a Warn indicator that the admin
added through the API. Debian chromium browses through the device agent's local proxy: the
pilot's test URL shows the block page, the warned page shows the interstitial, "Continue
anyway" reaches the page, and the agent's next check-in delivers the detections. The admin then
signs in to the console in the browser and finds the "Warning overlooked" alert (Low) and the
phishing warnings on the alert page.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from browsers import CHROMIUM, CHROMIUM_ARGS, playwright, serve_page

from openmtd.agent import state as agent_state
from openmtd.agent import web
from openmtd.agent.collectors.simulated import simulate
from openmtd.agent.onboarding import onboard, plan_from_options
from openmtd.agent.protection.service import LocalProtection
from openmtd.agent.runner import run_once
from openmtd.cli.serve import ServerThread
from openmtd.config import Settings
from openmtd.domain.enums import EnrollmentScenario, Role
from openmtd.server.app import create_app
from openmtd.server.context import utc_now
from openmtd.server.security import create_api_token
from openmtd.server.users.service import create_user

pytestmark = pytest.mark.e2e
_ = playwright  # the fixture, imported by name

ADMIN, PASSWORD = "e2e-web-admin", "correct horse battery staple"
SCENARIO = "ios-supervised"
TODAY = date(2026, 11, 26)
PAGE = b"<!doctype html><title>Newsletter</title><h1>The newsletter page</h1>"


@pytest.fixture
def origin() -> Iterator[str]:
    for port in serve_page(PAGE):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[ServerThread, Any]]:
    app = create_app(Settings(data_dir=tmp_path / "server", feed_scheduler=False))
    with ServerThread() as srv:
        srv.start(app)
        yield srv, app


def test_warning_overlooked_in_the_browser_reaches_the_console(
    playwright: Any, server: tuple[ServerThread, Any], origin: str, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    srv, app = server
    with app.state.ctx.sessions.begin() as db:
        admin = create_user(
            db, username=ADMIN, password=PASSWORD, role=Role.ADMIN, actor="e2e", now=utc_now()
        )
        db.flush()
        _row, token = create_api_token(
            db, admin, name="e2e", role=Role.ADMIN, now=utc_now(), days=1
        )
    with httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {token}"}) as api:
        onboarding = api.post("/api/onboarding/tokens", json={"name": "e2e"}).json()["token"]
        r = api.post(
            "/api/web/indicators",
            json={
                "type": "url",
                "value": f"{origin}/newsletter",
                "action": "Warn",
                "title": "Suspicious newsletter link",
            },
        )
    assert r.status_code == 201, r.text

    state_dir = tmp_path / "agent"
    device = simulate(SCENARIO, seed=3, today=TODAY)
    onboard(
        plan_from_options(
            server_url=srv.url,
            onboarding_token=onboarding,
            scenario=EnrollmentScenario(SCENARIO),
        ),
        device,
        confirm=lambda _q: True,
        state_dir=state_dir,
        collector=agent_state.Collector("simulated", SCENARIO, 3, TODAY.isoformat()),
        now=datetime.now(UTC),
    )
    # the indicator sets came with the enrollment's first sync
    assert web.stored_revision(state_dir, "custom") is not None

    protection = LocalProtection(state_dir, proxy_port=0)
    listening = protection.start()
    try:
        with playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM,
                args=[
                    *CHROMIUM_ARGS,
                    f"--proxy-server={listening.proxy_url}",
                    "--proxy-bypass-list=<-loopback>",
                ],
            )
            try:
                page = browser.new_page()
                response = page.goto("http://smartscreentestratings2.net/")
                assert response is not None and response.status == 403
                expect(page.locator("main")).to_contain_text("Phishing test page")

                response = page.goto(f"{origin}/newsletter/issue-7")
                assert response is not None and response.status == 200
                expect(page.locator("main")).to_contain_text("Suspicious newsletter link")
                page.get_by_role("button", name="Continue anyway").click()
                expect(page.locator("h1")).to_have_text("The newsletter page")
            finally:
                browser.close()
    finally:
        protection.stop()

    delivered = run_once(state_dir, device, now=datetime.now(UTC))
    assert delivered.checkin is not None and delivered.checkin.alerts_raised == 3

    with playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.goto(f"{srv.url}/console/login")
            page.fill("#username", ADMIN)
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.goto(f"{srv.url}/console/alerts?category=Phishing")
            overlooked = page.locator("table tbody tr", has_text="Warning overlooked")
            expect(overlooked).to_have_count(1)
            expect(overlooked.locator(".badge")).to_contain_text(["Low"])
            expect(page.locator("table tbody tr", has_text="Phishing warning")).to_have_count(2)
            page.screenshot(path=str(tmp_path / "console-alerts.png"), full_page=True)
        finally:
            browser.close()
