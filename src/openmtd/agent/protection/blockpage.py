"""The pages the web protection proxy shows instead of a site: block, warning and error pages.

Each page stands alone (inline style, no scripts, no images, no external assets), so it renders
even when every other request of the page is blocked, and it says three things: what was
stopped, why (the verdict's explanation: which indicator, feed, heuristic or builtin rule
decided, the matched expression, the action, and the indicator's title, description and
recommended actions), and what the user can do about it.

Rendering is pure: a verdict and a URL in, HTML out. The proxy adds the HTTP framing.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import jinja2

from openmtd.domain.web import IndicatorAction, MatchKind, WebVerdict

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"

# What the proxy sends with every page: nothing but the page's own inline style may load, and
# no other site may frame it (a framed "Continue anyway" button could be clickjacked).
PAGE_HEADERS: tuple[tuple[str, str], ...] = (
    ("Content-Type", "text/html; charset=utf-8"),
    ("Cache-Control", "no-store"),
    (
        "Content-Security-Policy",
        "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'",
    ),
    ("X-Frame-Options", "DENY"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
)

KIND_LABELS = {
    MatchKind.INDICATOR: "custom indicator",
    MatchKind.FEED: "threat-intelligence feed",
    MatchKind.HEURISTIC: "phishing heuristic",
    MatchKind.BUILTIN: "built-in rule",
}


@dataclass(frozen=True, slots=True)
class Explanation:
    """A verdict's decision, spelled out for a person (every field is plain text)."""

    summary: str  # the verdict's one-line explanation
    action: str  # "Block", "Warn" …
    decided_by: str  # "custom indicator 42", "threat-intelligence feed 'urlhaus'" …
    reference: str  # "indicator:42": what to quote to the administrator
    expression: str  # what matched: "example.com", "example.com/login/" …
    indicator_type: str  # "domain", "url", "ip" or "" (heuristics)
    reason: str
    title: str
    description: str
    recommended_actions: str
    severity: str
    category: str
    overruled: int  # other matches the decision won over


def explain(verdict: WebVerdict) -> Explanation:
    """The explanation of a verdict that has a decision (a block or a warning)."""
    d = verdict.decision
    if d is None:
        return Explanation(
            summary=verdict.explanation,
            action="",
            decided_by="",
            reference="",
            expression="",
            indicator_type="",
            reason=verdict.problem,
            title="",
            description="",
            recommended_actions="",
            severity="",
            category="",
            overruled=0,
        )
    meta = d.meta
    label = KIND_LABELS.get(meta.kind, meta.kind.value)
    decided_by = (
        f"{label} '{meta.source}'" if meta.kind is MatchKind.FEED else f"{label} {meta.source}"
    )
    return Explanation(
        summary=verdict.explanation,
        action=d.action.value,
        decided_by=decided_by,
        reference=f"{meta.kind.value}:{meta.source}",
        expression=d.expression,
        indicator_type=d.indicator_type.value if d.indicator_type else "",
        reason=d.reason,
        title=meta.title,
        description=meta.description,
        recommended_actions=meta.recommended_actions,
        severity=meta.severity.value,
        category=meta.category,
        overruled=max(len(verdict.matches) - 1, 0),
    )


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _render(template: str, **context: object) -> str:
    return _environment().get_template(template).render(**context)


def render_block_page(verdict: WebVerdict, *, url: str) -> str:
    """The page for a blocked http:// URL (served with status 403)."""
    return _render("block.html", url=url, why=explain(verdict))


def render_warn_page(
    verdict: WebVerdict,
    *,
    url: str,
    continue_url: str,
    token: str,
    allow_minutes: int,
) -> str:
    """The interstitial for a Warn verdict: "Continue anyway" posts `token` to `continue_url`."""
    why = explain(verdict)
    if why.action != IndicatorAction.WARN.value:
        raise ValueError(f"a warning page needs a Warn verdict, not {why.action or 'none'}")
    return _render(
        "warn.html",
        url=url,
        why=why,
        continue_url=continue_url,
        token=token,
        allow_minutes=allow_minutes,
    )


def render_error_page(*, status: int, title: str, message: str, url: str = "") -> str:
    """A page for something that went wrong: a bad request, an unreachable site, a bad token."""
    return _render("error.html", status=status, title=title, message=message, url=url)


def render_redirect_page(*, location: str) -> str:
    """The body of the redirect that follows "Continue anyway" (for clients that show it)."""
    return _render("redirect.html", location=location)
