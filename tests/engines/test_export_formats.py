"""OCSF Detection Finding, the webhook body and signature, the event snapshot, and backoff."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_export_cef import AT, event

from openmtd.domain.enums import AlertClassification, AlertStatus, Severity
from openmtd.engines.export import webhook
from openmtd.engines.export.event import AlertChange, AlertEvent, epoch_ms
from openmtd.engines.export.ocsf import detection_finding
from openmtd.engines.export.retry import backoff_seconds

MS = int(AT.timestamp() * 1000)


def test_detection_finding_create() -> None:
    doc = detection_finding(event(), version="0.1.0")
    assert doc["class_uid"] == 2004 and doc["class_name"] == "Detection Finding"
    assert doc["category_uid"] == 2 and doc["category_name"] == "Findings"
    assert (doc["activity_id"], doc["activity_name"]) == (1, "Create")
    assert doc["type_uid"] == 200401
    assert (doc["severity_id"], doc["severity"]) == (4, "High")
    assert (doc["status_id"], doc["status"]) == (1, "New")
    assert doc["time"] == MS
    info = doc["finding_info"]
    assert info["uid"] == "7"
    assert info["title"] == event().title
    assert info["created_time"] == MS and info["modified_time"] == MS
    assert info["types"] == ["Malware"]
    assert doc["metadata"]["product"] == {
        "name": "openmtd",
        "vendor_name": "openmtd",
        "version": "0.1.0",
    }
    assert doc["metadata"]["version"] == "1.3.0"
    assert doc["metadata"]["uid"] == event().key
    assert doc["device"]["uid"] == "0b6f0d52-2d5c-4f3c-9a53-8d6f3b2c9e11"
    assert doc["device"]["type_id"] == 5
    assert doc["device"]["os"]["type_id"] == 201
    assert doc["unmapped"]["evidence"] == {"package": "com.evil.app", "note": "a=b\nc\\d"}
    json.dumps(doc)  # plain JSON


@pytest.mark.parametrize(
    ("change", "status", "activity", "status_id"),
    [
        (AlertChange.UPDATED, AlertStatus.IN_PROGRESS, 2, 2),
        (AlertChange.RESOLVED, AlertStatus.RESOLVED, 3, 4),
    ],
)
def test_detection_finding_update_and_close(
    change: AlertChange, status: AlertStatus, activity: int, status_id: int
) -> None:
    later = AT + timedelta(minutes=5)
    doc = detection_finding(
        event(change=change, status=status, occurred_at=later, last_seen=later), version="1"
    )
    assert doc["activity_id"] == activity and doc["type_uid"] == 2004 * 100 + activity
    assert doc["status_id"] == status_id
    assert doc["finding_info"]["created_time"] == MS
    assert doc["finding_info"]["modified_time"] == epoch_ms(later)


@pytest.mark.parametrize(
    ("severity", "number"),
    [(Severity.INFORMATIONAL, 1), (Severity.LOW, 2), (Severity.MEDIUM, 3), (Severity.HIGH, 4)],
)
def test_ocsf_severity(severity: Severity, number: int) -> None:
    assert detection_finding(event(severity=severity), version="1")["severity_id"] == number


def test_classification_becomes_the_verdict() -> None:
    doc = detection_finding(event(classification=AlertClassification.FALSE_POSITIVE), version="1")
    assert (doc["verdict_id"], doc["verdict"]) == (1, "False Positive")


def test_the_snapshot_round_trips_and_bad_ones_are_named() -> None:
    original = event(resolved_at=AT, assigned_to="ana")
    assert AlertEvent.from_payload(original.key, original.to_payload()) == original
    with pytest.raises(ValueError, match="not an alert event"):
        AlertEvent.from_payload("k", {"change": "raised"})


def test_webhook_body_and_signature() -> None:
    body = webhook.body(
        key="alert:1:raised:x", topic="alert", occurred_at=AT, data={"a": "é", "n": 1}
    )
    assert json.loads(body) == {
        "idempotency_key": "alert:1:raised:x",
        "topic": "alert",
        "occurred_at": "2026-11-26T12:00:00.000000Z",
        "data": {"a": "é", "n": 1},
    }
    sig = webhook.signature(b"s3cret-s3cret-s3cret", 1_700_000_000, body)
    # Independent computation of the documented construction.
    import hashlib
    import hmac

    assert (
        sig
        == "sha256="
        + hmac.new(b"s3cret-s3cret-s3cret", b"1700000000." + body, hashlib.sha256).hexdigest()
    )
    ok = {"timestamp": "1700000000", "raw_body": body, "signature_header": sig}
    assert webhook.verify(b"s3cret-s3cret-s3cret", **ok, now=1_700_000_100)
    assert not webhook.verify(b"other-secret-xxxxxx", **ok, now=1_700_000_100)
    assert not webhook.verify(b"s3cret-s3cret-s3cret", **ok, now=1_700_000_400)  # replay
    assert not webhook.verify(
        b"s3cret-s3cret-s3cret", **(ok | {"raw_body": body + b" "}), now=1_700_000_000
    )
    assert not webhook.verify(
        b"s3cret-s3cret-s3cret", **(ok | {"timestamp": "soon"}), now=1_700_000_000
    )


def test_backoff_doubles_up_to_the_cap_with_equal_jitter() -> None:
    assert [backoff_seconds(n, base=2, cap=60, jitter=1.0) for n in range(1, 8)] == [
        2,
        4,
        8,
        16,
        32,
        60,
        60,
    ]
    assert backoff_seconds(3, base=2, cap=60, jitter=0.0) == 4  # half of 8
    assert backoff_seconds(10_000, base=2, cap=3600, jitter=1.0) == 3600
    with pytest.raises(ValueError):
        backoff_seconds(0, base=1, cap=1, jitter=0.5)


@given(st.integers(1, 200), st.floats(0, 1))
def test_backoff_stays_within_bounds(attempts: int, jitter: float) -> None:
    delay = backoff_seconds(attempts, base=1.5, cap=900, jitter=jitter)
    full = min(900, 1.5 * 2 ** (attempts - 1))
    assert full / 2 <= delay <= full


def test_epoch_ms_is_exact() -> None:
    at = datetime(2026, 11, 26, 12, 0, 0, 999999, tzinfo=UTC)
    assert epoch_ms(at) == 1795694400999
