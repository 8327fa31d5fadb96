"""Indicator sets as JSON documents: how the server hands indicators to agents (and back)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from openmtd.domain.enums import Severity
from openmtd.domain.web import Indicator, IndicatorAction, IndicatorMeta, IndicatorType, MatchKind


def meta_to_dict(meta: IndicatorMeta) -> dict[str, Any]:
    return {
        "kind": meta.kind.value,
        "source": meta.source,
        "action": meta.action.value,
        "severity": meta.severity.value,
        "title": meta.title,
        "description": meta.description,
        "recommended_actions": meta.recommended_actions,
        "category": meta.category,
        "mitre_techniques": list(meta.mitre_techniques),
        "generate_alert": meta.generate_alert,
        "expires_at": meta.expires_at.isoformat() if meta.expires_at else None,
        "device_groups": list(meta.device_groups),
    }


def meta_from_dict(d: dict[str, Any]) -> IndicatorMeta:
    """Raises KeyError/ValueError/TypeError on a malformed document (callers translate)."""
    expires = d.get("expires_at")
    return IndicatorMeta(
        kind=MatchKind(d["kind"]),
        source=str(d["source"]),
        action=IndicatorAction(d["action"]),
        severity=Severity(d.get("severity", Severity.INFORMATIONAL.value)),
        title=str(d.get("title", "")),
        description=str(d.get("description", "")),
        recommended_actions=str(d.get("recommended_actions", "")),
        category=str(d.get("category", "")),
        mitre_techniques=tuple(str(t) for t in d.get("mitre_techniques", ())),
        generate_alert=bool(d.get("generate_alert", True)),
        expires_at=datetime.fromisoformat(expires) if expires else None,
        device_groups=tuple(str(g) for g in d.get("device_groups", ())),
    )


@dataclass(frozen=True, slots=True)
class IndicatorSet:
    """One layer's worth of indicators: a name ("custom", "feed:<name>"), a revision, entries.

    Entries may be of any IndicatorType, web or app: the web index skips app entries and
    engines.apps.reputation.AppIndex skips web ones.
    """

    name: str
    revision: int
    metas: tuple[IndicatorMeta, ...]
    entries: tuple[tuple[IndicatorType, str, int], ...]  # (type, canonical value, meta index)

    def indicators(self) -> Iterator[Indicator]:
        metas = self.metas
        for kind, value, m in self.entries:
            yield Indicator(kind, value, metas[m])

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "revision": self.revision,
            "metas": [meta_to_dict(m) for m in self.metas],
            "entries": [[t.value, v, m] for t, v, m in self.entries],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> IndicatorSet:
        metas = tuple(meta_from_dict(m) for m in d["metas"])
        entries = []
        for t, v, m in d["entries"]:
            if not 0 <= int(m) < len(metas):
                raise ValueError(f"entry {v!r} points at meta {m}, outside 0..{len(metas) - 1}")
            entries.append((IndicatorType(t), str(v), int(m)))
        return cls(str(d["name"]), int(d["revision"]), metas, tuple(entries))

    @classmethod
    def of(cls, name: str, revision: int, indicators: Iterable[Indicator]) -> IndicatorSet:
        metas: dict[IndicatorMeta, int] = {}
        entries = []
        for ind in indicators:
            m = metas.setdefault(ind.meta, len(metas))
            entries.append((ind.type, ind.value, m))
        return cls(name, revision, tuple(metas), tuple(entries))
