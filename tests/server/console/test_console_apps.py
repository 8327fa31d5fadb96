"""The console's app-protection pages, signed in through the login form."""

from __future__ import annotations

import hashlib
from typing import Any

from console_helpers import signed_in

from apkbuild import trojan_like_apk
from conftest import Api


def test_apps_pages_show_the_verdict_and_why(api: Api, tmp_path: Any) -> None:
    trojan = trojan_like_apk(tmp_path)
    sha = hashlib.sha256(trojan.read_bytes()).hexdigest()
    r = api.client.post(
        "/api/apps/analyses",
        content=trojan.read_bytes(),
        headers={**api.headers("analyst"), "Content-Type": "application/octet-stream"},
    )
    assert r.status_code == 201, r.text
    browser = signed_in(api.app, api.clock, "read-only")
    page = browser.get("/console/apps")
    assert page.status_code == 200
    assert "com.flashlight.bright" in page.text and "malicious" in page.text
    assert browser.get("/console/apps?verdict=clean").text.count("com.flashlight.bright") == 0
    detail = browser.get(f"/console/apps/{sha}")
    assert detail.status_code == 200
    assert "perm.accessibility-overlay-sms" in detail.text
    assert "android.permission.SYSTEM_ALERT_WINDOW" in detail.text
    assert browser.get("/console/apps/" + "0" * 64).status_code == 404
    anonymous = api.client.get("/console/apps", follow_redirects=False)
    assert anonymous.status_code in (302, 303)
