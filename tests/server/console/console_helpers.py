"""Helpers for the console tests: users, and a browser-like client that signs in through the form.

Each `Browser` has its own cookie jar, so one test can act as several users at once.
"""

from __future__ import annotations

import html
import re
import uuid
from typing import Any

import httpx
from fastapi.testclient import TestClient

from openmtd.domain.enums import Role
from openmtd.server.users.service import create_user

PASSWORD = "correct horse battery staple"
_HIDDEN = re.compile(r'<input type="hidden" name="(?P<name>[a-z_]+)" value="(?P<value>[^"]*)">')
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def make_user(app: Any, clock: Any, role: str, username: str | None = None) -> str:
    """Create a console user directly in the store (as tests/conftest.py's Api does)."""
    name = username or f"console-{role}-{uuid.uuid4().hex[:6]}"
    with app.state.ctx.sessions.begin() as db:
        create_user(
            db, username=name, password=PASSWORD, role=Role(role), actor="test", now=clock()
        )
    return name


def hidden_fields(page: str) -> dict[str, str]:
    return {m["name"]: html.unescape(m["value"]) for m in _HIDDEN.finditer(page)}


class Browser:
    """A signed-in (or not) console user: cookies, and the session's CSRF token for forms."""

    def __init__(self, app: Any, *, base_url: str = "http://testserver") -> None:
        self.app = app
        self.client = TestClient(app, base_url=base_url, follow_redirects=False)
        self.csrf = ""
        self.username = ""

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.get(path, **kwargs)

    def post(
        self, path: str, data: dict[str, Any] | None = None, *, csrf: str | None = "session"
    ) -> httpx.Response:
        """POST a form; csrf='session' adds this session's token, None omits the field."""
        body = dict(data or {})
        if csrf == "session":
            body["csrf_token"] = self.csrf
        elif csrf is not None:
            body["csrf_token"] = csrf
        return self.client.post(path, data=body)

    def login(
        self, username: str, password: str = PASSWORD, *, next_path: str | None = None
    ) -> httpx.Response:
        """Sign in through the login form; on success remember the session's CSRF token."""
        form = self.client.get("/console/login")
        assert form.status_code == 200, form.text
        fields = hidden_fields(form.text)
        if next_path is not None:
            fields["next"] = next_path
        response = self.client.post(
            "/console/login", data={**fields, "username": username, "password": password}
        )
        if response.status_code == 303:
            self.username = username
            self.refresh_csrf()
        return response

    def refresh_csrf(self) -> None:
        page = self.client.get("/console/api-tokens")
        assert page.status_code == 200, page.text
        match = _CSRF.search(page.text)
        assert match is not None
        self.csrf = match.group(1)


def signed_in(app: Any, clock: Any, role: str) -> Browser:
    browser = Browser(app)
    response = browser.login(make_user(app, clock, role))
    assert response.status_code == 303, response.text
    return browser


def malware(key: str = "com.evil.app", severity: str = "Medium") -> dict[str, Any]:
    return {
        "category": "Malware",
        "title": f"Malicious app {key}",
        "severity": severity,
        "key": key,
        "evidence": {"package": key, "verdict": "known malware family"},
    }
