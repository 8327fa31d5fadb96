"""Protective DNS end to end: the real server over TLS, queried by real DoH clients.

uvicorn serves the app on loopback with a certificate made here (a throwaway CA signs a
certificate for 127.0.0.1). dnspython's DoH client and `curl --doh-url` resolve through a
device's DoH URL: a blocked name resolves to the policy's block address (127.0.0.2 here, where
a small HTTP server plays the block page), an allowed name to what the fake upstream says
(127.0.0.3, "the real site"). curl then fetches the page, so the test sees what a browser on
a protected phone would.
"""

from __future__ import annotations

import http.server
import shutil
import socket
import ssl
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import dns.rcode
import httpx
import pytest

from conftest import missing
from dnsfake import FakeUpstream
from openmtd.config import Settings
from openmtd.domain.enums import Role
from openmtd.server.app import create_app
from openmtd.server.context import utc_now
from openmtd.server.security import create_api_token
from openmtd.server.users.service import create_user

pytestmark = pytest.mark.e2e

CURL = "/usr/bin/curl"
BLOCK_ADDRESS = "127.0.0.2"
SITE_ADDRESS = "127.0.0.3"


def make_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """(CA certificate, server certificate, server key) as PEM files."""
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    except ImportError:
        missing("cryptography (Python)", "install it with: pip install -e '.[test]'")
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "openmtd test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(IPv4Address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_pem, cert_pem, key_pem = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    ca_pem.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca_pem, cert_pem, key_pem


class _Page(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *_args: Any) -> None:
        pass


def page_server(address: str, port: int, text: str) -> http.server.HTTPServer:
    handler = type("Page", (_Page,), {"body": text.encode()})
    server = http.server.HTTPServer((address, port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@dataclass
class Running:
    url: str
    ca: Path
    app: Any
    upstream: FakeUpstream
    page_port: int


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Running]:
    import uvicorn

    ca, cert, key = make_certificates(tmp_path)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    url = f"https://127.0.0.1:{port}"
    with FakeUpstream({"good.example": [SITE_ADDRESS]}, ttl=120) as upstream:
        settings = Settings(
            data_dir=tmp_path / "data", public_url=url, dns_upstream=upstream.address
        )
        app = create_app(settings)
        config = uvicorn.Config(
            app,
            ssl_certfile=str(cert),
            ssl_keyfile=str(key),
            log_config=None,
            access_log=False,
            log_level="warning",
            lifespan="on",
        )
        srv = uvicorn.Server(config)
        thread = threading.Thread(
            target=srv.run, kwargs={"sockets": [sock]}, name="uvicorn-doh", daemon=True
        )
        thread.start()
        deadline = time.monotonic() + 20
        while not srv.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                pytest.fail("uvicorn did not start")
            time.sleep(0.05)
        with socket.socket() as probe:
            probe.bind((BLOCK_ADDRESS, 0))
            page_port = probe.getsockname()[1]
        blocked = page_server(BLOCK_ADDRESS, page_port, "blocked by openmtd")
        site = page_server(SITE_ADDRESS, page_port, "the real site")
        try:
            yield Running(url, ca, app, upstream, page_port)
        finally:
            blocked.shutdown()
            site.shutdown()
            blocked.server_close()
            site.server_close()
            srv.should_exit = True
            thread.join(timeout=20)
            sock.close()


def _seed(running: Running) -> tuple[str, str, dict[str, str]]:
    """An admin, an enrolled iPhone with a DoH profile, a Block indicator and a DNS policy."""
    with running.app.state.ctx.sessions.begin() as db:
        admin = create_user(
            db,
            username="doh-admin",
            password="correct horse",
            role=Role.ADMIN,
            actor="e2e",
            now=utc_now(),
        )
        db.flush()
        _row, api_token = create_api_token(
            db, admin, name="e2e", role=Role.ADMIN, now=utc_now(), days=1
        )
    headers = {"Authorization": f"Bearer {api_token}"}
    with httpx.Client(
        base_url=running.url, timeout=10, verify=ssl.create_default_context(cafile=running.ca)
    ) as http:
        r = http.post("/api/onboarding/tokens", json={"name": "doh"}, headers=headers)
        assert r.status_code == 201, r.text
        r = http.post(
            "/api/agent/v1/enroll",
            json={
                "onboarding_token": r.json()["token"],
                "platform": "ios",
                "scenario": "ios-supervised",
                "hardware_id": uuid.uuid4().hex,
                "device": {"model": "iPhone 15", "os_version": "18.3.2"},
            },
        )
        assert r.status_code == 201, r.text
        device_id = r.json()["device_id"]
        r = http.post(
            "/api/web/indicators",
            json={"type": "domain", "value": "evil.example", "action": "Block"},
            headers=headers,
        )
        assert r.status_code == 201, r.text
        policy = http.get("/api/web/policy", headers=headers).json()
        policy["dns"]["block_ipv4"] = BLOCK_ADDRESS
        assert http.put("/api/web/policy", json=policy, headers=headers).status_code == 200
        r = http.post(f"/api/devices/{device_id}/dns-profile", headers=headers)
        assert r.status_code == 201, r.text
        doh_url = r.json()["doh_url"]
    return device_id, doh_url, headers


def test_dnspython_resolves_through_the_tls_doh_endpoint(server: Running) -> None:
    device_id, doh_url, headers = _seed(server)
    assert doh_url.startswith(server.url + "/dns-query/omt_dns_")
    for post in (False, True):
        blocked = dns.query.https(
            dns.message.make_query("login.evil.example", "A"),
            doh_url,
            timeout=10,
            post=post,
            verify=ssl.create_default_context(cafile=server.ca),
            http_version=dns.query.HTTPVersion.H1,
        )
        assert [r.address for r in blocked.answer[0]] == [BLOCK_ADDRESS]
    allowed = dns.query.https(
        dns.message.make_query("good.example", "A"),
        doh_url,
        timeout=10,
        verify=ssl.create_default_context(cafile=server.ca),
        http_version=dns.query.HTTPVersion.H1,
    )
    assert allowed.rcode() == dns.rcode.NOERROR
    assert [r.address for r in allowed.answer[0]] == [SITE_ADDRESS]
    # A client that does not trust the test CA gets no answer at all.
    with pytest.raises(Exception, match="(?i)certificate"):
        dns.query.https(
            dns.message.make_query("good.example", "A"),
            doh_url,
            timeout=10,
            verify=True,
            http_version=dns.query.HTTPVersion.H1,
        )
    with httpx.Client(
        base_url=server.url, timeout=10, verify=ssl.create_default_context(cafile=server.ca)
    ) as http:
        r = http.get("/api/alerts", params={"device_id": device_id}, headers=headers)
    (alert,) = r.json()["items"]
    assert alert["category"] == "Phishing" and alert["evidence"]["channel"] == "doh"


def test_curl_with_doh_reaches_the_block_page_instead_of_the_blocked_site(
    server: Running,
) -> None:
    curl = CURL if Path(CURL).exists() else shutil.which("curl")
    if curl is None:
        missing("curl with DoH support", "install it with: apt-get install curl")
    _device_id, doh_url, _headers = _seed(server)

    def fetch(name: str) -> str:
        result = subprocess.run(
            [
                curl,
                "-sS",
                "--ipv4",
                "--max-time",
                "20",
                "--doh-url",
                doh_url,
                "--cacert",
                str(server.ca),
                f"http://{name}:{server.page_port}/",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    assert fetch("www.evil.example") == "blocked by openmtd"
    assert fetch("good.example") == "the real site"
    assert server.upstream.count("good.example", "A") == 1
    assert server.upstream.count("www.evil.example") == 0
