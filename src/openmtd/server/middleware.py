"""Pure ASGI middleware (no BaseHTTPMiddleware): request body limits and security headers."""

from __future__ import annotations

import orjson
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def is_apk_upload(path: str) -> bool:
    """An agent's APK upload or an analyst's APK submission: whole APK files as bodies."""
    return path == "/api/apps/analyses" or (
        path.startswith("/api/agent/v1/devices/") and "/apks/" in path
    )


class BodyLimit:
    """Refuse bodies larger than the limit for their path with 413, before reading them."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        agent_limit: int,
        default_limit: int,
        import_limit: int | None = None,
        import_paths: tuple[str, ...] = (),
        apk_limit: int | None = None,
    ) -> None:
        self.app = app
        self.apk_limit = apk_limit or default_limit
        self.agent_limit = agent_limit
        self.default_limit = default_limit
        self.import_limit = import_limit or default_limit
        self.import_paths = import_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        if is_apk_upload(path):
            limit = self.apk_limit
        elif path.startswith("/api/agent/"):
            limit = self.agent_limit
        elif path in self.import_paths:
            limit = self.import_limit
        else:
            limit = self.default_limit
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await _reject(send, 400, "bad_request", "Content-Length is not a number")
                    return
                if declared > limit:
                    await _too_large(send, limit)
                    return
        received = 0
        too_large = False

        async def limited_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    too_large = True
                    raise _BodyTooLarge(limit)
            return message

        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await _too_large(send, limit)


class _BodyTooLarge(HTTPException):
    """Raised from receive() while the app reads a body (chunked, or longer than declared).

    An HTTPException, so that FastAPI re-raises it from its body parsing (it turns any other
    exception into a 400) and the app's handler answers with the 413 envelope.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body exceeds {limit} bytes")


async def _too_large(send: Send, limit: int) -> None:
    await _reject(send, 413, "payload_too_large", f"request body exceeds {limit} bytes")


async def _reject(send: Send, status: int, code: str, message: str) -> None:
    body = orjson.dumps({"error": {"code": code, "message": message}})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class SecurityHeaders:
    """Conservative browser hardening headers on every response."""

    HEADERS = [
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"same-origin"),
        (
            b"content-security-policy",
            b"default-src 'self'; img-src 'self' data:; style-src 'self'; "
            b"script-src 'self'; frame-ancestors 'none'; form-action 'self'",
        ),
    ]

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers.extend(h for h in self.HEADERS if h[0] not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
