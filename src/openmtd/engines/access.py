"""Conditional access: who is asking (from what a reverse proxy forwards) and the answer.

Reverse proxies that verified a client certificate forward it in a header of their own:

- nginx: ``proxy_set_header X-SSL-Client-Cert $ssl_client_escaped_cert`` (URL-encoded PEM;
  the older ``$ssl_client_cert`` with tab-indented lines works too);
- Traefik ForwardAuth with ``passTLSClientCert.pem``: ``X-Forwarded-Tls-Client-Cert``
  (URL-encoded base64 DER without PEM armour, the leaf first when a chain is sent);
- Envoy ext_authz: ``X-Forwarded-Client-Cert`` (XFCC: ``Hash=<sha256 hex>;Cert="<URL-encoded
  PEM>"``; the element the nearest proxy appended is the last one).

Each of them reduces to the SHA-256 of the certificate's DER, which is what openmtd stores for a
device's certificate. Parsing is strict and bounded: a malformed header is a reasoned refusal,
never an exception that escapes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import unquote

from cryptography import x509

from openmtd.domain.enums import RiskLevel
from openmtd.engines.compliance import ComplianceVerdict, PartnerState

NGINX_CERT_HEADER = "x-ssl-client-cert"
TRAEFIK_CERT_HEADER = "x-forwarded-tls-client-cert"
ENVOY_CERT_HEADER = "x-forwarded-client-cert"
CERT_HEADERS = (NGINX_CERT_HEADER, TRAEFIK_CERT_HEADER, ENVOY_CERT_HEADER)
TOKEN_HEADER = "x-openmtd-device-token"
TOKEN_COOKIE = "openmtd_device_token"

MAX_HEADER = 16 * 1024
_PEM = re.compile(
    r"-----BEGIN CERTIFICATE-----(?P<body>[A-Za-z0-9+/=\s]+?)-----END CERTIFICATE-----"
)
_HEX64 = re.compile(r"[0-9a-f]{64}")


class CertificateHeaderError(ValueError):
    """A forwarded client-certificate header that cannot be read; the message says why."""


def certificate_fingerprint(header: str, value: str) -> str:
    """The SHA-256 (hex) of the client certificate a proxy forwarded in `header`."""
    name = header.lower()
    if len(value) > MAX_HEADER:
        raise CertificateHeaderError(f"{header} is longer than {MAX_HEADER} characters")
    if name == ENVOY_CERT_HEADER:
        return _from_xfcc(value)
    if name == TRAEFIK_CERT_HEADER:
        first = unquote(value).split(",")[0].strip()
        return _digest(_der(_b64(first, header)))
    if name == NGINX_CERT_HEADER:
        return _digest(_der(_from_pem(unquote(value), header)))
    raise CertificateHeaderError(f"{header} is not a client-certificate header openmtd reads")


def _from_pem(text: str, header: str) -> bytes:
    match = _PEM.search(text)
    if match is None:
        raise CertificateHeaderError(f"{header} holds no PEM certificate")
    return _b64(match.group("body"), header)


def _b64(text: str, header: str) -> bytes:
    compact = "".join(text.split())
    if not compact:
        raise CertificateHeaderError(f"{header} is empty")
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as e:
        raise CertificateHeaderError(f"{header} is not base64: {e}") from e


def _der(data: bytes) -> bytes:
    try:
        x509.load_der_x509_certificate(data)
    except ValueError as e:
        raise CertificateHeaderError(f"the forwarded certificate is not X.509 DER: {e}") from e
    return data


def _digest(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


def _from_xfcc(value: str) -> str:
    elements = _split_quoted(value, ",")
    if not elements or not elements[-1].strip():
        raise CertificateHeaderError("x-forwarded-client-cert is empty")
    pairs: dict[str, str] = {}
    for part in _split_quoted(elements[-1], ";"):
        key, sep, raw = part.partition("=")
        if not sep:
            raise CertificateHeaderError(f"x-forwarded-client-cert: {part[:40]!r} is not key=value")
        raw = raw.strip()
        if len(raw) >= 2 and raw[0] == raw[-1] == '"':
            raw = raw[1:-1].replace('\\"', '"')
        pairs[key.strip().lower()] = raw
    if "cert" in pairs:
        return _digest(_der(_from_pem(unquote(pairs["cert"]), "x-forwarded-client-cert")))
    digest = pairs.get("hash", "").lower()
    if _HEX64.fullmatch(digest):
        return digest
    raise CertificateHeaderError("x-forwarded-client-cert carries neither Cert nor a SHA-256 Hash")


def _split_quoted(text: str, sep: str) -> list[str]:
    """Split on `sep` outside double quotes (XFCC quotes values that contain , ; or =)."""
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for ch in text:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\":
            current.append(ch)
            escaped = True
        elif ch == '"':
            current.append(ch)
            quoted = not quoted
        elif ch == sep and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    if quoted:
        raise CertificateHeaderError("x-forwarded-client-cert has an unterminated quote")
    parts.append("".join(current))
    return parts


# --- decisions ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeviceAccess:
    """What a decision needs to know about the device behind a credential."""

    device_id: str
    risk_level: RiskLevel
    verdict: ComplianceVerdict
    retired: bool
    require_onboarding: bool
    credential_expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    status: int  # 200 allow, 401 not identified / not onboarded, 403 noncompliant
    reason: str
    code: str = "allowed"  # allowed, not_onboarded, credential_expired, noncompliant
    device_id: str = ""
    risk_level: str = ""
    health_state: str = PartnerState.UNKNOWN.value
    policy: str = ""

    @property
    def allowed(self) -> bool:
        return self.status == 200


def unidentified(reason: str, *, require_onboarding: bool) -> Decision:
    """No onboarded device behind the request: denied where onboarding is enforced."""
    if require_onboarding:
        return Decision(401, f"not onboarded: {reason}", "not_onboarded")
    return Decision(200, f"allowed without a device (onboarding is not enforced): {reason}")


def decide(access: DeviceAccess, now: datetime) -> Decision:
    """Allow a compliant, onboarded device; explain every refusal."""
    v = access.verdict
    state = PartnerState.DEACTIVATED if access.retired else v.partner_state(now)
    common = {
        "device_id": access.device_id,
        "risk_level": access.risk_level.value,
        "health_state": state.value,
        "policy": v.policy,
    }
    if access.retired:
        if access.require_onboarding:
            return Decision(401, "not onboarded: the device was retired", "not_onboarded", **common)
        return Decision(200, "retired device allowed: onboarding is not enforced", **common)
    if access.credential_expires_at is not None and now >= access.credential_expires_at:
        return Decision(401, "the device credential has expired", "credential_expired", **common)
    reasons = v.all_reasons(now)
    if reasons:
        text = "noncompliant: " + "; ".join(r.text for r in reasons)
        return Decision(403, text, "noncompliant", **common)
    return Decision(
        200,
        f"compliant under policy {v.policy!r} at threat level {access.risk_level.value}",
        **common,
    )
