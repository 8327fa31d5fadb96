"""Console sign-in: login form with its own CSRF check, session cookie, logout, redirects."""

from __future__ import annotations

from urllib.parse import unquote

import pytest
from console_helpers import PASSWORD, Browser, hidden_fields, make_user, signed_in
from fastapi.testclient import TestClient

from conftest import Api, FakeClock
from openmtd.config import Settings
from openmtd.server.app import create_app
from openmtd.server.console.web import safe_next
from openmtd.server.security import SESSION_COOKIE
from openmtd.server.users.service import disable_user, list_users

PAGES = [
    "/console",
    "/console/devices",
    "/console/devices/0b8a4c1e-0000-4000-8000-000000000000",
    "/console/alerts",
    "/console/alerts/1",
    "/console/onboarding",
    "/console/users",
    "/console/audit",
    "/console/api-tokens",
]


def test_root_redirects_to_the_console(api: Api) -> None:
    r = Browser(api.app).get("/")
    assert r.status_code == 303
    assert r.headers["location"] == "/console"


@pytest.mark.parametrize("path", PAGES)
def test_signed_out_pages_redirect_to_login_with_next(api: Api, path: str) -> None:
    r = Browser(api.app).get(path + "?page=2")
    assert r.status_code == 303
    assert r.headers["location"].startswith("/console/login?next=")
    assert unquote(r.headers["location"].split("next=", 1)[1]) == path + "?page=2"


def test_login_form_sets_a_pre_session_csrf_cookie(api: Api) -> None:
    browser = Browser(api.app)
    r = browser.get("/console/login")
    assert r.status_code == 200
    assert "Sign in to openmtd" in r.text
    token = hidden_fields(r.text)["csrf_token"]
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"openmtd_login_csrf={token};")
    assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
    # Reloading keeps the same token, so two open tabs both work.
    again = browser.get("/console/login")
    assert hidden_fields(again.text)["csrf_token"] == token


def test_login_success_opens_a_session(api: Api) -> None:
    name = make_user(api.app, api.clock, "analyst")
    browser = Browser(api.app)
    r = browser.login(name, next_path="/console/alerts?status=active")
    assert r.status_code == 303
    assert r.headers["location"] == "/console/alerts?status=active"
    cookies = r.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith(SESSION_COOKIE + "="))
    attrs = [a.strip().lower() for a in session.split(";")]
    assert "httponly" in attrs
    assert "samesite=lax" in attrs
    assert "path=/" in attrs
    assert "secure" not in attrs
    # The pre-session CSRF cookie is removed once signed in.
    assert any(c.startswith("openmtd_login_csrf=") and "Max-Age=0" in c for c in cookies)
    page = browser.get("/console/alerts?status=active")
    assert page.status_code == 200
    assert name in page.text
    assert "analyst" in page.text
    # Signed in, the login page sends the user on.
    assert browser.get("/console/login").headers["location"] == "/console"


def test_session_cookie_is_secure_when_configured(settings: Settings, clock: FakeClock) -> None:
    app = create_app(settings.model_copy(update={"secure_cookies": True}), clock=clock)
    with TestClient(app):
        name = make_user(app, clock, "read-only")
        browser = Browser(app, base_url="https://testserver")  # Secure cookies need HTTPS
        r = browser.get("/console/login")
        assert "secure" in [a.strip().lower() for a in r.headers["set-cookie"].split(";")]
        fields = hidden_fields(r.text)
        r = browser.client.post(
            "/console/login", data={**fields, "username": name, "password": PASSWORD}
        )
        assert r.status_code == 303
        session = next(
            c for c in r.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE + "=")
        )
        assert "secure" in [a.strip().lower() for a in session.split(";")]
        assert browser.get("/console").status_code == 200


@pytest.mark.parametrize("who", ["wrong-password", "unknown-user", "disabled-user"])
def test_login_failure_shows_the_form_again_with_401(api: Api, who: str) -> None:
    name = make_user(api.app, api.clock, "admin")
    make_user(api.app, api.clock, "admin")  # so that the first admin may be disabled
    password = PASSWORD
    if who == "wrong-password":
        password = "not the password at all"
    elif who == "unknown-user":
        name = "nobody-here"
    else:
        with api.app.state.ctx.sessions.begin() as db:
            user = next(u for u in list_users(db) if u.username == name)
            disable_user(db, user_id=user.id, actor="test", now=api.clock())
    browser = Browser(api.app)
    r = browser.login(name, password)
    assert r.status_code == 401
    assert "Wrong username or password" in r.text
    assert '<form method="post" action="/console/login"' in r.text
    assert SESSION_COOKIE not in r.headers.get("set-cookie", "")
    assert browser.get("/console").status_code == 303


@pytest.mark.parametrize("case", ["no-field", "wrong-field", "no-cookie"])
def test_login_needs_its_csrf_token(api: Api, case: str) -> None:
    name = make_user(api.app, api.clock, "admin")
    browser = Browser(api.app)
    fields = hidden_fields(browser.get("/console/login").text)
    data = {**fields, "username": name, "password": PASSWORD}
    if case == "no-field":
        del data["csrf_token"]
    elif case == "wrong-field":
        data["csrf_token"] = "x" * 43
    else:
        browser.client.cookies.clear()
    r = browser.client.post("/console/login", data=data)
    assert r.status_code == 403
    assert "sign-in form expired" in r.text
    assert SESSION_COOKIE not in r.headers.get("set-cookie", "")


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/console",
        "//evil.example/console",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "/api/devices",
        "/consolefoo",
        "/console/../api/users",
        "/console/login",
        "http:/console",
        "/console\r\nLocation: https://evil.example",
    ],
)
def test_next_cannot_leave_the_console(api: Api, target: str) -> None:
    name = make_user(api.app, api.clock, "read-only")
    r = Browser(api.app).login(name, next_path=target)
    assert r.status_code == 303
    assert r.headers["location"] == "/console"
    assert safe_next(target) == "/console"


@pytest.mark.parametrize("target", ["/console", "/console/devices?risk=High&page=2"])
def test_next_inside_the_console_is_kept(target: str) -> None:
    assert safe_next(target) == target


def test_next_from_the_login_link_is_echoed_safely(api: Api) -> None:
    page = Browser(api.app).get("/console/login?next=https://evil.example/")
    assert hidden_fields(page.text)["next"] == "/console"
    page = Browser(api.app).get("/console/login?next=/console/devices%3Fq%3D%22x%22")
    assert hidden_fields(page.text)["next"] == '/console/devices?q="x"'
    assert 'value="/console/devices?q=&#34;x&#34;"' in page.text


def test_logout_ends_the_session(api: Api) -> None:
    browser = signed_in(api.app, api.clock, "read-only")
    old_cookie = browser.client.cookies.get(SESSION_COOKIE)
    assert old_cookie
    r = browser.post("/console/logout")
    assert r.status_code == 303
    assert r.headers["location"] == "/console/login?msg=signed-out"
    assert any(
        c.startswith(f"{SESSION_COOKIE}=") and "Max-Age=0" in c
        for c in r.headers.get_list("set-cookie")
    )
    assert "You are signed out" in browser.get(r.headers["location"]).text
    # The session is gone on the server too: replaying the old cookie does not work.
    replay = Browser(api.app)
    replay.client.cookies.set(SESSION_COOKIE, old_cookie)
    assert replay.get("/console").status_code == 303


@pytest.mark.parametrize("csrf", [None, "", "wrong-token"])
def test_logout_needs_the_csrf_token(api: Api, csrf: str | None) -> None:
    browser = signed_in(api.app, api.clock, "read-only")
    r = browser.post("/console/logout", csrf=csrf)
    assert r.status_code == 403
    assert "CSRF" in r.text
    assert browser.get("/console").status_code == 200


def test_signed_out_post_redirects_to_login(api: Api) -> None:
    r = Browser(api.app).post("/console/logout", csrf="anything")
    assert r.status_code == 303
    assert r.headers["location"] == "/console/login"


def test_expired_session_goes_back_to_login(api: Api) -> None:
    browser = signed_in(api.app, api.clock, "read-only")
    api.clock.advance(hours=api.app.state.ctx.settings.session_hours + 1)
    r = browser.get("/console/devices")
    assert r.status_code == 303
    assert r.headers["location"].startswith("/console/login?next=")


def test_api_tokens_do_not_open_console_pages(api: Api) -> None:
    r = Browser(api.app).get("/console", headers=api.headers("admin"))
    assert r.status_code == 303
    assert r.headers["location"].startswith("/console/login")


def test_unknown_bearer_token_gets_an_html_error_page(api: Api) -> None:
    r = Browser(api.app).get("/console", headers={"Authorization": "Bearer omt_api_nope"})
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("text/html")
    assert "unknown API token" in r.text
