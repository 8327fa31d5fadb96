"""`openmtd tokens` and `openmtd users` work directly on the database (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from openmtd.cli.main import app
from openmtd.enrollment import managed_config
from openmtd.store.db import make_engine, make_session_factory
from openmtd.store.models import AuditEntry, User

runner = CliRunner()


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {"OPENMTD_DATABASE_URL": database_url, "OPENMTD_DATA_DIR": str(tmp_path)}


def ok(env: dict[str, str], *args: str, input: str | None = None) -> str:
    result = runner.invoke(app, list(args), env=env, input=input)
    assert result.exit_code == 0, result.output
    return result.stdout


def fails(env: dict[str, str], *args: str, code: int = 1, input: str | None = None) -> str:
    result = runner.invoke(app, list(args), env=env, input=input)
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def rows(database_url: str, model: Any) -> list[Any]:
    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as db:
            return list(db.scalars(select(model)))
    finally:
        engine.dispose()


def test_create_list_revoke(env: dict[str, str], database_url: str) -> None:
    created = json.loads(
        ok(
            env,
            "tokens",
            "create",
            "--name",
            "sales",
            "--platform",
            "android",
            "--scenario",
            "android-work-profile",
            "--scenario",
            "android-cobo",
            "--group",
            "Sales EU",
            "--tag",
            "eu",
            "--max-uses",
            "5",
            "--expires-hours",
            "2",
            "--json",
        )
    )
    assert created["token"].startswith("omt_onb_")
    assert created["scenarios"] == ["android-cobo", "android-work-profile"]
    assert (created["device_group"], created["tags"], created["max_uses"]) == (
        "Sales EU",
        ["eu"],
        5,
    )
    assert created["state"] == "active"

    text = ok(env, "tokens", "create", "--name", "any")
    assert "shown only now" in text
    listed = json.loads(ok(env, "tokens", "list", "--json"))
    assert [t["name"] for t in listed] == ["any", "sales"]
    assert all("token" not in t for t in listed)  # the secret is never shown again
    assert "sales" in ok(env, "tokens", "list")

    revoked = json.loads(ok(env, "tokens", "revoke", str(created["id"]), "--json"))
    assert revoked["state"] == "revoked"
    assert "already revoked" in fails(env, "tokens", "revoke", str(created["id"]))
    assert "does not exist" in fails(env, "tokens", "revoke", "999")
    actions = [(a.actor, a.action) for a in rows(database_url, AuditEntry)]
    assert ("cli", "onboarding_token.create") in actions
    assert ("cli", "onboarding_token.revoke") in actions


def test_bad_token_input_is_one_line(env: dict[str, str]) -> None:
    assert "--scenario" in fails(
        env, "tokens", "create", "--name", "x", "--scenario", "nope", code=2
    )
    assert "'android-aosp'" in fails(
        env, "tokens", "create", "--name", "x", "--scenario", "android-aosp"
    )
    assert "--tag" in fails(env, "tokens", "create", "--name", "x", "--tag", "two words", code=2)
    assert "ios" in fails(
        env, "tokens", "create", "--name", "x", "--platform", "android", "--scenario", "ios-mam"
    )
    assert "--name" in fails(env, "tokens", "create", code=2)


def test_managed_config(env: dict[str, str], tmp_path: Path) -> None:
    token = json.loads(ok(env, "tokens", "create", "--name", "mdm", "--json"))["token"]
    env = {**env, "OPENMTD_PUBLIC_URL": "https://mtd.example.test"}
    android = ok(
        env,
        "tokens",
        "managed-config",
        "--token",
        token,
        "--scenario",
        "android-work-profile",
        "--device-tag",
        "fleet",
        "--exclude-app",
    )
    parsed = managed_config.parse(android.encode())
    assert parsed.server_url == "https://mtd.example.test"
    assert (parsed.onboarding_token, parsed.device_tag) == (token, "fleet")
    assert parsed.privacy.exclude_app_in_report and not parsed.privacy.exclude_url_in_report

    out = tmp_path / "mdm" / "ios.plist"
    ok(
        env,
        "tokens",
        "managed-config",
        "--token",
        token,
        "--scenario",
        "ios-supervised",
        "--vuln-privacy",
        "--public-url",
        "https://other.example.test",
        "-o",
        str(out),
    )
    assert out.stat().st_mode & 0o777 == 0o600
    ios = managed_config.parse(out.read_bytes())
    assert ios.server_url == "https://other.example.test"
    assert ios.privacy.vulnerability_privacy_mode

    assert "not supported" in fails(
        env, "tokens", "managed-config", "--token", token, "--scenario", "ios-shared"
    )
    assert "--token" in fails(
        env, "tokens", "managed-config", "--token", "short", "--scenario", "ios-mam", code=2
    )


def test_create_admin(env: dict[str, str], database_url: str) -> None:
    out = json.loads(
        ok(
            env,
            "users",
            "create-admin",
            "--username",
            "alice",
            "--password-stdin",
            "--json",
            input="correct horse battery\n",
        )
    )
    assert (out["username"], out["role"]) == ("alice", "admin")
    text = ok(
        env,
        "users",
        "create-admin",
        "--username",
        "bob",
        input="another long secret\nanother long secret\n",
    )
    assert "created admin 'bob'" in text
    users = {u.username: u for u in rows(database_url, User)}
    assert set(users) == {"alice", "bob"}
    assert "correct horse" not in users["alice"].password_hash
    assert ("cli", "user.create") in [(a.actor, a.action) for a in rows(database_url, AuditEntry)]

    assert "already exists" in fails(
        env,
        "users",
        "create-admin",
        "--username",
        "alice",
        "--password-stdin",
        input="correct horse battery\n",
    )
    assert "at least 12" in fails(
        env, "users", "create-admin", "--username", "carol", "--password-stdin", input="short\n"
    )
    assert "--username" in fails(
        env,
        "users",
        "create-admin",
        "--username",
        "no spaces",
        "--password-stdin",
        input="correct horse battery\n",
    )
