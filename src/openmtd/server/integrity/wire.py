"""Integrity findings and verdicts as stored JSON (database rows, API answers)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from openmtd.domain.enums import Platform
from openmtd.domain.integrity import EvidenceSource, IntegrityFinding, IntegrityVerdict


def finding_to_json(f: IntegrityFinding) -> dict[str, Any]:
    return {
        "rule_id": f.rule_id,
        "source": f.source.value,
        "weight": f.weight,
        "title": f.title,
        "explanation": f.explanation,
        "evidence": [[k, v] for k, v in f.evidence],
        "platform": f.platform.value if f.platform else None,
        "conclusive": f.conclusive,
    }


def finding_from_json(doc: Mapping[str, Any]) -> IntegrityFinding:
    platform = doc.get("platform")
    return IntegrityFinding(
        rule_id=str(doc["rule_id"]),
        source=EvidenceSource(doc["source"]),
        weight=int(doc["weight"]),
        title=str(doc["title"]),
        explanation=str(doc["explanation"]),
        evidence=tuple((str(k), str(v)) for k, v in doc.get("evidence") or ()),
        platform=Platform(platform) if platform else None,
        conclusive=bool(doc.get("conclusive")),
    )


def findings_to_json(findings: Iterable[IntegrityFinding]) -> list[dict[str, Any]]:
    return [finding_to_json(f) for f in findings]


def verdict_to_json(v: IntegrityVerdict) -> dict[str, Any]:
    return {
        "state": v.state.value,
        "score": v.score,
        "summary": v.summary,
        "findings": findings_to_json(v.findings),
    }
