"""Forwarded client certificates as nginx, Traefik and Envoy send them, and the decisions."""

from __future__ import annotations

import base64
import contextlib
import hashlib
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

from openmtd.domain.enums import Platform, RiskLevel
from openmtd.engines.access import (
    ENVOY_CERT_HEADER,
    NGINX_CERT_HEADER,
    TRAEFIK_CERT_HEADER,
    CertificateHeaderError,
    DeviceAccess,
    certificate_fingerprint,
    decide,
    unidentified,
)
from openmtd.engines.compliance import ComplianceFacts, CompliancePolicy, evaluate

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def _certificate() -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "device")])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )


CERT = _certificate()
DER = CERT.public_bytes(serialization.Encoding.DER)
PEM = CERT.public_bytes(serialization.Encoding.PEM).decode()
SHA256 = hashlib.sha256(DER).hexdigest()


def test_nginx_escaped_and_legacy_pem() -> None:
    assert certificate_fingerprint(NGINX_CERT_HEADER, quote(PEM)) == SHA256
    legacy = PEM.strip().replace("\n", "\n\t")  # $ssl_client_cert indents continuation lines
    assert certificate_fingerprint("X-SSL-Client-Cert", legacy) == SHA256


def test_traefik_base64_der_leaf_first() -> None:
    b64 = base64.b64encode(DER).decode()
    other = base64.b64encode(_certificate().public_bytes(serialization.Encoding.DER)).decode()
    assert certificate_fingerprint(TRAEFIK_CERT_HEADER, quote(f"{b64},{other}")) == SHA256


def test_envoy_xfcc_cert_or_hash_from_the_nearest_proxy() -> None:
    nearest = f'By=spiffe://mtd;Hash={SHA256};Cert="{quote(PEM)}";Subject="CN=device,O=x"'
    value = f'Hash={"0" * 64};Subject="CN=far",{nearest}'
    assert certificate_fingerprint(ENVOY_CERT_HEADER, value) == SHA256
    assert certificate_fingerprint(ENVOY_CERT_HEADER, f"By=x;Hash={SHA256.upper()}") == SHA256


@pytest.mark.parametrize(
    ("header", "value", "why"),
    [
        (NGINX_CERT_HEADER, "", "holds no PEM certificate"),
        (
            NGINX_CERT_HEADER,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----",
            "X.509",
        ),
        (TRAEFIK_CERT_HEADER, "not base64!", "not base64"),
        (ENVOY_CERT_HEADER, "By=x;Hash=abc", "neither Cert nor a SHA-256 Hash"),
        (ENVOY_CERT_HEADER, 'Cert="unterminated', "unterminated quote"),
        (ENVOY_CERT_HEADER, "garbage", "is not key=value"),
        ("x-client-cert", "anything", "not a client-certificate header"),
        (NGINX_CERT_HEADER, "A" * 20000, "longer than"),
    ],
)
def test_malformed_headers_are_reasoned_refusals(header: str, value: str, why: str) -> None:
    with pytest.raises(CertificateHeaderError, match=why):
        certificate_fingerprint(header, value)


@given(
    st.sampled_from([NGINX_CERT_HEADER, TRAEFIK_CERT_HEADER, ENVOY_CERT_HEADER]),
    st.text(max_size=300),
)
def test_no_header_value_escapes_as_another_exception(header: str, value: str) -> None:
    try:
        result = certificate_fingerprint(header, value)
    except CertificateHeaderError:
        return
    assert len(result) == 64


@given(st.binary(max_size=400))
def test_random_der_in_a_pem_is_refused_or_read(data: bytes) -> None:
    pem = (
        "-----BEGIN CERTIFICATE-----\n"
        + base64.b64encode(data).decode()
        + "\n-----END CERTIFICATE-----"
    )
    with contextlib.suppress(CertificateHeaderError):
        certificate_fingerprint(NGINX_CERT_HEADER, pem)


def _access(level: RiskLevel = RiskLevel.SECURED, **changes: object) -> DeviceAccess:
    verdict = evaluate(
        ComplianceFacts(
            platform=Platform.ANDROID,
            os_version="14",
            risk_level=level,
            risk_reason=f"{level.value}: active alert",
            last_seen_at=NOW,
            onboarded=not changes.get("retired", False),
        ),
        CompliancePolicy(name="default"),
    )
    fields: dict[str, object] = {
        "device_id": "dev-1",
        "risk_level": level,
        "verdict": verdict,
        "retired": False,
        "require_onboarding": True,
        "credential_expires_at": NOW + timedelta(days=1),
    }
    fields.update(changes)
    return DeviceAccess(**fields)  # type: ignore[arg-type]


def test_decisions_allow_compliant_and_explain_every_denial() -> None:
    ok = decide(_access(), NOW)
    assert (ok.status, ok.device_id, ok.risk_level, ok.health_state) == (
        200,
        "dev-1",
        "Secured",
        "secured",
    )
    assert ok.reason == "compliant under policy 'default' at threat level Secured"
    high = decide(_access(RiskLevel.HIGH), NOW)
    assert high.status == 403 and high.health_state == "highSeverity"
    assert high.reason == (
        "noncompliant: threat level High is above the allowed Low: High: active alert"
    )
    assert decide(_access(retired=True), NOW).status == 401
    assert decide(_access(retired=True, require_onboarding=False), NOW).status == 200
    expired = decide(_access(credential_expires_at=NOW), NOW)
    assert (expired.status, expired.reason) == (401, "the device credential has expired")
    quiet = decide(_access(credential_expires_at=None), NOW + timedelta(days=7, seconds=1))
    assert quiet.status == 403 and quiet.health_state == "unresponsive"


def test_no_device_is_denied_only_where_onboarding_is_enforced() -> None:
    assert unidentified("no token", require_onboarding=True).status == 401
    relaxed = unidentified("no token", require_onboarding=False)
    assert relaxed.allowed and relaxed.device_id == ""
