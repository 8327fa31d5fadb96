"""Roles on every /api route, API tokens, sessions with CSRF, and the audit log."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import fastapi.routing
import pytest
from fastapi.testclient import TestClient
from server_helpers import dump_database, error
from sqlalchemy import select, update

from conftest import Api, FakeClock
from openmtd.server.security import SESSION_COOKIE, open_session
from openmtd.store.models import ApiToken, ConsoleSession, User

# Routes that only an admin may call, by the issue: users, onboarding tokens, audit,
# managed configuration; and retiring a device.
ADMIN_ONLY_PREFIXES = (
    "/api/users",
    "/api/onboarding/tokens",
    "/api/audit",
    "/api/onboarding/managed-config",
    "/api/devices/{device_id}/retire",
)
EXPECTED_ADMIN_ONLY = {
    ("GET", "/api/users"),
    ("POST", "/api/users"),
    ("POST", "/api/users/{user_id}/disable"),
    ("GET", "/api/onboarding/tokens"),
    ("POST", "/api/onboarding/tokens"),
    ("POST", "/api/onboarding/tokens/{token_id}/revoke"),
    ("GET", "/api/audit"),
    ("POST", "/api/onboarding/managed-config"),
    ("POST", "/api/devices/{device_id}/retire"),
    ("POST", "/api/devices/{device_id}/dns-profile"),
    ("POST", "/api/devices/{device_id}/dns-profile.mobileconfig"),
    ("POST", "/api/web/indicators"),
    ("POST", "/api/web/indicators/import"),
    ("PATCH", "/api/web/indicators/{indicator_id}"),
    ("DELETE", "/api/web/indicators/{indicator_id}"),
    ("POST", "/api/web/feeds"),
    ("PATCH", "/api/web/feeds/{feed_id}"),
    ("DELETE", "/api/web/feeds/{feed_id}"),
    ("POST", "/api/web/feeds/{feed_id}/refresh"),
    ("PUT", "/api/web/policy"),
    ("POST", "/api/apps/rescan"),
    ("POST", "/api/vulns/imports"),
    ("PUT", "/api/vulns/mapping"),
    ("POST", "/api/vulns/rematch"),
    ("POST", "/api/launch/policies"),
    ("PUT", "/api/launch/policies/{policy_id}"),
    ("DELETE", "/api/launch/policies/{policy_id}"),
    ("POST", "/api/export/sinks/{name}/test"),
    ("POST", "/api/export/dead/{name}/retry"),
    ("POST", "/api/compliance/policies"),
    ("PUT", "/api/compliance/policies/{policy_id}"),
    ("DELETE", "/api/compliance/policies/{policy_id}"),
    ("POST", "/api/devices/{device_id}/access/revoke"),
}
ANALYST_ONLY = {
    ("PATCH", "/api/alerts/{alert_id}"),
    ("POST", "/api/apps/analyses"),
    ("GET", "/api/export/sinks"),
    ("GET", "/api/launch/policies"),
    ("GET", "/api/launch/policies/{policy_id}"),
    ("GET", "/api/launch/log"),
    ("GET", "/api/devices/{device_id}/launch"),
    ("GET", "/api/devices/{device_id}/access"),
}
# No console /api route is public but the forward-auth check, whose caller is a reverse proxy
# (the device's credential travels in the request it asks about; tests/server/
# test_forward_auth_api.py proves the refusals), and the access CA's certificate.
_FORWARD_AUTH = ("/api/access/v1/check", "/api/access/v1/check/{original_path:path}")
PUBLIC: set[tuple[str, str]] = {
    *((m, p) for p in _FORWARD_AUTH for m in ("GET", "POST", "PUT", "PATCH", "DELETE")),
    ("GET", "/api/access/v1/ca.pem"),
}


def all_routes(app: Any) -> list[tuple[str, set[str]]]:
    """(path, methods) of every route of the app, through included routers."""
    iter_contexts = getattr(fastapi.routing, "iter_route_contexts", None)
    routes: list[Any] = list(iter_contexts(app.routes)) if iter_contexts else list(app.routes)
    return [(r.path, set(r.methods)) for r in routes if r.path and r.methods]


def api_routes(app: Any) -> list[tuple[str, str]]:
    """(method, path) of every non-agent /api route of the app."""
    out = []
    for path, methods in all_routes(app):
        if path.startswith("/api/") and not path.startswith("/api/agent/"):
            out.extend((m, path) for m in sorted(methods - {"HEAD", "OPTIONS"}))
    return sorted(set(out))


def concrete(path: str) -> str:
    """A URL for a route path: ids of nothing that exists, so that no call changes anything."""
    path = path.replace("{device_id}", "00000000-0000-0000-0000-000000000001")
    return re.sub(r"\{[^}]+\}", "999999", path)


def call(client: TestClient, method: str, path: str, headers: dict[str, str]) -> Any:
    return client.request(method, concrete(path), headers=headers)


def test_every_console_api_route_needs_credentials(api: Api) -> None:
    routes = api_routes(api.app)
    assert len(routes) >= 15
    assert set(routes) >= EXPECTED_ADMIN_ONLY
    for method, path in routes:
        if (method, path) in PUBLIC:
            continue
        r = call(api.client, method, path, {})
        message = error(r, 401, "authentication_required")
        assert message == "sign in to the console or send 'Authorization: Bearer <API token>'", (
            method,
            path,
        )
        assert r.headers["www-authenticate"] == "Bearer"
        r = call(api.client, method, path, {"Authorization": "Bearer omt_api_forged"})
        assert error(r, 401, "bad_token") == "unknown API token", (method, path)
    # The agent routes and /healthz are the exceptions.
    assert api.client.get("/healthz").json()["status"] == "ok"


@pytest.mark.parametrize("role", ["analyst", "read-only"])
def test_admin_only_routes_refuse_lower_roles(api: Api, role: str) -> None:
    admin_only = [
        r
        for r in api_routes(api.app)
        if r[1].startswith(ADMIN_ONLY_PREFIXES) or r in EXPECTED_ADMIN_ONLY
    ]
    assert set(admin_only) == EXPECTED_ADMIN_ONLY
    for method, path in admin_only:
        r = call(api.client, method, path, api.headers(role))
        assert error(r, 403, "role_required") == (
            f"this needs the admin role; '{role}-user' has {role}"
        ), (method, path)


def test_analyst_routes_refuse_read_only_and_the_rest_admit_it(api: Api) -> None:
    for method, path in api_routes(api.app):
        r = call(api.client, method, path, api.headers("read-only"))
        if (method, path) in ANALYST_ONLY:
            assert error(r, 403, "role_required") == (
                "this needs the analyst role; 'read-only-user' has read-only"
            )
        elif (method, path) in EXPECTED_ADMIN_ONLY:
            assert r.status_code == 403
        elif (method, path) in PUBLIC:
            assert r.status_code != 500  # the forward-auth check answers about the device
        else:  # allowed: the answer is about the request, never about the role
            assert r.status_code not in (401, 403, 500), (method, path, r.text)
        if (method, path) in ANALYST_ONLY:
            r = call(api.client, method, path, api.headers("analyst"))
            assert r.status_code not in (401, 403), (method, path, r.text)


def make_token(api: Api, caller: str, **body: Any) -> dict[str, Any]:
    r = api.client.post(
        "/api/api-tokens", json={"name": "automation", **body}, headers=api.headers(caller)
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


def bearer(token: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {token['token']}"}


class TestApiTokens:
    def test_expired_token_is_401(self, api: Api, clock: FakeClock) -> None:
        token = make_token(api, "analyst", expires_in_days=1)
        assert token["expires_at"] == "2026-11-27T12:00:00Z"
        clock.advance(hours=23, minutes=59)
        assert api.client.get("/api/me", headers=bearer(token)).status_code == 200
        clock.advance(minutes=1)
        r = api.client.get("/api/me", headers=bearer(token))
        assert error(r, 401, "token_expired") == "API token 'automation' expired"

    def test_revoked_token_is_401(self, api: Api) -> None:
        token = make_token(api, "analyst")
        r = api.client.post(f"/api/api-tokens/{token['id']}/revoke", headers=api.headers("analyst"))
        assert r.status_code == 204
        r = api.client.get("/api/alerts", headers=bearer(token))
        assert error(r, 401, "token_revoked") == "API token 'automation' was revoked"

    def test_only_the_owner_or_an_admin_revokes(self, api: Api) -> None:
        token = make_token(api, "analyst")
        r = api.client.post(
            f"/api/api-tokens/{token['id']}/revoke", headers=api.headers("read-only")
        )
        assert error(r, 404, "not_found") == f"API token {token['id']} does not exist"
        assert api.client.get("/api/me", headers=bearer(token)).status_code == 200
        r = api.client.post(f"/api/api-tokens/{token['id']}/revoke", headers=api.headers())
        assert r.status_code == 204
        error(api.client.get("/api/me", headers=bearer(token)), 401, "token_revoked")

    def test_a_token_cannot_exceed_its_users_role(self, api: Api) -> None:
        r = api.client.post(
            "/api/api-tokens", json={"name": "up", "role": "admin"}, headers=api.headers("analyst")
        )
        assert error(r, 403, "forbidden") == "cannot create a admin token as a analyst user"
        assert make_token(api, "analyst")["role"] == "analyst"  # defaults to the caller's
        weaker = make_token(api, "admin", role="read-only")
        r = api.client.get("/api/users", headers=bearer(weaker))
        assert error(r, 403, "role_required").startswith("this needs the admin role")
        r = api.client.patch("/api/alerts/1", json={}, headers=bearer(weaker))
        error(r, 403, "role_required")

    def test_a_token_never_does_more_than_its_user_can_today(self, api: Api) -> None:
        token = make_token(api, "admin")
        assert api.client.get("/api/users", headers=bearer(token)).status_code == 200
        with api.app.state.ctx.sessions.begin() as db:
            db.execute(update(User).where(User.username == "admin-user").values(role="analyst"))
        r = api.client.get("/api/users", headers=bearer(token))
        assert error(r, 403, "role_required") == (
            "this needs the admin role; 'admin-user' has analyst"
        )

    def test_disabled_users_tokens_are_401(self, api: Api) -> None:
        token = make_token(api, "analyst")
        me = api.client.get("/api/me", headers=bearer(token)).json()
        r = api.client.post(f"/api/users/{me['id']}/disable", headers=api.headers())
        assert r.status_code == 200 and r.json()["disabled"] is True
        for headers in (bearer(token), api.headers("analyst")):
            r = api.client.get("/api/alerts", headers=headers)
            assert error(r, 401, "user_disabled") == "the token's user is disabled"

    def test_the_last_admin_cannot_be_disabled(self, api: Api) -> None:
        me = api.client.get("/api/me", headers=api.headers()).json()
        r = api.client.post(f"/api/users/{me['id']}/disable", headers=api.headers())
        assert error(r, 409, "conflict") == "cannot disable the last active admin"

    def test_secrets_and_passwords_are_stored_hashed(self, api: Api) -> None:
        token = make_token(api, "admin")
        r = api.client.post(
            "/api/users",
            json={"username": "dana", "password": "a long enough secret", "role": "analyst"},
            headers=bearer(token),
        )
        assert r.status_code == 201
        dump = dump_database(api.app)
        assert "dana" in dump
        assert token["token"] not in dump
        assert "a long enough secret" not in dump
        with api.app.state.ctx.sessions() as db:
            digests = db.scalars(select(ApiToken.token_digest)).all()
        assert all(len(d) == 64 for d in digests)


def test_user_creation_rules(api: Api) -> None:
    body = {"username": "erin", "password": "correct horse battery", "role": "read-only"}
    r = api.client.post("/api/users", json=body, headers=api.headers())
    assert r.status_code == 201
    assert r.json() | {"id": 0} == {
        "id": 0,
        "username": "erin",
        "role": "read-only",
        "created_at": "2026-11-26T12:00:00Z",
        "disabled": False,
    }
    r = api.client.post("/api/users", json=body, headers=api.headers())
    assert error(r, 409, "conflict") == "user 'erin' already exists"
    r = api.client.post(
        "/api/users", json=body | {"username": "fred", "password": "short"}, headers=api.headers()
    )
    assert error(r, 422, "invalid_input").startswith("invalid request: body.password:")
    r = api.client.post("/api/users", json=body | {"username": "bad name"}, headers=api.headers())
    assert error(r, 422, "invalid_input").startswith("invalid request: body.username:")


def test_audit_log_records_users_and_tokens(api: Api) -> None:
    api.client.post(
        "/api/users",
        json={"username": "gina", "password": "correct horse battery", "role": "analyst"},
        headers=api.headers(),
    )
    token = make_token(api, "admin")
    api.client.post(f"/api/api-tokens/{token['id']}/revoke", headers=api.headers())
    api.client.post(f"/api/api-tokens/{token['id']}/revoke", headers=api.headers())  # no-op
    created = api.client.post(
        "/api/onboarding/tokens", json={"name": "fleet"}, headers=api.headers()
    ).json()
    api.client.post(f"/api/onboarding/tokens/{created['id']}/revoke", headers=api.headers())
    page = api.client.get("/api/audit", headers=api.headers()).json()
    entries = [(e["actor"], e["action"], e["target"]) for e in reversed(page["items"])]
    assert entries == [
        ("test", "user.create", "user:admin-user"),
        ("admin-user", "user.create", "user:gina"),
        ("admin-user", "api_token.create", f"api_token:{token['id']}"),
        ("admin-user", "api_token.revoke", f"api_token:{token['id']}"),
        ("admin-user", "onboarding_token.create", f"token:{created['id']}"),
        ("admin-user", "onboarding_token.revoke", f"token:{created['id']}"),
    ]
    by_action: dict[str, dict[str, Any]] = {}
    for e in page["items"]:  # newest first: the latest entry of each action
        by_action.setdefault(e["action"], e)
    assert by_action["user.create"]["details"] == {"role": "analyst"}
    assert by_action["api_token.create"]["details"] == {"name": "automation", "role": "admin"}
    assert by_action["onboarding_token.create"]["details"]["name"] == "fleet"
    assert token["token"] not in str(page) and created["token"] not in str(page)
    assert page["items"][0]["at"] == "2026-11-26T12:00:00Z"
    one = api.client.get(
        "/api/audit", params={"limit": 1, "offset": 1}, headers=api.headers()
    ).json()
    assert one["total"] == 6 and one["items"] == [page["items"][1]]


@pytest.fixture
def session_client(api: Api) -> Iterator[tuple[TestClient, str]]:
    """A client signed in through a console session cookie; yields it and its CSRF token."""
    api.headers("admin")  # creates admin-user
    with api.app.state.ctx.sessions.begin() as db:
        user = db.scalar(select(User).where(User.username == "admin-user"))
        assert user is not None
        secret = open_session(db, user, now=api.clock(), hours=12)
    with api.app.state.ctx.sessions() as db:
        csrf = db.scalars(select(ConsoleSession.csrf_token)).one()
    with TestClient(api.app) as client:
        client.cookies.set(SESSION_COOKIE, secret)
        yield client, csrf


class TestSessions:
    def test_reads_need_no_csrf_token(self, session_client: tuple[TestClient, str]) -> None:
        client, _csrf = session_client
        r = client.get("/api/me")
        assert r.status_code == 200 and r.json()["username"] == "admin-user"

    def test_state_changes_need_the_csrf_token(
        self, api: Api, session_client: tuple[TestClient, str]
    ) -> None:
        client, csrf = session_client
        for headers in ({}, {"X-CSRF-Token": "wrong"}):
            r = client.post("/api/onboarding/tokens", json={"name": "x"}, headers=headers)
            assert error(r, 403, "csrf_failed") == (
                "a session-authenticated API call that changes state needs the X-CSRF-Token header"
            )
            r = client.patch("/api/alerts/1", json={}, headers=headers)
            error(r, 403, "csrf_failed")
        listed = api.client.get("/api/onboarding/tokens", headers=api.headers()).json()
        assert listed == []  # nothing was created
        r = client.post(
            "/api/onboarding/tokens", json={"name": "x"}, headers={"X-CSRF-Token": csrf}
        )
        assert r.status_code == 201, r.text
        assert r.json()["created_by"] == "admin-user"

    def test_session_secret_is_stored_hashed(
        self, api: Api, session_client: tuple[TestClient, str]
    ) -> None:
        client, _csrf = session_client
        secret = client.cookies[SESSION_COOKIE]
        assert secret.startswith("omt_ses_")
        assert secret not in dump_database(api.app)

    def test_expired_session_is_401(
        self, clock: FakeClock, session_client: tuple[TestClient, str]
    ) -> None:
        client, _csrf = session_client
        clock.advance(hours=12)
        error(client.get("/api/me"), 401, "authentication_required")

    def test_a_disabled_users_session_is_401(
        self, api: Api, session_client: tuple[TestClient, str]
    ) -> None:
        client, _csrf = session_client
        with api.app.state.ctx.sessions.begin() as db:
            db.execute(update(User).values(disabled_at=api.clock()))
        error(client.get("/api/me"), 401, "authentication_required")

    def test_a_bearer_token_wins_over_the_cookie_and_needs_no_csrf(
        self, api: Api, session_client: tuple[TestClient, str]
    ) -> None:
        client, _csrf = session_client
        r = client.post(
            "/api/onboarding/tokens", json={"name": "y"}, headers=api.headers("read-only")
        )
        error(r, 403, "role_required")
        r = client.post("/api/onboarding/tokens", json={"name": "y"}, headers=api.headers())
        assert r.status_code == 201
