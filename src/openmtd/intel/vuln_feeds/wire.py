"""Vulnerability records as JSON documents (what the store keeps), and back."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from openmtd.domain.vulns import Affected, Product, VersionRange, VulnRecord, VulnSource


def record_to_json(r: VulnRecord) -> dict[str, Any]:
    return {
        "id": r.id,
        "source": r.source.value,
        "aliases": list(r.aliases),
        "summary": r.summary,
        "published": r.published.isoformat() if r.published else None,
        "modified": r.modified,
        "severity": r.severity,
        "cvss": list(r.cvss),
        "affected": [
            {
                "product": a.product.value,
                "package": a.package,
                "component": a.component,
                "ranges": [[x.start, x.start_inclusive, x.end, x.end_inclusive] for x in a.ranges],
            }
            for a in r.affected
        ],
        "references": list(r.references),
        "exploited": r.exploited,
    }


def record_from_json(doc: Mapping[str, Any]) -> VulnRecord:
    """The record `record_to_json` wrote (KeyError/ValueError/TypeError on anything else)."""
    published = doc.get("published")
    return VulnRecord(
        id=str(doc["id"]),
        source=VulnSource(doc["source"]),
        aliases=tuple(str(a) for a in doc["aliases"]),
        summary=str(doc["summary"]),
        published=date.fromisoformat(published) if published else None,
        modified=str(doc["modified"]),
        severity=str(doc["severity"]),
        cvss=tuple(str(v) for v in doc["cvss"]),
        affected=tuple(
            Affected(
                product=Product(a["product"]),
                ranges=tuple(
                    VersionRange(start, bool(start_in), end, bool(end_in))
                    for start, start_in, end, end_in in a["ranges"]
                ),
                package=str(a["package"]),
                component=str(a["component"]),
            )
            for a in doc["affected"]
        ),
        references=tuple(str(u) for u in doc["references"]),
        exploited=bool(doc["exploited"]),
    )
