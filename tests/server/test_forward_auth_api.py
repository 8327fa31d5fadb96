"""The forward-auth endpoint through the app: device tokens and client certificates, decisions
that follow risk at once, proxies trusted explicitly, and credentials that only their device can
ask for. The same endpoint behind a real nginx: tests/e2e/test_conditional_access_nginx.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastapi.testclient import TestClient
from server_helpers import error

from conftest import Api, FakeClock
from openmtd.config import Settings
from openmtd.server.app import create_app

CHECK = "/api/access/v1/check"


def agent(device: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {device['device_credential']}"}


def access_token(api: Api, device: dict[str, Any]) -> str:
    r = api.client.post(
        f"/api/agent/v1/devices/{device['device_id']}/access-token", headers=agent(device)
    )
    assert r.status_code == 201, r.text
    return str(r.json()["token"])


def high_alert(api: Api, device: dict[str, Any]) -> int:
    api.checkin(
        device,
        detections=[
            {"category": "Jailbreak", "title": "Jailbroken", "severity": "High", "key": "jb"}
        ],
    )
    alerts = api.client.get(
        "/api/alerts", params={"device_id": device["device_id"]}, headers=api.headers()
    ).json()["items"]
    return int(alerts[0]["id"])


def resolve(api: Api, alert_id: int) -> None:
    r = api.client.patch(
        f"/api/alerts/{alert_id}", json={"status": "Resolved"}, headers=api.headers("analyst")
    )
    assert r.status_code == 200, r.text


def why(response: Any) -> str:
    """The reason of a denial: the error envelope's message (its code says which kind)."""
    body = response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["code"] in ("not_onboarded", "credential_expired", "noncompliant")
    assert body["error"]["details"]["device_id"] == response.headers["X-OpenMTD-Device-Id"]
    return str(body["error"]["message"])


def check(client: TestClient, token: str | None = None, **headers: str) -> Any:
    if token is not None:
        headers["X-OpenMTD-Device-Token"] = token
    return client.get(CHECK, headers=headers)


class TestDeviceToken:
    def test_compliant_passes_high_alert_denies_at_once_resolving_restores(self, api: Api) -> None:
        device = api.enroll()
        api.checkin(device)
        token = access_token(api, device)
        assert token.startswith("omt_acc_")
        allowed = check(api.client, token)
        assert allowed.status_code == 200
        assert allowed.headers["X-OpenMTD-Device-Id"] == device["device_id"]
        assert allowed.headers["X-OpenMTD-Risk-Level"] == "Secured"
        assert allowed.headers["X-OpenMTD-Health-State"] == "secured"
        assert allowed.headers["Cache-Control"] == "no-store"
        assert (
            allowed.json()["reason"] == "compliant under policy 'default' at threat level Secured"
        )
        assert check(api.client, token).status_code == 200  # from the cache

        alert_id = high_alert(api, device)
        denied = check(api.client, token)  # the very next request
        assert denied.status_code == 403
        assert denied.headers["X-OpenMTD-Risk-Level"] == "High"
        assert denied.headers["X-OpenMTD-Decision"] == "deny"
        assert why(denied).startswith(
            "noncompliant: threat level High is above the allowed Low: High: active High alert"
        )
        resolve(api, alert_id)
        assert check(api.client, token).status_code == 200

    def test_a_cookie_carries_the_token_too(self, api: Api) -> None:
        device = api.enroll()
        token = access_token(api, device)
        api.client.cookies.set("openmtd_device_token", token)
        try:
            assert api.client.get(CHECK).status_code == 200
        finally:
            api.client.cookies.clear()

    def test_unknown_missing_revoked_and_retired_are_denied(self, api: Api) -> None:
        missing = check(api.client)
        assert missing.status_code == 401 and "WWW-Authenticate" in missing.headers
        assert why(missing).startswith("not onboarded: no device identity")
        assert why(check(api.client, "omt_acc_" + "x" * 43)) == (
            "not onboarded: unknown device token"
        )
        assert check(api.client, "Bearer something").status_code == 401
        device = api.enroll()
        token = access_token(api, device)
        assert check(api.client, token).status_code == 200
        r = api.client.post(
            f"/api/devices/{device['device_id']}/access/revoke", headers=api.headers()
        )
        assert r.status_code == 200 and r.json() == {"revoked": 1}
        revoked = check(api.client, token)
        assert (revoked.status_code, why(revoked)) == (
            401,
            "not onboarded: the device token was revoked",
        )
        other = api.enroll()
        other_token = access_token(api, other)
        r = api.client.post(
            f"/api/devices/{other['device_id']}/retire",
            json={"reason": "lost"},
            headers=api.headers(),
        )
        assert r.status_code == 200
        retired = check(api.client, other_token)
        assert retired.status_code == 401
        assert why(retired) == "not onboarded: the device was retired"

    def test_an_expired_token_is_denied(self, api: Api, clock: FakeClock) -> None:
        device = api.enroll()
        token = access_token(api, device)
        clock.advance(days=30)
        api.checkin(device)  # responsive, but the token is 30 days old
        expired = check(api.client, token)
        assert (expired.status_code, why(expired)) == (
            401,
            "the device credential has expired",
        )

    def test_unresponsive_devices_are_denied_from_the_cache_too(
        self, api: Api, clock: FakeClock
    ) -> None:
        device = api.enroll()
        token = access_token(api, device)
        assert check(api.client, token).status_code == 200
        clock.advance(days=7, seconds=1)
        denied = check(api.client, token)
        assert denied.status_code == 403
        assert "unresponsive: no check-in for more than 7 days" in why(denied)
        assert denied.headers["X-OpenMTD-Health-State"] == "unresponsive"

    def test_only_the_device_itself_gets_its_credentials(self, api: Api) -> None:
        mine, theirs = api.enroll(), api.enroll()
        r = api.client.post(
            f"/api/agent/v1/devices/{theirs['device_id']}/access-token", headers=agent(mine)
        )
        assert r.status_code == 403
        r = api.client.post(f"/api/agent/v1/devices/{mine['device_id']}/access-token")
        assert r.status_code == 401
        r = api.client.post(
            f"/api/agent/v1/devices/{mine['device_id']}/access-token", headers=api.headers()
        )
        assert r.status_code == 401  # an admin's API token is not a device credential

    def test_older_tokens_beyond_five_are_revoked(self, api: Api) -> None:
        device = api.enroll()
        tokens = [access_token(api, device) for _ in range(6)]
        assert check(api.client, tokens[0]).status_code == 401
        assert all(check(api.client, t).status_code == 200 for t in tokens[1:])
        listed = api.client.get(
            f"/api/devices/{device['device_id']}/access", headers=api.headers("analyst")
        ).json()
        assert len(listed) == 6 and sum(1 for c in listed if c["revoked_at"]) == 1
        assert all("token" not in c or c["kind"] == "token" for c in listed)
        assert not any(t in str(listed) for t in tokens)

    def test_onboarding_not_enforced_lets_unknown_devices_pass(self, api: Api) -> None:
        default = api.client.get("/api/compliance/policies", headers=api.headers()).json()[0]
        r = api.client.put(
            f"/api/compliance/policies/{default['id']}",
            json={"name": "default", "require_onboarding": False},
            headers=api.headers(),
        )
        assert r.status_code == 200, r.text
        relaxed = check(api.client)
        assert relaxed.status_code == 200 and relaxed.headers["X-OpenMTD-Device-Id"] == ""

    def test_every_method_and_an_appended_path(self, api: Api) -> None:
        device = api.enroll()
        token = access_token(api, device)
        headers = {"X-OpenMTD-Device-Token": token}
        for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
            r = api.client.request(method, CHECK + "/app/orders?id=1", headers=headers)
            assert r.status_code == 200, (method, r.text)


def make_csr() -> tuple[ec.EllipticCurvePrivateKey, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "my phone")]))
        .sign(key, hashes.SHA256())
    )
    return key, csr.public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture
def proxied(settings: Settings, clock: FakeClock) -> Iterator[Api]:
    """The app with 127.0.0.1 as a trusted proxy, called from 127.0.0.1."""
    trusted = settings.model_copy(update={"access_trusted_proxies": ["127.0.0.1/32"]})
    app = create_app(Settings.model_validate(trusted.model_dump()), clock=clock)
    with TestClient(app, client=("127.0.0.1", 40000)) as client:
        yield Api(app, client, clock)
    app.state.ctx.close()


class TestClientCertificate:
    def certificate(self, api: Api, device: dict[str, Any]) -> dict[str, Any]:
        _key, csr = make_csr()
        r = api.client.post(
            f"/api/agent/v1/devices/{device['device_id']}/client-certificate",
            json={"csr": csr},
            headers=agent(device),
        )
        assert r.status_code == 201, r.text
        return dict(r.json())

    def test_a_certificate_forwarded_by_a_trusted_proxy(self, proxied: Api) -> None:
        api = proxied
        device = api.enroll()
        issued = self.certificate(api, device)
        cert = x509.load_pem_x509_certificate(issued["certificate"].encode())
        ca = x509.load_pem_x509_certificate(issued["ca_certificate"].encode())
        cert.verify_directly_issued_by(ca)
        assert (
            cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == device["device_id"]
        )
        assert api.client.get("/api/access/v1/ca.pem").text == issued["ca_certificate"]

        nginx = {"X-SSL-Client-Cert": quote(issued["certificate"])}
        r = api.client.get(CHECK, headers=nginx)
        assert r.status_code == 200 and r.headers["X-OpenMTD-Device-Id"] == device["device_id"]
        envoy = {"X-Forwarded-Client-Cert": f"Hash={issued['sha256']}"}
        assert api.client.get(CHECK, headers=envoy).status_code == 200
        alert_id = high_alert(api, device)
        assert api.client.get(CHECK, headers=nginx).status_code == 403
        resolve(api, alert_id)
        assert api.client.get(CHECK, headers=nginx).status_code == 200

    def test_a_certificate_header_from_anyone_else_is_refused(self, api: Api) -> None:
        device = api.enroll()
        issued = self.certificate(api, device)
        r = api.client.get(CHECK, headers={"X-SSL-Client-Cert": quote(issued["certificate"])})
        assert r.status_code == 401
        assert "which is not a trusted proxy" in why(r)

    def test_unknown_and_malformed_certificates(self, proxied: Api) -> None:
        api = proxied
        r = api.client.get(CHECK, headers={"X-Forwarded-Client-Cert": "Hash=" + "ab" * 32})
        assert why(r) == (
            "not onboarded: the client certificate was not issued to a device by openmtd"
        )
        r = api.client.get(CHECK, headers={"X-SSL-Client-Cert": "junk"})
        assert (r.status_code, why(r)) == (
            401,
            "not onboarded: x-ssl-client-cert holds no PEM certificate",
        )

    def test_bad_csrs_are_refused(self, api: Api) -> None:
        device = api.enroll()
        url = f"/api/agent/v1/devices/{device['device_id']}/client-certificate"
        error(api.client.post(url, json={"csr": "nonsense"}, headers=agent(device)), 422, "bad_csr")
        _key, csr = make_csr()
        tampered = csr.replace(csr.splitlines()[3], csr.splitlines()[3][::-1])
        r = api.client.post(url, json={"csr": tampered}, headers=agent(device))
        assert r.status_code == 422, r.text


def test_without_its_database_the_check_denies_and_says_why(
    settings: Settings, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """No decision can be made: 503 with its own code (nginx refuses on it too), never a
    crash, and the failure is in the log."""
    missing = settings.data_dir / "no-such-folder" / "openmtd.db"
    app = create_app(
        settings.model_copy(update={"database_url": f"sqlite:///{missing}"}), clock=clock
    )
    try:
        client = TestClient(app)  # no lifespan: it would need the database as well
        for headers in ({"X-OpenMTD-Device-Token": "omt_acc_whatever"}, {}):
            r = client.get(CHECK, headers=headers)
            assert error(r, 503, "decision_unavailable")
            assert r.headers["X-OpenMTD-Decision"] == "deny"
            assert r.headers["Cache-Control"] == "no-store"
        assert "the access decision failed" in caplog.text
    finally:
        app.state.ctx.close()
