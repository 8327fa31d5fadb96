"""YARA over the code of an APK (its dex files and native libraries), hits as risk factors.

Rules come as text keyed by namespace: the built-in rules shipped in this package
(namespace "builtin.<file stem>", see `builtin_rule_sources`) and the admin's own rules (the
edge reads their folder and passes the text in). Each rule may carry meta:

    description   one sentence, the factor's explanation       (default: "YARA rule <name>")
    weight        points added to the score, 0–100             (default: 40)
    severity      "low" | "medium" | "high"; a high-severity hit makes the verdict's confidence high

A hit becomes one factor per rule, id "yara.<namespace>.<rule>", naming the members it hit in.
Rules are compiled with `include` disabled: rule text never makes the scanner read files.
"""

from __future__ import annotations

import importlib.resources
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yara  # type: ignore[import-not-found]  # a C extension without type stubs

from openmtd.domain.apps import RiskFactor
from openmtd.engines.apps.risk import YARA_DEFAULT_WEIGHT, YaraFactor

DEFAULT_TIMEOUT_S = 10  # per member and match call
SEVERITIES = ("low", "medium", "high")
BUILTIN_NAMESPACE = "builtin"
_RULE_SUFFIXES = (".yar", ".yara")


@dataclass(frozen=True, slots=True)
class Rules:
    """Compiled YARA rules and the namespaces they came from."""

    namespaces: tuple[str, ...]
    _compiled: Any = field(default=None, repr=False, compare=False)  # yara.Rules, or None


def builtin_rule_sources() -> dict[str, str]:
    """Our own rules (package data of openmtd.engines.apps, folder rules/): namespace -> text."""
    folder = importlib.resources.files("openmtd.engines.apps").joinpath("rules")
    out: dict[str, str] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.is_file() and entry.name.endswith(_RULE_SUFFIXES):
            stem = entry.name.rsplit(".", 1)[0]
            out[f"{BUILTIN_NAMESPACE}.{stem}"] = entry.read_text(encoding="utf-8")
    return out


def _compile(sources: Mapping[str, str]) -> Any:
    return yara.compile(sources=dict(sources), includes=False, error_on_warning=False)


def compile_rules(sources: Mapping[str, str]) -> Rules:
    """Compile rule texts keyed by namespace; ValueError names the namespace and line of an
    error (YARA's own message names only the line)."""
    for namespace in sources:
        if not namespace or not isinstance(namespace, str):
            raise ValueError(f"YARA namespace must be a non-empty string, not {namespace!r}")
    if not sources:
        return Rules(())
    try:
        compiled = _compile(sources)
    except yara.Error:
        # Find the culprit: namespaces compile independently (includes are off).
        for namespace, text in sources.items():
            try:
                _compile({namespace: text})
            except yara.Error as e:
                raise ValueError(f"YARA rules {namespace!r}: {e}") from e
        raise
    return Rules(tuple(sources), compiled)


def _weight(meta: Mapping[str, object]) -> int:
    raw = meta.get("weight", YARA_DEFAULT_WEIGHT)
    if isinstance(raw, str) and re.fullmatch(r"\s*-?\d{1,6}\s*", raw):
        raw = int(raw)
    if not isinstance(raw, int) or isinstance(raw, bool):
        return YARA_DEFAULT_WEIGHT
    return max(0, min(100, raw))


def _severity(meta: Mapping[str, object]) -> str:
    raw = str(meta.get("severity", "medium")).strip().lower()
    return raw if raw in SEVERITIES else "medium"


def _members(names: list[str], limit: int = 3) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


@dataclass
class _Hit:
    namespace: str
    rule: str
    meta: dict[str, object]
    members: list[str] = field(default_factory=list)


def scan(
    rules: Rules,
    members: Iterable[tuple[str, bytes]],
    *,
    timeout_s: int = DEFAULT_TIMEOUT_S,
    max_bytes: int | None = None,
    notes: list[str] | None = None,
) -> list[RiskFactor]:
    """One factor per rule that hit any member, in the order of first hits.

    A member larger than `max_bytes` is scanned up to that size; a YARA error or timeout on a
    member skips it. Both are appended to `notes` (when given) instead of raising.
    """
    compiled = rules._compiled
    hits: dict[tuple[str, str], _Hit] = {}
    for name, data in members:
        if compiled is None:
            continue  # still consume the iterator: it may validate the members
        if max_bytes is not None and len(data) > max_bytes:
            if notes is not None:
                notes.append(f"{name}: only the first {max_bytes:,} of {len(data):,} bytes scanned")
            data = data[:max_bytes]
        try:
            matches = compiled.match(data=data, timeout=timeout_s)
        except yara.TimeoutError:
            if notes is not None:
                notes.append(f"{name}: YARA gave up after {timeout_s} s; member not scanned")
            continue
        except yara.Error as e:
            if notes is not None:
                notes.append(f"{name}: YARA error ({e}); member not scanned")
            continue
        for m in matches:
            key = (str(m.namespace), str(m.rule))
            hit = hits.get(key)
            if hit is None:
                hit = hits[key] = _Hit(key[0], key[1], dict(m.meta))
            if name not in hit.members:
                hit.members.append(name)
        # Let this member go before the next is inflated: one inflated member at a time.
        del data, matches
    out: list[RiskFactor] = []
    for hit in hits.values():
        description = str(hit.meta.get("description", "")).strip().rstrip(".")
        description = description or f"YARA rule {hit.rule}"
        out.append(
            YaraFactor(
                id=f"yara.{hit.namespace}.{hit.rule}",
                weight=_weight(hit.meta),
                explanation=f"{description} (YARA rule {hit.namespace}.{hit.rule}, "
                f"in {_members(hit.members)}).",
                severity=_severity(hit.meta),
            )
        )
    return out
