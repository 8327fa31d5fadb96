"""APK verdicts survive JSON exactly, and a document we did not write is refused."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
from openmtd.engines.apps.verdict_wire import verdict_from_dict, verdict_to_dict

text = st.text(max_size=30)
texts = st.lists(text, max_size=4).map(tuple)
opt_int = st.none() | st.integers(-(2**40), 2**40)
opt_bool = st.none() | st.booleans()

components = st.builds(
    Component,
    kind=st.sampled_from(ComponentKind),
    name=text,
    exported=opt_bool,
    permission=text,
    actions=texts,
    categories=texts,
    enabled=st.booleans(),
)
signers = st.builds(
    SigningCertificate,
    sha256=text,
    sha1=text,
    md5=text,
    subject=text,
    issuer=text,
    not_before=text,
    not_after=text,
    schemes=texts,
    debug=st.booleans(),
)
facts = st.builds(
    ApkFacts,
    sha256=text,
    sha1=text,
    md5=text,
    size=st.integers(0, 2**40),
    package=text,
    version_code=opt_int,
    version_name=text,
    min_sdk=opt_int,
    target_sdk=opt_int,
    label=text,
    permissions=texts,
    components=st.lists(components, max_size=4).map(tuple),
    debuggable=st.booleans(),
    allow_backup=opt_bool,
    uses_cleartext_traffic=opt_bool,
    network_security_config=text,
    has_launcher=st.booleans(),
    signers=st.lists(signers, max_size=3).map(tuple),
    signature_schemes=texts,
    dex_files=texts,
    native_libraries=texts,
    entry_count=st.integers(0, 70_000),
)
factors = st.one_of(
    st.builds(RiskFactor, id=text, weight=st.integers(0, 100), explanation=text),
    st.builds(
        YaraFactor,
        id=text,
        weight=st.integers(0, 100),
        explanation=text,
        severity=st.sampled_from(["low", "medium", "high"]),
    ),
)
verdicts = st.builds(
    ApkVerdict,
    verdict=st.sampled_from(AppVerdictKind),
    score=st.integers(0, 100),
    confidence=st.sampled_from(["low", "medium", "high"]),
    factors=st.lists(factors, max_size=6).map(tuple),
    problem=text,
    facts=st.none() | facts,
)


@settings(max_examples=300, deadline=None)
@given(verdicts)
def test_round_trip_through_json_is_exact(v: ApkVerdict) -> None:
    doc = json.loads(json.dumps(verdict_to_dict(v)))
    back = verdict_from_dict(doc)
    assert back == v
    assert [type(f) for f in back.factors] == [type(f) for f in v.factors]
    assert verdict_to_dict(back) == doc


def test_document_shape() -> None:
    v = ApkVerdict(
        AppVerdictKind.POTENTIALLY_UNWANTED,
        55,
        "high",
        (
            RiskFactor("perm.accessibility-overlay-sms", 55, "Triad."),
            YaraFactor("yara.builtin.banker.r", 0, "Hit.", "high"),
        ),
    )
    assert verdict_to_dict(v) == {
        "format": 1,
        "verdict": "potentially unwanted",
        "score": 55,
        "confidence": "high",
        "factors": [
            {"id": "perm.accessibility-overlay-sms", "weight": 55, "explanation": "Triad."},
            {"id": "yara.builtin.banker.r", "weight": 0, "explanation": "Hit.", "severity": "high"},
        ],
        "problem": "",
        "facts": None,
    }


GOOD: dict[str, Any] = verdict_to_dict(ApkVerdict(AppVerdictKind.CLEAN, 0, "low"))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": 2}, "unknown format"),
        ({"verdict": "evil"}, "verdict.verdict"),
        ({"score": "12"}, "verdict.score"),
        ({"score": True}, "bool"),
        ({"factors": [{"id": "x", "weight": 1}]}, "missing 'explanation'"),
        ({"facts": {"sha256": "x"}}, "facts: missing"),
        ({"factors": "nope"}, "verdict.factors"),
    ],
)
def test_foreign_documents_are_refused(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        verdict_from_dict({**GOOD, **change})


def test_missing_keys_and_non_dicts_are_refused() -> None:
    with pytest.raises(ValueError, match="missing 'problem'"):
        verdict_from_dict({k: v for k, v in GOOD.items() if k != "problem"})
    with pytest.raises(ValueError, match="missing"):
        verdict_from_dict([])  # type: ignore[arg-type]
