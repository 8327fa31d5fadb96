"""Incremental re-imports: which records of a fresh parse differ from the last import.

The store keeps, per source, each record's `revision` from the last import. A record is
unchanged when its revision is the same now. The revision is the feed's own modification time
(``VulnRecord.modified``: OSV "modified", CVE JSON 5 "dateUpdated", NVD "lastModified") when the
feed gives one, else a digest of the record's content: SOFA has no per-CVE time, and a CVE it
marks exploited after the fact must still count as changed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

from openmtd.domain.vulns import VulnRecord


def revision(record: VulnRecord) -> str:
    """What to store for `record` and compare on the next import (at most 71 characters)."""
    if record.modified and len(record.modified) <= 64:
        return record.modified
    return "sha256:" + hashlib.sha256(repr(record).encode("utf-8")).hexdigest()


def incremental(
    previous: Mapping[str, str], records: Sequence[VulnRecord]
) -> tuple[list[VulnRecord], list[str]]:
    """Split `records` into (new or changed records, ids of unchanged ones).

    `previous` maps a record id to its `revision` at the last import, for one source (ids of
    different sources may coincide: "CVE-…" from NVD and from CVE JSON 5). Ids keep the order of
    `records`; an id repeated in `records` is judged each time and listed once.
    """
    changed: list[VulnRecord] = []
    unchanged: dict[str, None] = {}
    for record in records:
        if previous.get(record.id) == revision(record):
            unchanged.setdefault(record.id, None)
        else:
            changed.append(record)
    return changed, list(unchanged)
