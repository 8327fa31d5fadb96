"""The verdict combiner: the score formula, the thresholds, the summary and the alert names."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openmtd.domain.enums import Platform
from openmtd.domain.integrity import EvidenceSource, IntegrityFinding, IntegrityState
from openmtd.engines.integrity.verdict import (
    COMPROMISED_SCORE,
    SUSPICIOUS_SCORE,
    alert_title,
    combine,
    integrity_score,
)


def finding(
    weight: int,
    rule_id: str = "",
    *,
    conclusive: bool = False,
    source: EvidenceSource = EvidenceSource.SIGNALS,
) -> IntegrityFinding:
    return IntegrityFinding(
        rule_id=rule_id or f"test.w{weight}",
        source=source,
        weight=weight,
        title=f"finding {rule_id or weight}",
        explanation="For the test.",
        conclusive=conclusive,
    )


def test_nothing_is_clean() -> None:
    verdict = combine([])
    assert verdict.state is IntegrityState.CLEAN
    assert verdict.score == 0
    assert verdict.findings == ()
    assert verdict.summary == "Clean: no integrity finding"


@pytest.mark.parametrize(
    ("weights", "score"),
    [
        ([], 0),
        ([0], 0),
        ([10], 10),
        ([40, 40], 64),
        ([40, 40, 40], 78),
        ([50, 50], 75),
        ([100], 100),
        ([100, 5], 100),
        ([25, 2], 27),  # 26.5 rounds half up
        ([5, 10], 15),  # 14.5 rounds half up
        ([1] * 500, 99),
    ],
)
def test_score_formula(weights: list[int], score: int) -> None:
    assert integrity_score(weights) == score
    expected = 100 * (1 - math.prod(1 - w / 100 for w in weights))
    assert abs(integrity_score(weights) - expected) <= 0.5 + 1e-9


def test_out_of_range_weights_are_clamped() -> None:
    assert integrity_score([150]) == 100
    assert integrity_score([-20, 40]) == 40


@pytest.mark.parametrize(
    ("weights", "state"),
    [
        ([29], IntegrityState.CLEAN),
        ([SUSPICIOUS_SCORE], IntegrityState.SUSPICIOUS),
        ([69], IntegrityState.SUSPICIOUS),
        ([COMPROMISED_SCORE], IntegrityState.COMPROMISED),
        ([15, 10, 5], IntegrityState.CLEAN),  # hygiene only: 27
        ([20, 15], IntegrityState.SUSPICIOUS),  # 32
        ([50, 40], IntegrityState.COMPROMISED),  # 70
    ],
)
def test_thresholds(weights: list[int], state: IntegrityState) -> None:
    verdict = combine([finding(w, f"t.{i}") for i, w in enumerate(weights)])
    assert verdict.state is state


def test_a_conclusive_finding_compromises_whatever_its_weight() -> None:
    verdict = combine([finding(10, "t.conclusive", conclusive=True)])
    assert verdict.score == 10
    assert verdict.state is IntegrityState.COMPROMISED


def test_clean_keeps_low_weight_findings_listed() -> None:
    low = [finding(10, "android.adb_enabled"), finding(5, "android.developer_options")]
    verdict = combine(low)
    assert verdict.state is IntegrityState.CLEAN
    assert {f.rule_id for f in verdict.findings} == {
        "android.adb_enabled",
        "android.developer_options",
    }
    assert (
        verdict.summary
        == "Clean (score 15): finding android.adb_enabled, finding android.developer_options"
    )


def test_identical_findings_count_once_distinct_sources_do_not() -> None:
    twice = finding(40, "t.same")
    assert combine([twice, twice]).score == 40
    other_source = finding(40, "t.same", source=EvidenceSource.PLAY_INTEGRITY)
    assert combine([twice, other_source]).score == 64


def test_findings_are_ordered_conclusive_first_then_by_weight() -> None:
    verdict = combine([finding(20, "t.a"), finding(90, "t.b", conclusive=True), finding(60, "t.c")])
    assert [f.rule_id for f in verdict.findings] == ["t.b", "t.c", "t.a"]


def test_summary_names_the_top_findings() -> None:
    verdict = combine([finding(w, f"t.{w}") for w in (10, 100, 50, 30, 20)])
    assert verdict.summary == (
        "Compromised (score 100): finding t.100, finding t.50, finding t.30 and 2 more"
    )


def test_alert_titles_are_the_reference_names() -> None:
    for state in IntegrityState:
        assert alert_title(Platform.IOS, state) == "Jailbroken device"
        assert alert_title(Platform.ANDROID, state) == "Rooted device"


WEIGHTS = st.lists(st.integers(min_value=0, max_value=100), max_size=12)


@given(WEIGHTS, WEIGHTS)
def test_score_properties(first: list[int], more: list[int]) -> None:
    score = integrity_score(first)
    assert 0 <= score <= 100
    assert integrity_score([*first, *more]) >= score
    assert integrity_score(list(reversed(first))) == score
    if first:
        assert score >= max(first)  # never below the strongest single finding


@given(st.lists(st.tuples(st.integers(0, 100), st.booleans()), max_size=10))
def test_state_follows_the_rules(items: list[tuple[int, bool]]) -> None:
    findings = [finding(w, f"t.{i}", conclusive=c) for i, (w, c) in enumerate(items)]
    verdict = combine(findings)
    if any(c for _, c in items) or verdict.score >= COMPROMISED_SCORE:
        assert verdict.state is IntegrityState.COMPROMISED
    elif verdict.score >= SUSPICIOUS_SCORE:
        assert verdict.state is IntegrityState.SUSPICIOUS
    else:
        assert verdict.state is IntegrityState.CLEAN
    assert verdict.summary.startswith(verdict.state.value.capitalize())
    assert len(verdict.findings) == len(findings)
