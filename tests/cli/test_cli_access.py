"""`openmtd access`: the nginx server block it prints, and the stored compliance policies."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner

from openmtd.cli.main import app
from openmtd.config import Settings
from openmtd.server.compliance.service import ensure_default_policy
from openmtd.store.db import make_engine, make_session_factory

runner = CliRunner()


def test_nginx_config_with_and_without_tls(tmp_path: Path) -> None:
    plain = runner.invoke(app, ["access", "nginx-config", "--upstream", "http://127.0.0.1:9000"])
    assert plain.exit_code == 0, plain.output
    assert "auth_request /_openmtd_access;" in plain.stdout
    assert "proxy_pass http://127.0.0.1:8443/api/access/v1/check;" in plain.stdout
    assert 'proxy_set_header X-SSL-Client-Cert "";' in plain.stdout
    tls = runner.invoke(
        app,
        [
            "access",
            "nginx-config",
            "--upstream",
            "http://app.internal:9000",
            "--tls-certificate",
            str(tmp_path / "site.pem"),
            "--tls-key",
            str(tmp_path / "site.key"),
            "--access-ca",
            str(tmp_path / "access-ca.pem"),
        ],
    )
    assert tls.exit_code == 0, tls.output
    assert "listen 443 ssl;" in tls.stdout and "ssl_verify_client optional;" in tls.stdout
    assert "proxy_set_header X-SSL-Client-Cert $ssl_client_escaped_cert;" in tls.stdout


def test_nginx_config_refuses_what_nginx_would_misread(tmp_path: Path) -> None:
    bad = runner.invoke(app, ["access", "nginx-config", "--upstream", "http://a;b"])
    assert bad.exit_code == 1
    assert bad.stderr.startswith("error: the upstream URL contains characters nginx would")
    half = runner.invoke(
        app,
        ["access", "nginx-config", "--upstream", "http://a", "--tls-key", str(tmp_path / "k")],
    )
    assert half.exit_code == 1 and "give both --tls-certificate and --tls-key" in half.stderr


def test_policies_json(database_url: str, tmp_path: Path) -> None:
    engine = make_engine(database_url)
    try:
        with make_session_factory(engine).begin() as db:
            ensure_default_policy(
                db,
                settings=Settings(data_dir=tmp_path, unresponsive_days=3),
                now=datetime(2026, 11, 27, tzinfo=UTC),
            )
    finally:
        engine.dispose()
    r = runner.invoke(app, ["access", "policies", "--json", "--database-url", database_url])
    assert r.exit_code == 0, r.output
    (policy,) = json.loads(r.stdout)
    assert (policy["name"], policy["device_group"], policy["unresponsive_days"]) == (
        "default",
        None,
        3,
    )
