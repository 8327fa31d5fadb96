"""Conditional access routes: the forward-auth check reverse proxies call, device credentials
for it, and the admin's view of them."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from ipaddress import ip_address
from typing import Annotated

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.concurrency import run_in_threadpool
from starlette.requests import cookie_parser
from starlette.types import Scope, Send

from openmtd.config import Settings
from openmtd.engines.access import (
    CERT_HEADERS,
    TOKEN_COOKIE,
    TOKEN_HEADER,
    CertificateHeaderError,
    Decision,
    certificate_fingerprint,
)
from openmtd.server.access import service
from openmtd.server.access.decisions import Identity
from openmtd.server.agent_api.service import require_own
from openmtd.server.agent_api.views import ThisDevice
from openmtd.server.context import AppContext
from openmtd.server.deps import Admin, Analyst, Ctx, Db, Now
from openmtd.server.devices.service import get_device
from openmtd.server.errors import API_ERRORS, ErrorEnvelope, responses
from openmtd.server.schemas_common import DeviceIdStr

log = logging.getLogger(__name__)
router = APIRouter(tags=["conditional access"], responses=API_ERRORS)
CHECK_PATH = "/api/access/v1/check"
_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class AccessDecisionOut(BaseModel):
    allowed: bool = Field(description="Always true: denials are error envelopes.")
    reason: str
    device_id: str = Field(description="Empty when no device was identified.")
    risk_level: str
    health_state: str
    policy: str


def identify(scope: Scope, settings: Settings) -> Identity:
    """Who is asking: a client certificate a trusted proxy verified and forwarded, else the
    device token (header or cookie); a certificate header from anyone else is refused.

    Reads the raw ASGI headers (lower-case names; the first of a repeated header counts)."""
    found: dict[bytes, bytes] = {}
    for name, value in scope["headers"]:
        if name in _IDENTITY_HEADERS and name not in found:
            found[name] = value
    for header in CERT_HEADERS:
        raw = found.get(header.encode())
        if raw is None:
            continue
        client = scope.get("client")
        peer = client[0] if client else ""
        if not _trusted(peer, settings):
            return Identity(
                "none",
                "",
                f"a client-certificate header ({header}) came from {peer or 'an unknown peer'}, "
                "which is not a trusted proxy (access_trusted_proxies)",
            )
        try:
            return Identity("certificate", certificate_fingerprint(header, raw.decode("latin-1")))
        except CertificateHeaderError as e:
            return Identity("none", "", str(e))
    token = found.get(_TOKEN_HEADER, b"").decode("latin-1").strip()
    if not token and _COOKIE in found:
        token = cookie_parser(found[_COOKIE].decode("latin-1")).get(TOKEN_COOKIE, "").strip()
    if token:
        return Identity("token", token)
    return Identity(
        "none",
        "",
        "no device identity: present the device's client certificate to the proxy or send "
        "its access token in the X-OpenMTD-Device-Token header",
    )


_TOKEN_HEADER = TOKEN_HEADER.encode()
_COOKIE = b"cookie"
_IDENTITY_HEADERS = frozenset({*(h.encode() for h in CERT_HEADERS), _TOKEN_HEADER, _COOKIE})


def _trusted(peer: str, settings: Settings) -> bool:
    try:
        address = ip_address(peer)
    except ValueError:
        return False
    return any(address in network for network in settings.access_trusted_proxies)


@dataclass(frozen=True, slots=True)
class Answer:
    """A decision as it goes on the wire."""

    status: int
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes


@lru_cache(maxsize=4096)
def encode(decision: Decision) -> Answer:
    """200 with the decision, or the error envelope (code not_onboarded, credential_expired or
    noncompliant; the device in `details`); the same facts in X-OpenMTD-* headers either way.

    Decisions repeat (one per device and state), so their encodings are kept."""
    device = {
        "device_id": decision.device_id,
        "risk_level": decision.risk_level,
        "health_state": decision.health_state,
        "policy": decision.policy,
    }
    if decision.allowed:
        body = {"allowed": True, "reason": decision.reason, **device}
    else:
        body = {"error": {"code": decision.code, "message": decision.reason, "details": device}}
    headers = {
        "X-OpenMTD-Decision": "allow" if decision.allowed else "deny",
        "X-OpenMTD-Device-Id": decision.device_id,
        "X-OpenMTD-Risk-Level": decision.risk_level,
        "X-OpenMTD-Health-State": decision.health_state,
        "X-OpenMTD-Reason": _header_text(decision.reason),
    }
    if decision.status == 401:
        headers["WWW-Authenticate"] = 'OpenMTD-Device realm="conditional access"'
    return _answer(decision.status, body, headers)


def _answer(status: int, body: dict[str, object], headers: dict[str, str]) -> Answer:
    encoded = json.dumps(body, separators=(",", ":")).encode()
    fixed = {
        "content-type": "application/json",
        "content-length": str(len(encoded)),
        "cache-control": "no-store",
        "x-content-type-options": "nosniff",
    }
    raw = [(k.encode(), v.encode("latin-1")) for k, v in fixed.items()]
    raw += [(k.lower().encode(), v.encode("latin-1")) for k, v in headers.items()]
    return Answer(status, tuple(raw), encoded)


# No decision could be made (the database is unreachable, a bug): deny, and say so. nginx
# counts any status but 2xx/401/403 as an error and refuses the request as well.
UNAVAILABLE = _answer(
    503,
    {
        "error": {
            "code": "decision_unavailable",
            "message": "the access decision could not be made (see the server log); denied",
        }
    },
    {"X-OpenMTD-Decision": "deny", "X-OpenMTD-Reason": "the decision could not be made"},
)


def _header_text(text: str) -> str:
    """A header-safe (printable ASCII) rendering of a reason, at most 300 characters."""
    cleaned = "".join(c if " " <= c <= "~" else "?" for c in text)
    return cleaned[:300]


async def check(ctx: AppContext, scope: Scope) -> Answer:
    """The answer to one forward-auth request: from the cache when it can, else from the
    database in a worker thread. Never raises."""
    try:
        identity = identify(scope, ctx.settings)
        decision = ctx.access.cached(identity)
        if decision is None:
            decision = await run_in_threadpool(ctx.access.decide, identity)
        return encode(decision)
    except Exception:
        log.exception("the access decision failed")
        return UNAVAILABLE


def is_check(scope: Scope) -> bool:
    """Is this ASGI request the forward-auth check (any method; Envoy may append a path)?"""
    if scope["type"] != "http":
        return False
    path: str = scope["path"]
    return path == CHECK_PATH or path.startswith(CHECK_PATH + "/")


async def send_check(ctx: AppContext, scope: Scope, send: Send) -> None:
    """Answer the check straight on the ASGI connection (see server.app.OpenMTD)."""
    answer = await check(ctx, scope)
    await send({"type": "http.response.start", "status": answer.status, "headers": answer.headers})
    await send({"type": "http.response.body", "body": answer.body})


_CHECK_DOC = {
    "response_model": AccessDecisionOut,
    "responses": {
        200: {
            "description": "allow: a compliant, onboarded device (or none, where onboarding "
            "is not enforced)"
        },
        401: {
            "description": "deny: no onboarded device identified (not_onboarded, "
            "credential_expired)",
            "model": ErrorEnvelope,
        },
        403: {
            "description": "deny: the device is not compliant (noncompliant)",
            "model": ErrorEnvelope,
        },
        503: {
            "description": "deny: no decision could be made (decision_unavailable)",
            "model": ErrorEnvelope,
        },
    },
}


async def access_check(request: Request) -> Response:
    """Forward-auth decision for nginx `auth_request`, Traefik ForwardAuth and Envoy ext_authz
    (HTTP): 200 allows, 401/403 deny; headers X-OpenMTD-Device-Id, -Risk-Level, -Health-State
    and -Reason describe the device. Any method; Envoy may append the original path.

    The app answers this path before routing (server.app.OpenMTD); these routes document it."""
    answer = await check(request.app.state.ctx, request.scope)
    response = Response(answer.body, answer.status)
    response.raw_headers = list(answer.headers)
    return response


# One route per method (the proxies pass the original request's method on), each with its own
# operation id; the variant with an appended path is the same operation.
for _method in _METHODS:
    router.add_api_route(
        CHECK_PATH,
        access_check,
        methods=[_method],
        operation_id=f"access_check_{_method.lower()}",
        # HEAD and OPTIONS are answered alike, without a body: not documented separately.
        include_in_schema=_method not in ("HEAD", "OPTIONS"),
        **_CHECK_DOC,  # type: ignore[arg-type]
    )
    router.add_api_route(
        CHECK_PATH + "/{original_path:path}",
        access_check,
        methods=[_method],
        include_in_schema=False,
    )


@router.get(
    "/api/access/v1/ca.pem",
    response_class=Response,
    responses={200: {"content": {"application/x-pem-file": {}}}},
)
def access_ca(ctx: Ctx, now: Now) -> Response:
    """The CA that signs device client certificates: give it to the proxy to verify them."""
    return Response(ctx.access_ca.certificate_pem(now), media_type="application/x-pem-file")


# --- the device asks for its credentials ------------------------------------------------------


class AccessTokenOut(BaseModel):
    token: str = Field(description="Shown once; send it in the X-OpenMTD-Device-Token header.")
    expires_at: datetime
    header: str = "X-OpenMTD-Device-Token"


class CertificateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    csr: Annotated[str, StringConstraints(min_length=1, max_length=16384)] = Field(
        description="A PEM certificate signing request for the device's own key."
    )


class CertificateOut(BaseModel):
    certificate: str
    ca_certificate: str
    sha256: str
    serial: str
    not_after: datetime


_DEVICE_ERRORS = responses(401, 403, 422)


@router.post(
    "/api/agent/v1/devices/{device_id}/access-token",
    response_model=AccessTokenOut,
    status_code=201,
    responses=_DEVICE_ERRORS,
    tags=["agent"],
)
def issue_access_token(
    device_id: DeviceIdStr, device: ThisDevice, db: Db, ctx: Ctx, now: Now
) -> AccessTokenOut:
    """A device-bound token for conditional access (the device credential is never used for
    it); the five newest stay valid until they expire."""
    require_own(device, device_id)
    issued = service.issue_token(
        db, device_id=device_id, now=now, days=ctx.settings.access_token_days
    )
    return AccessTokenOut(token=issued.token, expires_at=issued.expires_at)


@router.post(
    "/api/agent/v1/devices/{device_id}/client-certificate",
    response_model=CertificateOut,
    status_code=201,
    responses=_DEVICE_ERRORS,
    tags=["agent"],
)
def issue_client_certificate(
    device_id: DeviceIdStr, body: CertificateRequest, device: ThisDevice, db: Db, ctx: Ctx, now: Now
) -> CertificateOut:
    """A client certificate for the device's key (CN = device id), signed by the access CA."""
    require_own(device, device_id)
    row, pem = service.issue_certificate(
        db,
        device_id=device_id,
        csr_pem=body.csr,
        ca=ctx.access_ca,
        now=now,
        days=ctx.settings.access_certificate_days,
    )
    return CertificateOut(
        certificate=pem,
        ca_certificate=ctx.access_ca.certificate_pem(now),
        sha256=row.sha256,
        serial=row.serial,
        not_after=row.not_after,
    )


# --- the admin's view -------------------------------------------------------------------------


class CredentialOut(BaseModel):
    kind: str
    id: int
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    serial: str | None
    sha256: str | None


class RevokedOut(BaseModel):
    revoked: int


@router.get(
    "/api/devices/{device_id}/access",
    response_model=list[CredentialOut],
    responses=responses(401, 403, 404),
    tags=["devices"],
)
def device_access(device_id: DeviceIdStr, _p: Analyst, db: Db) -> list[CredentialOut]:
    """The device's access tokens (never their values) and client certificates."""
    get_device(db, device_id)
    return [
        CredentialOut(
            kind=c.kind,
            id=c.id,
            created_at=c.created_at,
            expires_at=c.expires_at,
            revoked_at=c.revoked_at,
            serial=c.serial,
            sha256=c.sha256,
        )
        for c in service.device_credentials(db, device_id)
    ]


@router.post(
    "/api/devices/{device_id}/access/revoke",
    response_model=RevokedOut,
    responses=responses(401, 403, 404),
    tags=["devices"],
)
def revoke_access(device_id: DeviceIdStr, p: Admin, db: Db, now: Now) -> RevokedOut:
    """Revoke every access token and client certificate of the device at once (audited)."""
    get_device(db, device_id)
    return RevokedOut(
        revoked=service.revoke_device_access(db, device_id=device_id, actor=p.username, now=now)
    )
