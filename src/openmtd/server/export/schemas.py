"""Export API bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class SinkStatusOut(BaseModel):
    name: str
    kind: Literal["webhook", "syslog"]
    format: Literal["openmtd", "ocsf", "cef"]
    topics: list[str]
    target: str = Field(description="Where events go, without secrets.")
    pending: int = Field(description="Events waiting for delivery (or a retry).")
    delivered: int = Field(description="Events delivered within the retention time.")
    dead: int = Field(description="Events that used up their attempts; POST .../retry to resend.")
    last_delivered_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    oldest_pending_at: datetime | None


class ExportTestOut(BaseModel):
    sink: str
    key: str = Field(description="The test event's idempotency key.")


class ExportRetryOut(BaseModel):
    sink: str
    requeued: int
