"""Routes of protective DNS: the RFC 8484 endpoint devices resolve through, and the admin
routes that issue a device's DNS profile (the token in it is shown once)."""

from __future__ import annotations

import base64
import binascii
import functools
import re
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import parse_qsl

import orjson
from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, Field
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from openmtd.domain.errors import OpenMTDError, PayloadTooLarge
from openmtd.engines.web.dns import MAX_MESSAGE, Answered
from openmtd.server.deps import Admin, Ctx, Db, Now, ReadOnly
from openmtd.server.dns import profiles, service
from openmtd.server.dns.service import BadDnsRequest, UnsupportedMediaType
from openmtd.server.errors import API_ERRORS, responses
from openmtd.server.schemas_common import DeviceIdStr

DNS_MESSAGE = "application/dns-message"
DOH_PREFIX = "/dns-query/"

router = APIRouter(tags=["protective DNS"], responses=API_ERRORS)

DeviceToken = Annotated[
    str, Path(max_length=128, description="The device's DoH token (omt_dns_…), a secret.")
]
_B64URL = re.compile(r"[A-Za-z0-9_-]*={0,2}")
_DNS_BODY = {
    "description": "A DNS response in wire format (RFC 1035), with Cache-Control max-age "
    "set to its smallest TTL.",
    "content": {DNS_MESSAGE: {"schema": {"type": "string", "format": "binary"}}},
}
_DOH_ERRORS = responses(
    _400="malformed base64url or DNS message, or not a query",
    _404="unknown, rotated or retired device token",
)


def _decode_b64url(text: str) -> bytes:
    """RFC 8484 4.1: base64url without padding (padding tolerated)."""
    if len(text) > 2 * MAX_MESSAGE or not _B64URL.fullmatch(text):
        raise BadDnsRequest("the dns parameter is not base64url")
    body = text.rstrip("=")
    if len(body) % 4 == 1:
        raise BadDnsRequest("the dns parameter is not base64url (bad length)")
    try:
        return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError) as e:
        raise BadDnsRequest("the dns parameter is not base64url") from e


def _check_post(content_type: str, content_length: str) -> None:
    media_type = content_type.split(";")[0].strip().lower()
    if media_type != DNS_MESSAGE:
        raise UnsupportedMediaType(f"send the query as Content-Type: {DNS_MESSAGE}")
    if content_length.isdigit() and int(content_length) > MAX_MESSAGE:
        raise PayloadTooLarge(f"a DNS message has at most {MAX_MESSAGE} bytes")


def _add_chunk(body: bytearray, chunk: bytes) -> None:
    body += chunk
    if len(body) > MAX_MESSAGE:
        raise PayloadTooLarge(f"a DNS message has at most {MAX_MESSAGE} bytes")


def _dns_param(query_string: bytes) -> str:
    for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if name == "dns":
            return value
    raise BadDnsRequest("the dns query parameter is required")


async def _resolve(
    state: Any, token: str, wire: bytes
) -> tuple[Answered, Callable[[], None] | None]:
    """The answer, and the detection to record once it is sent (None: nothing to record)."""
    resolver = service.resolver(state.ctx, state)
    answered, detection, device_id = await resolver.resolve(token, wire)
    if detection is None:
        return answered, None
    return answered, functools.partial(resolver.record, device_id, detection)


def _response(answered: Answered, record: Callable[[], None] | None) -> Response:
    return Response(
        answered.response,
        media_type=DNS_MESSAGE,
        headers={"Cache-Control": f"max-age={answered.max_age}"},
        background=BackgroundTask(record) if record is not None else None,
    )


@router.get(
    "/dns-query/{device_token}",
    response_class=Response,
    responses={200: _DNS_BODY, **_DOH_ERRORS},
)
async def doh_get(
    device_token: DeviceToken,
    request: Request,
    dns: Annotated[
        str | None,
        Query(description="The DNS query in wire format, base64url-encoded without padding."),
    ] = None,
) -> Response:
    """DNS-over-HTTPS (RFC 8484) GET: the query in `dns`, base64url without padding.

    Names the web index blocks, or warns about, get the policy's block answer and raise a
    Phishing detection for the device; other names are resolved through the upstream resolver.
    """
    if dns is None:
        raise BadDnsRequest("the dns query parameter is required")
    return _response(*await _resolve(request.app.state, device_token, _decode_b64url(dns)))


@router.post(
    "/dns-query/{device_token}",
    response_class=Response,
    responses={
        200: _DNS_BODY,
        **_DOH_ERRORS,
        **responses(
            _413=f"body larger than {MAX_MESSAGE} bytes",
            _415=f"Content-Type is not {DNS_MESSAGE}",
        ),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {DNS_MESSAGE: {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def doh_post(device_token: DeviceToken, request: Request) -> Response:
    """DNS-over-HTTPS (RFC 8484) POST: the query as the body, application/dns-message."""
    _check_post(request.headers.get("content-type", ""), request.headers.get("content-length", ""))
    body = bytearray()
    async for chunk in request.stream():
        _add_chunk(body, chunk)
    return _response(*await _resolve(request.app.state, device_token, bytes(body)))


class DohFastPath:
    """Pure ASGI middleware that answers /dns-query/<token> before routing.

    It serves exactly what the two routes above serve (they share every function; the routes
    document the endpoint and answer when this middleware is not installed). DoH is the busiest
    path of the server and a cached answer costs ~50 us; FastAPI's routing, dependency
    solving and the middleware stack would add ~100 us more to each query, so DoH skips them.
    Unexpected errors still reach the app's error handling (this runs inside it).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if (
            scope["type"] != "http"
            or not path.startswith(DOH_PREFIX)
            or scope["method"] not in ("GET", "POST")
            or "/" in path[len(DOH_PREFIX) :]
            or len(path) == len(DOH_PREFIX)
        ):
            await self.app(scope, receive, send)
            return
        token = path[len(DOH_PREFIX) :]
        try:
            if scope["method"] == "GET":
                wire = _decode_b64url(_dns_param(scope.get("query_string", b"")))
            else:
                headers = {k: v for k, v in scope["headers"] if k in _POST_HEADERS}
                _check_post(
                    headers.get(b"content-type", b"").decode("latin-1"),
                    headers.get(b"content-length", b"").decode("latin-1"),
                )
                body = bytearray()
                while True:
                    message = await receive()
                    if message["type"] != "http.request":
                        return  # the client went away
                    _add_chunk(body, message.get("body", b""))
                    if not message.get("more_body", False):
                        break
                wire = bytes(body)
            answered, record = await _resolve(scope["app"].state, token, wire)
        except OpenMTDError as e:
            await _send(
                send,
                e.status,
                orjson.dumps({"error": {"code": e.code, "message": e.message}}),
                [(b"content-type", b"application/json")],
            )
            return
        await _send(
            send,
            200,
            answered.response,
            [
                (b"content-type", _DNS_MESSAGE_BYTES),
                (b"cache-control", b"max-age=%d" % answered.max_age),
            ],
        )
        if record is not None:
            await run_in_threadpool(record)


_POST_HEADERS = frozenset({b"content-type", b"content-length"})
_DNS_MESSAGE_BYTES = DNS_MESSAGE.encode()


async def _send(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                *headers,
                (b"content-length", b"%d" % len(body)),
                (b"x-content-type-options", b"nosniff"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


# -- admin: issuing profiles --------------------------------------------------------------


class DnsProfileOut(BaseModel):
    device_id: str
    doh_url: str = Field(description="The device's DoH URL; it contains its secret token.")
    mobileconfig_base64: str = Field(
        description="The iOS/macOS configuration profile (application/x-apple-aspen-config)."
    )
    mobileconfig_filename: str
    android_instructions: str


class DnsProfileStatus(BaseModel):
    device_id: str
    token_issued: bool = Field(description="Whether a DoH token exists (it is never shown again).")
    endpoint: str = Field(description="Where the device's DoH URL points, without the token.")


_ISSUE = responses(401, 403, 404, _409="the device is retired")


@router.post(
    "/api/devices/{device_id}/dns-profile",
    response_model=DnsProfileOut,
    status_code=201,
    responses=_ISSUE,
)
def issue_profile(
    device_id: DeviceIdStr,
    p: Admin,
    db: Db,
    ctx: Ctx,
    now: Now,
    request: Request,
    response: Response,
) -> DnsProfileOut:
    """Issue a new DoH token for the device (admin) and return its DNS profile.

    The token is in the URL and the profile, and is shown only now: issuing again rotates it
    (the earlier URL stops working within seconds). Audit-logged.
    """
    profile = service.issue_profile(
        db, ctx, request.app.state, actor=p.username, device_id=device_id, now=now
    )
    response.headers["Cache-Control"] = "no-store"
    return DnsProfileOut(
        device_id=profile.device_id,
        doh_url=profile.doh_url,
        mobileconfig_base64=base64.b64encode(profile.mobileconfig).decode("ascii"),
        mobileconfig_filename=profile.mobileconfig_filename,
        android_instructions=profile.android_instructions,
    )


@router.post(
    "/api/devices/{device_id}/dns-profile.mobileconfig",
    response_class=Response,
    status_code=201,
    responses={
        201: {
            "description": "The configuration profile, as a file.",
            "content": {profiles.MOBILECONFIG_TYPE: {"schema": {"type": "string"}}},
        },
        **_ISSUE,
    },
)
def issue_mobileconfig(
    device_id: DeviceIdStr, p: Admin, db: Db, ctx: Ctx, now: Now, request: Request
) -> Response:
    """Issue a new DoH token for the device (admin) and download its iOS profile.

    A POST, not a GET: every download issues a new token (the old one stops working), since a
    secret shown once cannot be fetched again.
    """
    profile = service.issue_profile(
        db, ctx, request.app.state, actor=p.username, device_id=device_id, now=now
    )
    return Response(
        profile.mobileconfig,
        status_code=201,
        media_type=profiles.MOBILECONFIG_TYPE,
        headers={
            "Content-Disposition": f'attachment; filename="{profile.mobileconfig_filename}"',
            "Cache-Control": "no-store",
        },
    )


@router.get(
    "/api/devices/{device_id}/dns-profile",
    response_model=DnsProfileStatus,
    responses=responses(401, 403, 404),
)
def profile_status(device_id: DeviceIdStr, _p: ReadOnly, db: Db, ctx: Ctx) -> DnsProfileStatus:
    """Whether the device has a DoH token; the token itself is never shown again."""
    issued = service.has_dns_token(db, device_id=device_id)
    return DnsProfileStatus(
        device_id=device_id,
        token_issued=issued,
        endpoint=profiles.doh_url(ctx.settings.public_url, "…"),
    )
