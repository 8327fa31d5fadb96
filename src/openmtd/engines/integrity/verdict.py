"""Combine integrity findings from every source into one verdict for the device.

Score: each finding is treated as independent evidence that the device is compromised, with
probability ``weight / 100``; the score is the chance that at least one of them is right::

    score = round_half_up(100 * (1 - prod(1 - w_i / 100)))      clamped to 0..100

so two findings of 40 give 64 and three give 78, a single 100 gives 100, and adding a finding
never lowers the score. Identical findings (the same finding reported twice) count once.

State, first match wins:

* COMPROMISED: any conclusive finding, or score >= 70;
* SUSPICIOUS:  score >= 30;
* CLEAN:       otherwise, even with low-weight hygiene findings (they stay listed).

A device that reported nothing at all is UNKNOWN, not CLEAN; that is the caller's call, since
only it knows whether evidence was expected.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from decimal import ROUND_HALF_UP, Decimal

from openmtd.domain.enums import Platform
from openmtd.domain.integrity import IntegrityFinding, IntegrityState, IntegrityVerdict

__all__ = [
    "COMPROMISED_SCORE",
    "SUSPICIOUS_SCORE",
    "alert_title",
    "combine",
    "integrity_score",
]

COMPROMISED_SCORE = 70
SUSPICIOUS_SCORE = 30
#: How many finding titles the summary names before "and N more".
SUMMARY_TITLES = 3

_ALERT_TITLES = {Platform.ANDROID: "Rooted device", Platform.IOS: "Jailbroken device"}


def integrity_score(weights: Iterable[int]) -> int:
    """``100 * (1 - prod(1 - w/100))`` over `weights` (each clamped to 0..100), rounded half up."""
    keep = math.prod(1 - min(100, max(0, w)) / 100 for w in weights)
    exact = Decimal(repr(100 * (1 - keep))).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return min(100, max(0, int(exact)))


def combine(findings: Sequence[IntegrityFinding]) -> IntegrityVerdict:
    """The device's integrity verdict over `findings` from every source (see module docstring)."""
    unique = tuple(dict.fromkeys(findings))
    ordered = tuple(sorted(unique, key=_importance))
    score = integrity_score(f.weight for f in ordered)
    state = _state(score, any(f.conclusive for f in ordered))
    return IntegrityVerdict(state, score, ordered, _summary(state, score, ordered))


def alert_title(platform: Platform, state: IntegrityState) -> str:
    """The alert's name, as the reference product calls it: "Rooted device", "Jailbroken device".

    The title is the same for every state on purpose: an alert raised while the device was
    suspicious, then confirmed or resolved, stays one alert.
    """
    del state  # one alert per platform, whatever the state
    return _ALERT_TITLES[platform]


def _importance(finding: IntegrityFinding) -> tuple[bool, int, str, str]:
    return (not finding.conclusive, -finding.weight, finding.rule_id, finding.source.value)


def _state(score: int, conclusive: bool) -> IntegrityState:
    if conclusive or score >= COMPROMISED_SCORE:
        return IntegrityState.COMPROMISED
    if score >= SUSPICIOUS_SCORE:
        return IntegrityState.SUSPICIOUS
    return IntegrityState.CLEAN


def _summary(state: IntegrityState, score: int, findings: Sequence[IntegrityFinding]) -> str:
    label = state.value.capitalize()
    if not findings:
        return f"{label}: no integrity finding"
    titles = list(dict.fromkeys(f.title for f in findings))
    named = ", ".join(titles[:SUMMARY_TITLES])
    more = f" and {len(titles) - SUMMARY_TITLES} more" if len(titles) > SUMMARY_TITLES else ""
    return f"{label} (score {score}): {named}{more}"
