"""APK verdicts as JSON-safe dicts, and back, exactly (the server stores verdicts as JSON).

The document is versioned ("format": 1). Every value is a str, int, bool, None, list or dict;
tuples become lists. A YARA factor keeps its severity (key "severity"), so confidence can be
recomputed from a stored verdict. `verdict_from_dict` raises ValueError on anything it did not
write.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from openmtd.domain.apps import (
    ApkFacts,
    ApkVerdict,
    AppVerdictKind,
    Component,
    ComponentKind,
    RiskFactor,
    SigningCertificate,
)
from openmtd.engines.apps.risk import YaraFactor

FORMAT = 1


def _factor_to_dict(f: RiskFactor) -> dict[str, Any]:
    out: dict[str, Any] = {"id": f.id, "weight": f.weight, "explanation": f.explanation}
    if isinstance(f, YaraFactor):
        out["severity"] = f.severity
    return out


def _component_to_dict(c: Component) -> dict[str, Any]:
    return {
        "kind": c.kind.value,
        "name": c.name,
        "exported": c.exported,
        "permission": c.permission,
        "actions": list(c.actions),
        "categories": list(c.categories),
        "enabled": c.enabled,
    }


def _signer_to_dict(s: SigningCertificate) -> dict[str, Any]:
    return {
        "sha256": s.sha256,
        "sha1": s.sha1,
        "md5": s.md5,
        "subject": s.subject,
        "issuer": s.issuer,
        "not_before": s.not_before,
        "not_after": s.not_after,
        "schemes": list(s.schemes),
        "debug": s.debug,
    }


def facts_to_dict(f: ApkFacts) -> dict[str, Any]:
    return {
        "sha256": f.sha256,
        "sha1": f.sha1,
        "md5": f.md5,
        "size": f.size,
        "package": f.package,
        "version_code": f.version_code,
        "version_name": f.version_name,
        "min_sdk": f.min_sdk,
        "target_sdk": f.target_sdk,
        "label": f.label,
        "permissions": list(f.permissions),
        "components": [_component_to_dict(c) for c in f.components],
        "debuggable": f.debuggable,
        "allow_backup": f.allow_backup,
        "uses_cleartext_traffic": f.uses_cleartext_traffic,
        "network_security_config": f.network_security_config,
        "has_launcher": f.has_launcher,
        "signers": [_signer_to_dict(s) for s in f.signers],
        "signature_schemes": list(f.signature_schemes),
        "dex_files": list(f.dex_files),
        "native_libraries": list(f.native_libraries),
        "entry_count": f.entry_count,
    }


def verdict_to_dict(v: ApkVerdict) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "verdict": v.verdict.value,
        "score": v.score,
        "confidence": v.confidence,
        "factors": [_factor_to_dict(f) for f in v.factors],
        "problem": v.problem,
        "facts": facts_to_dict(v.facts) if v.facts is not None else None,
    }


# --- reading back -----------------------------------------------------------------------------


def _get(d: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(d, Mapping) or key not in d:
        raise ValueError(f"{where}: missing {key!r}")
    value = d[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    # bool is an int in Python: an int field must not accept True, nor a bool field 1.
    if isinstance(value, bool) and bool not in kinds:
        raise ValueError(f"{where}.{key}: expected {kinds}, got a bool")
    if not isinstance(value, kinds):
        raise ValueError(f"{where}.{key}: expected {kinds}, got {type(value).__name__}")
    return value


def _strs(d: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    items = _get(d, key, list, where)
    if not all(isinstance(i, str) for i in items):
        raise ValueError(f"{where}.{key}: expected a list of strings")
    return tuple(items)


_OPT_INT = (int, type(None))
_OPT_BOOL = (bool, type(None))


def _factor_from_dict(d: Mapping[str, Any], where: str) -> RiskFactor:
    fid = _get(d, "id", str, where)
    weight = _get(d, "weight", int, where)
    explanation = _get(d, "explanation", str, where)
    if isinstance(d, Mapping) and "severity" in d:
        return YaraFactor(fid, weight, explanation, _get(d, "severity", str, where))
    return RiskFactor(fid, weight, explanation)


def _component_from_dict(d: Mapping[str, Any], where: str) -> Component:
    try:
        kind = ComponentKind(_get(d, "kind", str, where))
    except ValueError as e:
        raise ValueError(f"{where}.kind: {e}") from e
    return Component(
        kind=kind,
        name=_get(d, "name", str, where),
        exported=_get(d, "exported", _OPT_BOOL, where),
        permission=_get(d, "permission", str, where),
        actions=_strs(d, "actions", where),
        categories=_strs(d, "categories", where),
        enabled=_get(d, "enabled", bool, where),
    )


def _signer_from_dict(d: Mapping[str, Any], where: str) -> SigningCertificate:
    return SigningCertificate(
        sha256=_get(d, "sha256", str, where),
        sha1=_get(d, "sha1", str, where),
        md5=_get(d, "md5", str, where),
        subject=_get(d, "subject", str, where),
        issuer=_get(d, "issuer", str, where),
        not_before=_get(d, "not_before", str, where),
        not_after=_get(d, "not_after", str, where),
        schemes=_strs(d, "schemes", where),
        debug=_get(d, "debug", bool, where),
    )


def facts_from_dict(d: Mapping[str, Any]) -> ApkFacts:
    w = "facts"
    return ApkFacts(
        sha256=_get(d, "sha256", str, w),
        sha1=_get(d, "sha1", str, w),
        md5=_get(d, "md5", str, w),
        size=_get(d, "size", int, w),
        package=_get(d, "package", str, w),
        version_code=_get(d, "version_code", _OPT_INT, w),
        version_name=_get(d, "version_name", str, w),
        min_sdk=_get(d, "min_sdk", _OPT_INT, w),
        target_sdk=_get(d, "target_sdk", _OPT_INT, w),
        label=_get(d, "label", str, w),
        permissions=_strs(d, "permissions", w),
        components=tuple(
            _component_from_dict(c, f"{w}.components[{i}]")
            for i, c in enumerate(_get(d, "components", list, w))
        ),
        debuggable=_get(d, "debuggable", bool, w),
        allow_backup=_get(d, "allow_backup", _OPT_BOOL, w),
        uses_cleartext_traffic=_get(d, "uses_cleartext_traffic", _OPT_BOOL, w),
        network_security_config=_get(d, "network_security_config", str, w),
        has_launcher=_get(d, "has_launcher", bool, w),
        signers=tuple(
            _signer_from_dict(s, f"{w}.signers[{i}]")
            for i, s in enumerate(_get(d, "signers", list, w))
        ),
        signature_schemes=_strs(d, "signature_schemes", w),
        dex_files=_strs(d, "dex_files", w),
        native_libraries=_strs(d, "native_libraries", w),
        entry_count=_get(d, "entry_count", int, w),
    )


def verdict_from_dict(d: Mapping[str, Any]) -> ApkVerdict:
    """The verdict `verdict_to_dict` wrote; ValueError on any other document."""
    w = "verdict"
    if _get(d, "format", int, w) != FORMAT:
        raise ValueError(f"{w}: unknown format {d['format']!r} (this version reads {FORMAT})")
    try:
        kind = AppVerdictKind(_get(d, "verdict", str, w))
    except ValueError as e:
        raise ValueError(f"{w}.verdict: {e}") from e
    facts = _get(d, "facts", (dict, type(None)), w)
    return ApkVerdict(
        verdict=kind,
        score=_get(d, "score", int, w),
        confidence=_get(d, "confidence", str, w),
        factors=tuple(
            _factor_from_dict(f, f"{w}.factors[{i}]")
            for i, f in enumerate(_get(d, "factors", list, w))
        ),
        problem=_get(d, "problem", str, w),
        facts=facts_from_dict(facts) if facts is not None else None,
    )
