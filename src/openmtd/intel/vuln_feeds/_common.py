"""What every vulnerability-feed parser shares: limits, JSON loading, field readers that raise
`RecordError` with the field's path, and the `Collector` that builds an `ImportResult`.

A parser turns one malformed record into one `ImportProblem` (the record's id, or "#<index>"
when it has none, and a reason naming the field) and goes on; only a document that is not the
expected kind of document at all raises ValueError.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from datetime import date
from typing import Any

import orjson

from openmtd.domain.vulns import ImportProblem, ImportResult, VulnRecord

MAX_INPUT_BYTES = 256 * 1024 * 1024  # a whole document (gzip: after decompression)
MAX_RANGES_PER_RECORD = 10_000
MAX_ID_CHARS = 200  # ids, package names, CPEs: longer is an error, never cut
MAX_VERSION_CHARS = 128
MAX_SUMMARY_CHARS = 4_000  # descriptions are cut here
MAX_URL_CHARS = 2_048  # longer references are left out
MAX_REFERENCES = 200
MAX_ALIASES = 100
MAX_PROBLEMS = 1_000  # problems listed; the rest are summed up in one last problem
MAX_REASON_CHARS = 300

CVE_ID = re.compile(r"CVE-\d{4}-\d{4,12}")


class RecordError(Exception):
    """One record cannot be used; the message names the field and what is wrong with it."""


def check_size(data: bytes) -> None:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ValueError(f"expected bytes, found {type(data).__name__}")
    if len(data) > MAX_INPUT_BYTES:
        raise ValueError(f"input of {len(data)} bytes, more than the {MAX_INPUT_BYTES} allowed")


def load_json(data: bytes) -> Any:
    """The JSON document in `data` (UTF-8, a BOM allowed). Raises ValueError."""
    check_size(data)
    raw = bytes(data)
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    if not raw.strip():
        raise ValueError("empty input, expected JSON")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise ValueError(f"not JSON: {e}") from None


def kind(value: object) -> str:
    """What a JSON value is, for a message (never its repr: it may be huge)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int | float):
        return "a number"
    return f"a {type(value).__name__}"


def shown(text: str, limit: int = 60) -> str:
    """A value quoted for a message, cut to `limit` characters."""
    return repr(text[:limit] + ("…" if len(text) > limit else ""))


def obj(value: object, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RecordError(f"{path} is {kind(value)}, not an object")
    return value


def opt_obj(value: object, path: str) -> dict[str, Any]:
    return {} if value is None else obj(value, path)


def array(value: object, path: str) -> list[Any]:
    """A JSON array; a missing (null) one is empty."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise RecordError(f"{path} is {kind(value)}, not an array")
    return value


def text(value: object, path: str, limit: int = MAX_SUMMARY_CHARS) -> str:
    """Free text, stripped and cut to `limit` characters; null is ""."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise RecordError(f"{path} is {kind(value)}, not a string")
    return value.strip()[:limit]


def ident(value: object, path: str, limit: int = MAX_ID_CHARS) -> str:
    """An identifier: a non-empty string without control characters, never cut."""
    if not isinstance(value, str):
        raise RecordError(f"{path} is {kind(value)}, not a string")
    value = value.strip()
    if not value:
        raise RecordError(f"{path} is empty")
    if len(value) > limit:
        raise RecordError(f"{path} has {len(value)} characters, more than {limit}")
    if not value.isprintable():
        raise RecordError(f"{path} {shown(value)} holds control characters")
    return value


def version(value: object, path: str) -> str:
    return ident(value, path, MAX_VERSION_CHARS)


def opt_ident(value: object, path: str, limit: int = MAX_ID_CHARS) -> str:
    return "" if value is None or value == "" else ident(value, path, limit)


def idents(value: object, path: str, limit: int = MAX_ID_CHARS) -> list[str]:
    return [ident(v, f"{path}[{i}]", limit) for i, v in enumerate(array(value, path))]


def iso_date(value: object, path: str) -> date | None:
    """The date of an ISO 8601 date or timestamp ("2023-06-23T18:15:13.720"); null is None."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise RecordError(f"{path} is {kind(value)}, not a date")
    try:
        return date.fromisoformat(value.strip()[:10])
    except ValueError:
        raise RecordError(f"{path} {shown(value)} is not an ISO 8601 date") from None


def timestamp(value: object, path: str) -> str:
    """A modification time kept as the feed writes it (compared as text on re-import)."""
    if value is None:
        return ""
    stamp = ident(value, path, 64)
    if not stamp[:4].isdigit():
        raise RecordError(f"{path} {shown(stamp)} is not an ISO 8601 timestamp")
    return stamp


def urls(values: Iterable[str]) -> tuple[str, ...]:
    """References: http(s) URLs, each once, in order; overlong ones and the excess left out."""
    kept: dict[str, None] = {}
    for url in values:
        url = url.strip()
        if (
            url.startswith(("https://", "http://"))
            and len(url) <= MAX_URL_CHARS
            and url.isprintable()
        ):
            kept.setdefault(url, None)
            if len(kept) >= MAX_REFERENCES:
                break
    return tuple(kept)


def aliases_cve_first(values: Iterable[str], own_id: str) -> tuple[str, ...]:
    unique = [v for v in dict.fromkeys(values) if v != own_id][:MAX_ALIASES]
    return tuple(sorted(unique, key=lambda v: not v.startswith("CVE-")))


def cvss_ordered(vectors: Iterable[str]) -> tuple[str, ...]:
    """CVSS vectors, v4 first then v3.1 and v3.0, each once; v2 (no "CVSS:" prefix) and
    anything else are left out."""
    rank = {"CVSS:4.0/": 0, "CVSS:3.1/": 1, "CVSS:3.0/": 2}
    unique = [
        v for v in dict.fromkeys(vectors) if v[:9] in rank and len(v) <= 300 and v.isprintable()
    ]
    return tuple(sorted(unique, key=lambda v: rank[v[:9]]))


def check_range_count(count: int) -> None:
    if count > MAX_RANGES_PER_RECORD:
        raise RecordError(f"{count} affected ranges, more than the {MAX_RANGES_PER_RECORD} allowed")


class Collector:
    """Records, problems and skip counts of one import, turned into an ImportResult."""

    __slots__ = ("_extra_problems", "problems", "records", "skipped")

    def __init__(self) -> None:
        self.records: list[VulnRecord] = []
        self.problems: list[ImportProblem] = []
        self.skipped: Counter[str] = Counter()
        self._extra_problems = 0

    def problem(self, record: str, reason: str) -> None:
        if len(self.problems) >= MAX_PROBLEMS:
            self._extra_problems += 1
            return
        self.problems.append(ImportProblem(record[:MAX_ID_CHARS], reason[:MAX_REASON_CHARS]))

    def skip(self, reason: str, count: int = 1) -> None:
        if count:
            self.skipped[reason] += count

    def result(self) -> ImportResult:
        problems = list(self.problems)
        if self._extra_problems:
            problems.append(
                ImportProblem("*", f"{self._extra_problems} further problems not listed")
            )
        return ImportResult(
            records=tuple(self.records),
            problems=tuple(problems),
            skipped=tuple(sorted(self.skipped.items())),
        )


def record_label(item: object, index: int, key: str = "id") -> str:
    """A record's id for a problem: its id when it has a usable one, else "#<index>"."""
    if isinstance(item, dict):
        value = item.get(key)
        if isinstance(value, str) and value.strip() and len(value) <= MAX_ID_CHARS:
            return value.strip()
    return f"#{index}"
