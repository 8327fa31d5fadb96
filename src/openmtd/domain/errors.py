"""The one error hierarchy; the server maps it to one JSON error envelope."""

from __future__ import annotations

from typing import Any


class OpenMTDError(Exception):
    """Base of every error the product reports to a user or a device."""

    status = 400
    code = "error"

    def __init__(self, message: str, *, code: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details


class InvalidInput(OpenMTDError):
    status = 422
    code = "invalid_input"


class NotFound(OpenMTDError):
    status = 404
    code = "not_found"


class Conflict(OpenMTDError):
    status = 409
    code = "conflict"


class Unauthorized(OpenMTDError):
    status = 401
    code = "unauthorized"


class Forbidden(OpenMTDError):
    status = 403
    code = "forbidden"


class PayloadTooLarge(OpenMTDError):
    status = 413
    code = "payload_too_large"


class TooManyRequests(OpenMTDError):
    status = 429
    code = "too_many_requests"
