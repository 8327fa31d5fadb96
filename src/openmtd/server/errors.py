"""Maps every error to the one JSON envelope: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from openmtd.domain.errors import OpenMTDError

log = logging.getLogger("openmtd.server")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
}


def envelope(status: int, code: str, message: str, details: Any = None) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if details:
        body["details"] = details
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()))
        out.append({"field": loc, "problem": str(err.get("msg", "invalid"))})
    return out


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(OpenMTDError)
    async def _domain(_req: Request, exc: OpenMTDError) -> JSONResponse:
        return envelope(exc.status, exc.code, exc.message, exc.details or None)

    @app.exception_handler(RequestValidationError)
    async def _validation(_req: Request, exc: RequestValidationError) -> JSONResponse:
        details = _validation_details(exc)
        first = details[0] if details else {"field": "body", "problem": "invalid"}
        message = f"invalid request: {first['field']}: {first['problem']}"
        return envelope(422, "invalid_input", message, details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_req: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "error")
        return envelope(exc.status_code, code, str(exc.detail))

    @app.exception_handler(DataError)
    async def _data(_req: Request, exc: DataError) -> JSONResponse:
        # The database refused a value the schemas let through (PostgreSQL: a NUL character,
        # a string longer than its column ...). The transaction was rolled back.
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else "invalid"
        return envelope(422, "invalid_input", f"a value in the request cannot be stored: {reason}")

    @app.exception_handler(Exception)
    async def _unexpected(_req: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=exc)
        return envelope(500, "internal_error", "internal error; the server log has the details")


_DESCRIPTIONS = {
    304: "unchanged since the ETag in If-None-Match",
    401: "not signed in, or a missing, unknown, expired or revoked credential",
    403: "the caller's role or device may not do this",
    404: "no such object",
    409: "conflicts with the current state",
    413: "request body larger than the configured limit",
    422: "malformed or refused input",
    429: "too many requests of this kind at once; retry later",
}


class ErrorBody(BaseModel):
    code: str = Field(description="Stable machine-readable reason, e.g. report_id_reused.")
    message: str = Field(description="What went wrong, for a person.")
    details: Any = Field(default=None, description="Per-field problems or other context.")


class ErrorEnvelope(BaseModel):
    """Every error the API answers, whatever its status."""

    error: ErrorBody


def responses(*codes: int, **described: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the error codes a route can answer (all in the error envelope).

    Codes come as numbers with the standard description, or as `_409="why"` keywords.
    """
    texts = {c: _DESCRIPTIONS[c] for c in codes}
    texts.update({int(key.lstrip("_")): text for key, text in described.items()})
    return {
        code: {"description": text}
        if code == 304
        else {"description": text, "model": ErrorEnvelope}
        for code, text in texts.items()
    }


# On every API router: FastAPI would otherwise document its own 422 body, which we never send.
API_ERRORS = responses(422)
