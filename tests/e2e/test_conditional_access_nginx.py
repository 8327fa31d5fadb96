"""Conditional access through a real nginx (Debian package) with `auth_request`.

uvicorn serves openmtd on loopback; nginx sits in front of a small upstream application and asks
openmtd's forward-auth endpoint about every request. A compliant device passes (the upstream
sees its id and threat level, never its token); a High alert makes the very next request 403;
resolving the alert restores access; an unknown device gets 401. Over nginx's TLS listener the
device presents the client certificate openmtd issued it, nginx verifies it against openmtd's
access CA and forwards it; openmtd trusts that header from 127.0.0.1 only because the settings
say so.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from conftest import Api, missing
from nginxrun import NGINX, free_port, nginx, upstream, uvicorn_app, wait_listening
from openmtd.config import Settings
from openmtd.server.access.nginx import NginxSite, render_server
from openmtd.server.app import create_app
from tlscanary import issue

pytestmark = pytest.mark.e2e


def real_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class Stack:
    api: Api
    plain: str  # nginx without TLS: device tokens
    tls: str  # nginx with TLS and optional client certificates
    server_ca: Path
    folder: Path


@pytest.fixture
def stack(settings: Settings, tmp_path: Path) -> Iterator[Stack]:
    if not Path(NGINX).exists():
        missing("nginx", "install it with: apt-get install nginx")
    configured = Settings.model_validate(
        {
            **settings.model_dump(),
            "access_trusted_proxies": ["127.0.0.1/32"],
            "feed_scheduler": False,
        }
    )
    app = create_app(configured, clock=real_clock)
    root = issue("openmtd e2e site CA", ca=True)
    site = issue("site.test", issuer=root, ip_addresses=("127.0.0.1",))
    files = tmp_path / "tls"
    files.mkdir()
    (files / "site.pem").write_bytes(site.pem)
    (files / "site-key.pem").write_bytes(
        site.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (files / "site-ca.pem").write_bytes(root.pem)
    access_ca = files / "access-ca.pem"
    access_ca.write_text(app.state.ctx.access_ca.certificate_pem(real_clock()))
    with uvicorn_app(app) as openmtd, upstream() as application:
        plain_port, tls_port = free_port(), free_port()
        servers = render_server(
            NginxSite(f"127.0.0.1:{plain_port}", openmtd, application)
        ) + render_server(
            NginxSite(
                f"127.0.0.1:{tls_port}",
                openmtd,
                application,
                tls_certificate=files / "site.pem",
                tls_key=files / "site-key.pem",
                access_ca=access_ca,
            )
        )
        with nginx(tmp_path / "nginx", servers), httpx.Client(base_url=openmtd) as client:
            wait_listening(plain_port)
            wait_listening(tls_port)
            yield Stack(
                Api(app, client, real_clock),  # type: ignore[arg-type]
                f"http://127.0.0.1:{plain_port}",
                f"https://127.0.0.1:{tls_port}",
                files / "site-ca.pem",
                files,
            )
    app.state.ctx.close()


def token_for(api: Api, device: dict[str, Any]) -> str:
    r = api.client.post(
        f"/api/agent/v1/devices/{device['device_id']}/access-token",
        headers={"Authorization": f"Bearer {device['device_credential']}"},
    )
    assert r.status_code == 201, r.text
    return str(r.json()["token"])


def raise_high(api: Api, device: dict[str, Any]) -> int:
    api.checkin(
        device,
        detections=[
            {"category": "Jailbreak", "title": "Jailbroken", "severity": "High", "key": "jb"}
        ],
    )
    items = api.client.get(
        "/api/alerts", params={"device_id": device["device_id"]}, headers=api.headers()
    ).json()["items"]
    return int(items[0]["id"])


def resolve(api: Api, alert_id: int) -> None:
    r = api.client.patch(
        f"/api/alerts/{alert_id}", json={"status": "Resolved"}, headers=api.headers()
    )
    assert r.status_code == 200, r.text


def test_nginx_auth_request_follows_the_device_risk(stack: Stack) -> None:
    api = stack.api
    device = api.enroll()
    api.checkin(device)
    token = token_for(api, device)
    with httpx.Client(base_url=stack.plain, headers={"X-OpenMTD-Device-Token": token}) as phone:
        ok = phone.get("/orders/42")
        assert ok.status_code == 200, ok.text
        seen = ok.json()
        assert seen == {
            "app": "upstream",
            "path": "/orders/42",
            "device": device["device_id"],
            "risk": "Secured",
            "health": "secured",
            "token_seen": False,
        }
        alert_id = raise_high(api, device)
        denied = phone.get("/orders/42")  # the first request after the alert
        assert denied.status_code == 403
        assert denied.headers["X-OpenMTD-Reason"].startswith(
            "noncompliant: threat level High is above the allowed Low"
        )
        resolve(api, alert_id)
        assert phone.get("/orders/42").status_code == 200

    with httpx.Client(base_url=stack.plain) as stranger:
        unknown = stranger.get("/orders/42")
        assert unknown.status_code == 401
        assert unknown.headers["X-OpenMTD-Reason"].startswith("not onboarded: no device identity")
        forged = stranger.get("/", headers={"X-OpenMTD-Device-Token": "omt_acc_" + "A" * 43})
        assert forged.status_code == 401
        # A certificate header sent by the client is dropped by nginx, never believed.
        smuggled = stranger.get("/", headers={"X-SSL-Client-Cert": "anything"})
        assert smuggled.status_code == 401


def _client_certificate(api: Api, device: dict[str, Any], folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "phone")]))
        .sign(key, hashes.SHA256())
    )
    r = api.client.post(
        f"/api/agent/v1/devices/{device['device_id']}/client-certificate",
        json={"csr": csr.public_bytes(serialization.Encoding.PEM).decode()},
        headers={"Authorization": f"Bearer {device['device_credential']}"},
    )
    assert r.status_code == 201, r.text
    cert, key_file = folder / "phone.pem", folder / "phone-key.pem"
    cert.write_text(r.json()["certificate"])
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert, key_file


def test_nginx_verified_client_certificate(stack: Stack) -> None:
    api = stack.api
    device = api.enroll()
    cert, key = _client_certificate(api, device, stack.folder)
    with_cert = ssl.create_default_context(cafile=str(stack.server_ca))
    with_cert.load_cert_chain(str(cert), str(key))
    with httpx.Client(base_url=stack.tls, verify=with_cert) as phone:
        ok = phone.get("/mail")
        assert ok.status_code == 200, ok.text
        assert ok.json()["device"] == device["device_id"]
        alert_id = raise_high(api, device)
        assert phone.get("/mail").status_code == 403
        resolve(api, alert_id)
        assert phone.get("/mail").status_code == 200
    without = ssl.create_default_context(cafile=str(stack.server_ca))
    with httpx.Client(base_url=stack.tls, verify=without) as stranger:
        assert stranger.get("/mail").status_code == 401
