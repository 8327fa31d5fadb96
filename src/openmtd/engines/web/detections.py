"""Turning a web verdict into the detection a device reports (or the server records for DoH).

Reference severities: a block or a warning is a "phishing warning" (Informational); clicking
through a warning is "warning overlooked" (Low). With the privacy control "exclude URL in
report" the detection carries neither URL nor domain — not even a hash of them, which a
dictionary could reverse — only which indicator, feed or heuristic decided.
"""

from __future__ import annotations

from collections.abc import Mapping

from openmtd.domain.device import Detection
from openmtd.domain.enums import Severity
from openmtd.domain.web import IndicatorAction, WebVerdict

CATEGORY = "Phishing"
# Evidence keys that name what was visited; "exclude URL in report" drops them.
URL_EVIDENCE_KEYS = frozenset(
    {"url", "domain", "host", "hostname", "referrer", "expression", "reason"}
)


def web_detection(
    verdict: WebVerdict, *, channel: str, exclude_url: bool, overlooked: bool = False
) -> Detection | None:
    """The detection for a verdict, or None when nothing needs reporting (allowed traffic).

    `channel` says where it was enforced: "proxy", "dns", "doh".
    """
    decision = verdict.decision
    if decision is None or decision.action is IndicatorAction.ALLOW:
        return None
    meta = decision.meta
    if overlooked:
        title, severity = "Warning overlooked", Severity.LOW
    else:
        title, severity = "Phishing warning", Severity.INFORMATIONAL
    evidence: dict[str, str] = {
        "action": decision.action.value,
        "decided_by": f"{meta.kind.value}:{meta.source}",
        "channel": channel,
    }
    if meta.title:
        evidence["indicator_title"] = meta.title
    if not exclude_url:
        evidence["url"] = verdict.target
        evidence["expression"] = decision.expression
        evidence["reason"] = decision.reason
    key = f"web:{'overlooked' if overlooked else 'warning'}:{meta.kind.value}:{meta.source}"
    if not exclude_url:
        key += f":{decision.expression}"
    return Detection(
        category=CATEGORY,
        title=title if exclude_url else f"{title}: {decision.expression}",
        severity=severity,
        key=key[:200],
        evidence=tuple(sorted(evidence.items())),
        # Audit records without alerting; so does an indicator with GenerateAlert off.
        timeline_only=decision.action is IndicatorAction.AUDIT or not meta.generate_alert,
    )


def without_url(
    category: str, title: str, key: str, evidence: Mapping[str, str]
) -> tuple[str, str, dict[str, str]]:
    """A detection's title, key and evidence with no trace of the URL ("exclude URL in
    report"): URL evidence keys go from every detection, and a web detection's title and key,
    which may name what was visited, are rebuilt from what decided. Applied by the agent before
    sending and again by the server on receipt."""
    kept = {k: v for k, v in evidence.items() if k not in URL_EVIDENCE_KEYS}
    if category == CATEGORY:
        title = title.split(":", 1)[0]
        key = f"web:{title}:{kept.get('decided_by', '')}"
    return title, key, kept
