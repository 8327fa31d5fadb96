"""The webhook body and its signature.

Body (the `openmtd` format): `{"idempotency_key", "topic", "occurred_at", "data"}` as compact
UTF-8 JSON, the same bytes on every attempt. Signature: HMAC-SHA256 with the sink's secret over
`"<timestamp>.<raw body>"`, sent as `X-OpenMTD-Signature: sha256=<hex>` beside
`X-OpenMTD-Timestamp: <unix seconds>`; a receiver recomputes it over the raw body, compares in
constant time and refuses timestamps too far from its clock (replays).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from openmtd.engines.export.event import iso

SIGNATURE_HEADER = "X-OpenMTD-Signature"
TIMESTAMP_HEADER = "X-OpenMTD-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"
TOPIC_HEADER = "X-OpenMTD-Topic"
ATTEMPT_HEADER = "X-OpenMTD-Attempt"
DEFAULT_TOLERANCE_SECONDS = 300


def body(*, key: str, topic: str, occurred_at: datetime, data: Mapping[str, Any]) -> bytes:
    """The `openmtd` webhook body."""
    document: dict[str, Any] = {
        "idempotency_key": key,
        "topic": topic,
        "occurred_at": iso(occurred_at),
        "data": dict(data),
    }
    return compact_json(document)


def compact_json(document: Mapping[str, Any]) -> bytes:
    return json.dumps(
        document, separators=(",", ":"), ensure_ascii=False, sort_keys=False, default=str
    ).encode("utf-8")


def signature(secret: bytes, timestamp: int, raw_body: bytes) -> str:
    """`sha256=<hex HMAC-SHA256 over "<timestamp>.<raw body>">`."""
    mac = hmac.new(secret, str(timestamp).encode("ascii") + b"." + raw_body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(
    secret: bytes,
    *,
    timestamp: str,
    raw_body: bytes,
    signature_header: str,
    now: int,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
) -> bool:
    """What a receiver does: the timestamp is recent and the signature matches."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs(now - sent) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, sent, raw_body), signature_header)
