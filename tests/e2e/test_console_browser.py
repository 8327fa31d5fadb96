"""The web console in a real browser: Debian chromium driven by Playwright against uvicorn.

An admin signs in, finds the device with an alert, opens the alert, resolves it with the form
and sees the device's risk level go back to Secured. Screenshots of each page land in tmp_path.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from browsers import CHROMIUM, CHROMIUM_ARGS, playwright

from openmtd.config import Settings
from openmtd.domain.enums import Role
from openmtd.server.app import create_app
from openmtd.server.context import utc_now
from openmtd.server.security import create_api_token
from openmtd.server.users.service import create_user

pytestmark = pytest.mark.e2e
_ = playwright  # the fixture, imported by name

ADMIN = "e2e-admin"
PASSWORD = "correct horse battery staple"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Running:
    url: str
    app: Any


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Running]:
    import uvicorn

    settings = Settings(data_dir=tmp_path / "data", public_url="http://127.0.0.1")
    app = create_app(settings)
    port = _free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", ws="none", lifespan="on"
    )
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, name="uvicorn-e2e", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield Running(f"http://127.0.0.1:{port}", app)
    finally:
        srv.should_exit = True
        thread.join(timeout=20)


def _seed(running: Running) -> tuple[str, int]:
    """An admin, an enrolled Android device and a Medium malware alert, through the real API."""
    with running.app.state.ctx.sessions.begin() as db:
        admin = create_user(
            db, username=ADMIN, password=PASSWORD, role=Role.ADMIN, actor="e2e", now=utc_now()
        )
        db.flush()
        _row, api_token = create_api_token(
            db, admin, name="e2e", role=Role.ADMIN, now=utc_now(), days=1
        )
    admin_headers = {"Authorization": f"Bearer {api_token}"}
    with httpx.Client(base_url=running.url, timeout=10) as http:
        r = http.post(
            "/api/onboarding/tokens",
            json={"name": "e2e", "platform": "android", "tags": ["e2e"]},
            headers=admin_headers,
        )
        assert r.status_code == 201, r.text
        r = http.post(
            "/api/agent/v1/enroll",
            json={
                "onboarding_token": r.json()["token"],
                "platform": "android",
                "scenario": "android-work-profile",
                "hardware_id": uuid.uuid4().hex,
                "device": {
                    "model": "Pixel 8",
                    "manufacturer": "Google",
                    "os_version": "14",
                    "name": "Pixel of Dana",
                },
            },
        )
        assert r.status_code == 201, r.text
        device = r.json()
        r = http.post(
            f"/api/agent/v1/devices/{device['device_id']}/checkins",
            json={
                "report_id": uuid.uuid4().hex,
                "collected_at": utc_now().isoformat(),
                "facts": {
                    "platform": "android",
                    "scenario": "android-work-profile",
                    "os_version": "14",
                    "security_patch_level": "2026-10-01",
                    "model": "Pixel 8",
                },
                "apps": [
                    {"identifier": "com.example.mail", "version": "2.1", "name": "Mail"},
                    {
                        "identifier": "com.evil.flashlight",
                        "version": "0.9",
                        "name": "Flashlight",
                        "install_source": "sideloaded",
                    },
                ],
                "detections": [
                    {
                        "category": "Malware",
                        "title": "Malicious app com.evil.flashlight",
                        "severity": "Medium",
                        "key": "com.evil.flashlight",
                        "evidence": {"package": "com.evil.flashlight", "family": "Joker"},
                    }
                ],
            },
            headers={"Authorization": f"Bearer {device['device_credential']}"},
        )
        assert r.status_code == 200, r.text
        assert r.json()["risk_level"] == "Medium"
        r = http.get(
            "/api/alerts", params={"device_id": device["device_id"]}, headers=admin_headers
        )
        alert_id = int(r.json()["items"][0]["id"])
    return device["device_id"], alert_id


def test_admin_resolves_an_alert_in_the_browser(
    playwright: Any, server: Running, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    shots = tmp_path / "screenshots"
    shots.mkdir()
    device_id, alert_id = _seed(server)
    csp_violations: list[str] = []

    with playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.on(
                "console",
                lambda msg: (
                    csp_violations.append(msg.text)
                    if "Content Security Policy" in msg.text
                    else None
                ),
            )

            # Signed out: the console sends us to the login page, remembering where we were.
            page.goto(f"{server.url}/console/devices")
            expect(page).to_have_url(f"{server.url}/console/login?next=%2Fconsole%2Fdevices")
            page.screenshot(path=str(shots / "01-login.png"))
            page.fill("#username", ADMIN)
            page.fill("#password", "wrong password!")
            page.click("button[type=submit]")
            expect(page.locator(".callout-error")).to_contain_text("Wrong username or password")
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            expect(page).to_have_url(f"{server.url}/console/devices")
            expect(page.locator("h1")).to_have_text("Devices")
            expect(page.locator(".topbar-user")).to_contain_text(ADMIN)
            row = page.locator("table tbody tr", has_text="Pixel of Dana")
            expect(row.locator(".badge.risk-medium")).to_have_text("Medium")
            expect(row).to_contain_text("Noncompliant")
            page.screenshot(path=str(shots / "02-devices.png"), full_page=True)

            # The dashboard shows the fleet at a glance.
            page.click("nav.sidebar >> text=Dashboard")
            expect(
                page.locator(".kpi", has_text="Active alerts").locator(".kpi-value")
            ).to_have_text("1")
            page.screenshot(path=str(shots / "03-dashboard.png"), full_page=True)

            # Open the device from the inventory.
            page.click("nav.sidebar >> text=Devices")
            page.click("text=Pixel of Dana")
            expect(page).to_have_url(f"{server.url}/console/devices/{device_id}")
            expect(page.locator(".risk-level").first).to_contain_text("Medium")
            expect(page.locator("#apps")).to_contain_text("com.evil.flashlight")
            expect(page.locator("#timeline")).to_contain_text("raised")
            page.screenshot(path=str(shots / "04-device.png"), full_page=True)

            # Open the alert and resolve it with the form.
            page.click("#alerts >> text=Malicious app com.evil.flashlight")
            expect(page).to_have_url(f"{server.url}/console/alerts/{alert_id}")
            expect(page.locator("table.evidence")).to_contain_text("Joker")
            page.screenshot(path=str(shots / "05-alert.png"), full_page=True)
            page.select_option("#a-status", "Resolved")
            page.select_option("#a-classification", "TruePositive")
            page.click("#manage-alert button[type=submit]")
            expect(page).to_have_url(f"{server.url}/console/alerts/{alert_id}?msg=alert-updated")
            expect(page.locator(".flash")).to_have_text("Alert updated.")
            expect(page.locator(".head-badges .badge.status-resolved")).to_have_text("Resolved")
            page.screenshot(path=str(shots / "06-alert-resolved.png"), full_page=True)

            # The device is back to Secured and compliant.
            page.click("aside >> text=Pixel of Dana")
            expect(page).to_have_url(f"{server.url}/console/devices/{device_id}")
            expect(page.locator(".risk-level").first).to_contain_text("Secured")
            expect(page.locator(".head-badges")).to_contain_text("Compliant")
            expect(page.locator("#timeline")).to_contain_text("set to Resolved by " + ADMIN)
            page.screenshot(path=str(shots / "07-device-secured.png"), full_page=True)

            # An admin page, then sign out.
            page.click("nav.sidebar >> text=Onboarding")
            expect(page.locator("#scenarios")).to_contain_text("Zero-touch")
            page.screenshot(path=str(shots / "08-onboarding.png"), full_page=True)
            page.click(".topbar-user button[type=submit]")
            expect(page.locator(".flash")).to_have_text("You are signed out.")
            page.goto(f"{server.url}/console")
            expect(page.locator("h1, .login-title").first).to_contain_text("Sign in")
        finally:
            browser.close()

    assert csp_violations == [], csp_violations
    assert len(list(shots.glob("*.png"))) == 8
