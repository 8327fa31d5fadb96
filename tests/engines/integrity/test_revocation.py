"""Google's attestation status list: the real test file and every malformed shape."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import SHARED
from openmtd.engines.integrity.revocation import (
    MAX_STATUS_BYTES,
    RevocationList,
    parse_status_json,
)

STATUS_JSON = SHARED / "data" / "android-key-attestation" / "status.json"


def test_googles_sample_status_list_parses() -> None:
    revocations = parse_status_json(STATUS_JSON.read_bytes())
    assert len(revocations) == 5
    statuses = sorted(str(revocations.lookup(s)) for s in revocations.serials())
    assert statuses == ["('REVOKED', 'KEY_COMPROMISE')"] * 4 + ["('SUSPENDED', 'KEY_COMPROMISE')"]
    assert revocations.lookup(0xCC66E9A93713B6E643B26C15879786F7) == (
        "SUSPENDED",
        "KEY_COMPROMISE",
    )
    # keys are hex even when they look decimal, as Google publishes them
    assert revocations.lookup(0x6681152659205225093) == ("REVOKED", "KEY_COMPROMISE")
    assert revocations.lookup(6681152659205225093) is None
    assert 0x9C0C2B97FBC3C45F not in revocations


def test_empty_list_and_reason_default() -> None:
    assert len(RevocationList.empty()) == 0
    revocations = parse_status_json(b'{"entries": {"ABC": {"status": "REVOKED"}}}')
    assert revocations.lookup(0xABC) == ("REVOKED", "UNSPECIFIED")
    assert parse_status_json(b'{"entries": {}}').lookup(1) is None
    assert "1 entries" in repr(revocations)


def entries(body: object) -> bytes:
    return json.dumps({"entries": body}).encode()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"{", "not JSON"),
        (b"\xff\xfe\x00", "not JSON"),
        (b"[" * 100_000, "not JSON"),
        (b"[]", 'must be a JSON object with an "entries" object'),
        (b'{"entries": []}', 'must be a JSON object with an "entries" object'),
        (b"{}", 'must be a JSON object with an "entries" object'),
        (entries({"xyz": {"status": "REVOKED"}}), "'xyz' is not a certificate serial number"),
        (entries({"": {"status": "REVOKED"}}), "not a certificate serial number"),
        (entries({"-1": {"status": "REVOKED"}}), "not a certificate serial number"),
        (entries({"1" * 65: {"status": "REVOKED"}}), "not a certificate serial number"),
        (entries({"a": "REVOKED"}), "entry 'a' must be an object"),
        (entries({"a": {}}), "status None"),
        (entries({"a": {"status": "GONE"}}), "status 'GONE'; expected one of REVOKED, SUSPENDED"),
        (entries({"a": {"status": ["REVOKED"]}}), "status ['REVOKED']"),
        (entries({"a": {"status": "REVOKED", "reason": "BORED"}}), "reason 'BORED'"),
        (entries({"a": {"status": "REVOKED", "reason": {}}}), "reason {}"),
        (entries({"a": {"status": "REVOKED", "comment": 5}}), "'comment' must be a string"),
        (entries({"a": {"status": "REVOKED", "expires": None}}), "'expires' must be a string"),
        (entries({"0a": {"status": "REVOKED"}, "A": {"status": "REVOKED"}}), "more than once"),
        (b" " * (MAX_STATUS_BYTES + 1), "at most 8388608"),
    ],
)
def test_malformed_lists_raise_value_error_with_a_precise_message(
    data: bytes, message: str
) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_status_json(data)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)


@given(json_values)
def test_any_json_document_parses_or_raises_value_error(document: object) -> None:
    for data in (json.dumps(document).encode(), entries(document)):
        with contextlib.suppress(ValueError):
            parse_status_json(data)


@given(st.binary(max_size=256))
def test_any_bytes_parse_or_raise_value_error(data: bytes) -> None:
    with contextlib.suppress(ValueError):
        parse_status_json(data)
