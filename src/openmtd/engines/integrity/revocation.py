"""Google's attestation key revocation list (https://android.googleapis.com/attestation/status).

The list is JSON: ``{"entries": {"<serial>": {"status": "REVOKED" | "SUSPENDED",
"reason": ..., "expires": ..., "comment": ...}}}``. Google names each certificate by its
serial number in lower-case hex (its own test data also has decimal-looking keys, which are
hex too), so serials are parsed from hex and compared as integers. A suspended key is treated
like a revoked one by the verifier. Fetching the list is the caller's business; this module
only reads the bytes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

MAX_STATUS_BYTES = 8 * 1024 * 1024
STATUSES = frozenset({"REVOKED", "SUSPENDED"})
REASONS = frozenset(
    {"UNSPECIFIED", "KEY_COMPROMISE", "CA_COMPROMISE", "SUPERSEDED", "SOFTWARE_FLAW"}
)
_SERIAL = re.compile(r"[0-9a-fA-F]{1,64}")


class RevocationList:
    """Revoked or suspended attestation certificates: serial -> (status, reason)."""

    __slots__ = ("_entries",)

    def __init__(self, entries: Mapping[int, tuple[str, str]] | None = None) -> None:
        self._entries: dict[int, tuple[str, str]] = dict(entries or {})

    @classmethod
    def empty(cls) -> RevocationList:
        return cls()

    def lookup(self, serial: int) -> tuple[str, str] | None:
        """(status, reason) of the certificate with this serial, or None when it is fine."""
        return self._entries.get(serial)

    def serials(self) -> frozenset[int]:
        return frozenset(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, serial: object) -> bool:
        return serial in self._entries

    def __repr__(self) -> str:
        return f"RevocationList({len(self._entries)} entries)"


def parse_status_json(data: bytes) -> RevocationList:
    """Read Google's status.json; ValueError with a precise message when it is not one."""
    if len(data) > MAX_STATUS_BYTES:
        raise ValueError(
            f"the revocation list is {len(data)} bytes; at most {MAX_STATUS_BYTES} are accepted"
        )
    try:
        document = json.loads(data)
    except (ValueError, RecursionError) as e:
        raise ValueError(f"the revocation list is not JSON: {e}") from None
    if not isinstance(document, dict) or not isinstance(document.get("entries"), dict):
        raise ValueError('the revocation list must be a JSON object with an "entries" object')
    entries: dict[int, tuple[str, str]] = {}
    for key, entry in document["entries"].items():
        serial = _serial(key)
        if serial in entries:
            raise ValueError(f"serial {key!r} appears more than once in the revocation list")
        entries[serial] = _status_and_reason(key, entry)
    return RevocationList(entries)


def _serial(key: str) -> int:
    if not _SERIAL.fullmatch(key):
        raise ValueError(
            f"revocation entry key {key[:80]!r} is not a certificate serial number in hex"
        )
    return int(key, 16)


def _status_and_reason(key: str, entry: object) -> tuple[str, str]:
    if not isinstance(entry, dict):
        raise ValueError(f"revocation entry {key!r} must be an object")
    status = entry.get("status")
    if not isinstance(status, str) or status not in STATUSES:
        raise ValueError(
            f"revocation entry {key!r} has status {status!r}; expected one of "
            f"{', '.join(sorted(STATUSES))}"
        )
    reason = entry.get("reason", "UNSPECIFIED")
    if not isinstance(reason, str) or reason not in REASONS:
        raise ValueError(
            f"revocation entry {key!r} has reason {reason!r}; expected one of "
            f"{', '.join(sorted(REASONS))}"
        )
    for optional in ("expires", "comment"):
        if optional in entry and not isinstance(entry[optional], str):
            raise ValueError(f"revocation entry {key!r}: {optional!r} must be a string")
    return status, reason
