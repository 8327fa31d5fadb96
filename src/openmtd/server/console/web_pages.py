"""Console pages of web protection: indicators, feeds, the URL check and the policy.

The console's counterpart of the JSON API in server/web/views.py: the same services called in
the same order, the same presenters (indicator_out, feed_out, verdict_out). Everybody signed in
may look and use the URL check; only admins change anything, and every form carries the
session's CSRF token (see web.py). After a change is committed, `ctx.web.changed()` rebuilds the
server's index so that its DNS and URL check see the change at once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from pydantic_core import ErrorDetails
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile

from openmtd.domain.enums import Severity
from openmtd.domain.errors import InvalidInput, OpenMTDError
from openmtd.domain.web import IndicatorAction, IndicatorType
from openmtd.engines.web.detections import CATEGORY as PHISHING
from openmtd.engines.web.lookalike import HEURISTICS
from openmtd.intel.web_feeds import FeedFormat, detect_format
from openmtd.server.alerts.service import alerts_with_activity_since
from openmtd.server.audit.service import record
from openmtd.server.console.web import (
    FLASH,
    PAGE_SIZE,
    AdminPost,
    AdminViewer,
    ConsoleRoute,
    Pager,
    Post,
    Posted,
    Viewer,
    bool_or_none,
    clip,
    enum_or_none,
    invalid,
    page_number,
    render,
)
from openmtd.server.deps import Ctx, Db, Now
from openmtd.server.security import Principal
from openmtd.server.web import feeds as feed_service
from openmtd.server.web import indicators as indicator_service
from openmtd.server.web import views as web_api
from openmtd.server.web.policy import WebPolicyBody, load_policy, save_policy
from openmtd.server.web.protection import judge
from openmtd.server.web.refresh import refresh_now
from openmtd.server.web.schemas import (
    FeedCreate,
    FeedUpdate,
    IndicatorCreate,
    IndicatorUpdate,
    UrlCheck,
    VerdictOut,
)

router = APIRouter(include_in_schema=False, route_class=ConsoleRoute)

IndicatorId = Annotated[int, Path(ge=1, le=2**31 - 1)]
FeedId = Annotated[int, Path(ge=1, le=2**31 - 1)]

BASE = "/console/web"
INDICATORS = f"{BASE}/indicators"
FEEDS = f"{BASE}/feeds"
CHECK = f"{BASE}/check"
POLICY = f"{BASE}/policy"
IMPORT_PAGE = f"{INDICATORS}/import"  # takes bodies up to max_import_bytes (see app.py)
EXPORT = "/api/web/indicators/export"
RECENT_ALERT_DAYS = 7

IMPORT_FORMATS = ["auto", *(f.value for f in FeedFormat)]
ACTIONS = list(reversed(IndicatorAction))  # Block, Warn, Audit, Allow
SEVERITIES = list(reversed(Severity))

# Messages after a redirect (?msg=key): fixed texts, nothing from the URL is echoed.
WEB_FLASH = {
    "web-indicator-created": "Indicator added; the server's DNS and URL check apply it now, "
    "agents at their next sync.",
    "web-indicator-updated": "Indicator saved.",
    "web-indicator-deleted": "Indicator deleted.",
    "web-feed-created": "Feed added. Select “Refresh now” to load its entries, or wait for "
    "its schedule.",
    "web-feed-updated": "Feed saved.",
    "web-feed-refreshed": "Feed refreshed; its result is in the table.",
    "web-feed-deleted": "Feed deleted with its entries.",
    "web-policy-saved": "Web-protection policy saved; agents receive it at their next sync.",
}

_INDICATOR_LABELS = {
    "type": "Type",
    "value": "Value",
    "action": "Action",
    "severity": "Severity",
    "title": "Title",
    "description": "Description",
    "recommended_actions": "Recommended actions",
    "category": "Category",
    "mitre_techniques": "MITRE techniques",
    "generate_alert": "Generate alert",
    "expires_at": "Expires",
    "device_groups": "Device groups",
}

_FEED_LABELS = {
    "name": "Name",
    "location": "Location",
    "format": "Format",
    "action": "Action",
    "severity": "Severity",
    "category": "Category",
    "refresh_minutes": "Refresh every (minutes)",
}

_POLICY_LABELS = {
    "anti_phishing": "Anti-phishing",
    "local_proxy": "Local proxy",
    "heuristics.enabled": "Lookalike heuristics",
    "heuristics.protected_domains": "Protected domains",
    "heuristics.include_builtin_brands": "Include built-in brands",
    "heuristics.known_good": "Known-good domains",
    "heuristics.actions": "Heuristic action",
    "heuristics.disabled": "Disabled heuristics",
    "dns.block_mode": "DNS block mode",
    "dns.block_ipv4": "Block address (IPv4)",
    "dns.block_ipv6": "Block address (IPv6)",
    "dns.blocked_ttl": "TTL of blocked answers",
}

HEURISTIC_LABELS = {
    "confusable": "Look-alike characters (confusable)",
    "edit-distance": "One typing slip away (edit distance)",
    "embedding": "Brand inside another's host name (embedding)",
    "mixed-script": "Mixed writing systems (mixed script)",
}


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _flash(request: Request) -> str:
    key = request.query_params.get("msg", "")
    return WEB_FLASH.get(key) or FLASH.get(key, "")


def _page(
    request: Request, template: str, principal: Principal, *, tab: str, **context: Any
) -> Response:
    return render(
        request,
        template,
        principal,
        section="web",
        tab=tab,
        flash=_flash(request),
        **context,
    )


def _words(text: str) -> list[str]:
    """MITRE technique ids and the like: separated by spaces, commas or semicolons."""
    return [w for w in re.split(r"[\s,;]+", text) if w]


def _items(text: str) -> list[str]:
    """Device groups (which may contain spaces): separated by commas, semicolons or lines."""
    return [w.strip() for w in re.split(r"[,;\r\n]+", text) if w.strip()]


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _datetime_input(value: datetime | None) -> str:
    """A UTC timestamp as a datetime-local input value (the form's times are UTC)."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


def _problem(e: ValidationError | OpenMTDError, labels: Mapping[str, str]) -> OpenMTDError:
    return invalid(e, labels) if isinstance(e, ValidationError) else e


# --- read-only figures no service offers yet ------------------------------------------------


def _summary(db: Session, now: datetime) -> dict[str, int]:
    feeds = feed_service.list_feeds(db)
    return {
        "custom": indicator_service.count(db),
        "feeds": len(feeds),
        "enabled_feeds": sum(1 for f in feeds if f.enabled),
        "feed_entries": feed_service.total_entries(db),
        "phishing_alerts": alerts_with_activity_since(
            db, category=PHISHING, since=now - timedelta(days=RECENT_ALERT_DAYS)
        ),
    }


@router.get(BASE)
def web_home(_p: Viewer) -> Response:
    return _see_other(INDICATORS)


# --- indicators -----------------------------------------------------------------------------

_NEW_INDICATOR: dict[str, str] = {
    "type": "domain",
    "value": "",
    "action": IndicatorAction.BLOCK.value,
    "severity": Severity.INFORMATIONAL.value,
    "title": "",
    "description": "",
    "recommended_actions": "",
    "category": "Phishing",
    "mitre_techniques": "",
    "generate_alert": "true",
    "expires_at": "",
    "device_groups": "",
}


def _indicators_page(
    request: Request,
    p: Principal,
    db: Session,
    now: datetime,
    *,
    error: str = "",
    form: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    q = request.query_params
    text = clip(q.get("q"), 256)
    kind = enum_or_none(IndicatorType, q.get("type"))
    action = enum_or_none(IndicatorAction, q.get("action"))
    hide_expired = bool_or_none(q.get("hide_expired")) is True
    params = {
        "q": text,
        "type": kind.value if kind else "",
        "action": action.value if action else "",
        "hide_expired": "true" if hide_expired else "",
    }
    params = {k: v for k, v in params.items() if v}
    page = page_number(q.get("page"))
    rows, total = indicator_service.search(
        db,
        query=indicator_service.IndicatorQuery(
            q=text, type=kind, action=action, include_expired=not hide_expired
        ),
        now=now,
        limit=PAGE_SIZE,
        offset=(page - 1) * PAGE_SIZE,
    )
    return _page(
        request,
        "web_indicators.html",
        p,
        tab="indicators",
        status=status,
        items=[web_api.indicator_out(r, now) for r in rows],
        pager=Pager(INDICATORS, params, page, total),
        params=params,
        filtered=bool(params),
        summary=_summary(db, now),
        alert_days=RECENT_ALERT_DAYS,
        types=list(IndicatorType),
        actions=ACTIONS,
        severities=SEVERITIES,
        export_url=EXPORT,
        error=error,
        form=form or dict(_NEW_INDICATOR),
    )


@router.get(INDICATORS)
def indicators(request: Request, p: Viewer, db: Db, now: Now) -> Response:
    return _indicators_page(request, p, db, now)


def _indicator_form(posted: Posted, *, with_key: bool) -> dict[str, Any]:
    """The submitted fields as typed (to show again after an error); only those sent."""
    sizes = {
        "action": 16,
        "severity": 16,
        "title": 1024,
        "description": 8192,
        "recommended_actions": 8192,
        "category": 256,
        "mitre_techniques": 2048,
        "generate_alert": 16,
        "expires_at": 64,
        "device_groups": 16384,
    }
    if with_key:
        sizes = {"type": 16, "value": 8192, **sizes}
    return {name: posted.text(name, max_length=n) for name, n in sizes.items() if posted.has(name)}


def _indicator_values(form: Mapping[str, str]) -> dict[str, Any]:
    """Form text -> the fields of IndicatorCreate / IndicatorUpdate."""
    values: dict[str, Any] = {}
    for name, text in form.items():
        if name == "mitre_techniques":
            values[name] = [w.upper() for w in _words(text)]
        elif name == "device_groups":
            values[name] = _items(text)
        elif name == "generate_alert":
            values[name] = bool_or_none(text) is True
        elif name == "expires_at":
            values[name] = text or None
        elif name in {"action", "severity", "type"} and not text:
            continue  # the default
        else:
            values[name] = text
    return values


@router.post(INDICATORS)
def create_indicator(request: Request, posted: AdminPost, db: Db, ctx: Ctx, now: Now) -> Response:
    form = {**_NEW_INDICATOR, **_indicator_form(posted, with_key=True)}
    try:
        body = IndicatorCreate(**_indicator_values(form))
        indicator_service.create(db, body=body, actor=posted.principal.username, now=now)
    except (ValidationError, OpenMTDError) as e:
        db.rollback()
        problem = _problem(e, _INDICATOR_LABELS)
        return _indicators_page(
            request,
            posted.principal,
            db,
            now,
            error=problem.message,
            form=form,
            status=problem.status,
        )
    db.commit()
    ctx.web.changed()
    return _see_other(f"{INDICATORS}?msg=web-indicator-created")


# The import routes come before /indicators/{id}, whose id would not match "import".


def _import_page(
    request: Request,
    p: Principal,
    ctx: Ctx,
    *,
    form: dict[str, str] | None = None,
    outcome: indicator_service.ImportOutcome | None = None,
    filename: str = "",
    error: str = "",
    status: int = 200,
) -> Response:
    return _page(
        request,
        "web_import.html",
        p,
        tab="indicators",
        status=status,
        form=form or {"format": "auto", "action": "Block", "title": "", "category": "Phishing"},
        formats=IMPORT_FORMATS,
        actions=ACTIONS,
        outcome=outcome,
        report=outcome.report if outcome else None,
        filename=filename,
        error=error,
        max_kib=ctx.settings.max_console_body_bytes // 1024,
        export_url=EXPORT,
    )


@router.get(f"{INDICATORS}/import")
def import_form(request: Request, p: AdminViewer, ctx: Ctx) -> Response:
    return _import_page(request, p, ctx)


@router.post(f"{INDICATORS}/import")
def import_indicators(request: Request, posted: AdminPost, db: Db, ctx: Ctx, now: Now) -> Response:
    form = {
        "format": posted.text("format", max_length=16) or "auto",
        "action": posted.text("action", max_length=16) or IndicatorAction.BLOCK.value,
        "title": posted.text("title", max_length=255),
        "category": posted.text("category", max_length=64),
    }
    upload = posted.form.get("file")
    filename = ""
    raw = b""
    if isinstance(upload, UploadFile) and upload.filename:
        filename = upload.filename[:255]
        raw = upload.file.read()
    pasted = posted.form.get("text")
    text = raw.decode("utf-8", errors="replace") if raw else ""
    if not raw and isinstance(pasted, str):
        text = pasted
    try:
        if not text.strip():
            raise InvalidInput(
                "choose a file (or paste a document): there is nothing to import",
                code="empty_document",
            )
        if form["format"] not in IMPORT_FORMATS:
            raise InvalidInput(f"unknown format {form['format']!r}", code="bad_format")
        action = enum_or_none(IndicatorAction, form["action"])
        if action is None:
            raise InvalidInput(f"unknown action {form['action']!r}", code="bad_action")
        fmt = (
            detect_format(text, filename)
            if form["format"] == "auto"
            else FeedFormat(form["format"])
        )
        defaults = indicator_service.import_defaults(
            action=action, title=form["title"], category=form["category"]
        )
        outcome = indicator_service.import_document(
            db, text=text, fmt=fmt, defaults=defaults, actor=posted.principal.username, now=now
        )
    except OpenMTDError as e:
        db.rollback()
        return _import_page(
            request, posted.principal, ctx, form=form, error=e.message, status=e.status
        )
    db.commit()
    if outcome.created or outcome.updated:
        ctx.web.changed()
    return _import_page(
        request, posted.principal, ctx, form=form, outcome=outcome, filename=filename
    )


def _indicator_page(
    request: Request,
    p: Principal,
    db: Session,
    now: datetime,
    indicator_id: int,
    *,
    error: str = "",
    form: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    item = web_api.indicator_out(indicator_service.get(db, indicator_id), now)
    current = {
        "action": item.action.value,
        "severity": item.severity.value,
        "title": item.title,
        "description": item.description,
        "recommended_actions": item.recommended_actions,
        "category": item.category,
        "mitre_techniques": ", ".join(item.mitre_techniques),
        "generate_alert": "true" if item.generate_alert else "false",
        "expires_at": _datetime_input(item.expires_at),
        "device_groups": ", ".join(item.device_groups),
    }
    return _page(
        request,
        "web_indicator.html",
        p,
        tab="indicators",
        status=status,
        i=item,
        actions=ACTIONS,
        severities=SEVERITIES,
        error=error,
        form={**current, **(form or {})},
    )


@router.get(f"{INDICATORS}/{{indicator_id}}")
def indicator(indicator_id: IndicatorId, request: Request, p: Viewer, db: Db, now: Now) -> Response:
    return _indicator_page(request, p, db, now, indicator_id)


@router.post(f"{INDICATORS}/{{indicator_id}}")
def update_indicator(
    indicator_id: IndicatorId, request: Request, posted: AdminPost, db: Db, ctx: Ctx, now: Now
) -> Response:
    """Saves the fields the form sent (the edit page sends all; an empty expiry clears it)."""
    indicator_service.get(db, indicator_id)  # 404 before anything else
    form = _indicator_form(posted, with_key=False)
    values = _indicator_values(form)
    if "expires_at" in values and values["expires_at"] is None:
        values["clear_expiry"] = True
    try:
        body = IndicatorUpdate(**values)
        indicator_service.update_indicator(
            db, indicator_id=indicator_id, body=body, actor=posted.principal.username, now=now
        )
    except (ValidationError, OpenMTDError) as e:
        db.rollback()
        problem = _problem(e, _INDICATOR_LABELS)
        return _indicator_page(
            request,
            posted.principal,
            db,
            now,
            indicator_id,
            error=problem.message,
            form=form,
            status=problem.status,
        )
    db.commit()
    ctx.web.changed()
    return _see_other(f"{INDICATORS}/{indicator_id}?msg=web-indicator-updated")


@router.post(f"{INDICATORS}/{{indicator_id}}/delete")
def delete_indicator(
    indicator_id: IndicatorId, posted: AdminPost, db: Db, ctx: Ctx, now: Now
) -> Response:
    indicator_service.delete(
        db, indicator_id=indicator_id, actor=posted.principal.username, now=now
    )
    db.commit()
    ctx.web.changed()
    return _see_other(f"{INDICATORS}?msg=web-indicator-deleted")


# --- feeds ----------------------------------------------------------------------------------

_NEW_FEED: dict[str, Any] = {
    "name": "",
    "location": "",
    "format": "auto",
    "action": IndicatorAction.BLOCK.value,
    "severity": Severity.INFORMATIONAL.value,
    "category": "Phishing",
    "refresh_minutes": "60",
    "enabled": True,
}


def _feeds_page(
    request: Request,
    p: Principal,
    db: Session,
    ctx: Ctx,
    *,
    error: str = "",
    form: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    return _page(
        request,
        "web_feeds.html",
        p,
        tab="feeds",
        status=status,
        feeds=[web_api.feed_out(f) for f in feed_service.list_feeds(db)],
        feed_dirs=[str(d) for d in ctx.settings.allowed_feed_dirs()],
        formats=IMPORT_FORMATS,
        actions=ACTIONS,
        severities=SEVERITIES,
        error=error,
        form=form or dict(_NEW_FEED),
    )


@router.get(FEEDS)
def feeds(request: Request, p: Viewer, db: Db, ctx: Ctx) -> Response:
    return _feeds_page(request, p, db, ctx)


@router.post(FEEDS)
def create_feed(request: Request, posted: AdminPost, db: Db, ctx: Ctx, now: Now) -> Response:
    form: dict[str, Any] = {
        "name": posted.text("name", max_length=256),
        "location": posted.text("location", max_length=4096),
        "format": posted.text("format", max_length=16) or "auto",
        "action": posted.text("action", max_length=16) or IndicatorAction.BLOCK.value,
        "severity": posted.text("severity", max_length=16) or Severity.INFORMATIONAL.value,
        "category": posted.text("category", max_length=256),
        "refresh_minutes": posted.text("refresh_minutes", max_length=16) or "60",
        "enabled": posted.flag("enabled"),
    }
    try:
        body = FeedCreate(**form)
        feed_service.create(
            db,
            body=body,
            actor=posted.principal.username,
            now=now,
            allowed_dirs=ctx.settings.allowed_feed_dirs(),
        )
    except (ValidationError, OpenMTDError) as e:
        db.rollback()
        problem = _problem(e, _FEED_LABELS)
        return _feeds_page(
            request,
            posted.principal,
            db,
            ctx,
            error=problem.message,
            form=form,
            status=problem.status,
        )
    return _see_other(f"{FEEDS}?msg=web-feed-created")


@router.post(f"{FEEDS}/{{feed_id}}/enabled")
def enable_feed(feed_id: FeedId, posted: AdminPost, db: Db, ctx: Ctx, now: Now) -> Response:
    """Switch a feed on (enabled=true) or off (enabled=false)."""
    enabled = bool_or_none(posted.text("enabled", max_length=16))
    if enabled is None:
        raise InvalidInput("enabled must be true or false", code="bad_enabled")
    feed_service.update_feed(
        db,
        feed_id=feed_id,
        body=FeedUpdate(enabled=enabled),
        actor=posted.principal.username,
        now=now,
        allowed_dirs=ctx.settings.allowed_feed_dirs(),
    )
    db.commit()
    ctx.web.changed()
    return _see_other(f"{FEEDS}?msg=web-feed-updated")


@router.post(f"{FEEDS}/{{feed_id}}/refresh")
def refresh(feed_id: FeedId, posted: AdminPost, db: Db, ctx: Ctx, now: Now) -> Response:
    """Fetch and apply the feed now (as POST /api/web/feeds/{id}/refresh)."""
    feed_service.get(db, feed_id)
    record(
        db,
        actor=posted.principal.username,
        action="feed.refresh",
        target=f"feed:{feed_id}",
        now=now,
    )
    db.commit()  # refresh_feed works in its own transactions
    refresh_now(ctx, feed_id=feed_id, now=now)
    return _see_other(f"{FEEDS}?msg=web-feed-refreshed#feed-{feed_id}")


@router.post(f"{FEEDS}/{{feed_id}}/delete")
def delete_feed(feed_id: FeedId, posted: AdminPost, db: Db, ctx: Ctx, now: Now) -> Response:
    feed_service.delete_feed(db, feed_id=feed_id, actor=posted.principal.username, now=now)
    db.commit()
    ctx.web.changed()
    return _see_other(f"{FEEDS}?msg=web-feed-deleted")


# --- the URL check --------------------------------------------------------------------------


def _check_page(
    request: Request,
    p: Principal,
    *,
    form: dict[str, str] | None = None,
    verdict: VerdictOut | None = None,
    problem: str = "",
) -> Response:
    return _page(
        request,
        "web_check.html",
        p,
        tab="check",
        form=form or {"url": "", "device_groups": ""},
        v=verdict,
        problem=problem,
    )


@router.get(CHECK)
def check_form(request: Request, p: Viewer) -> Response:
    return _check_page(request, p)


@router.post(CHECK)
def check(request: Request, posted: Post, ctx: Ctx, now: Now) -> Response:
    """A verdict as the API's POST /api/web/check gives it; bad input is shown, not refused."""
    sent = posted.form.get("url")
    url = sent.strip() if isinstance(sent, str) else ""
    groups = posted.text("device_groups", max_length=16384)
    form = {"url": url[:16384], "device_groups": groups}
    try:
        body = UrlCheck(url=url, device_groups=_items(groups) or None)
    except ValidationError as e:
        return _check_page(
            request,
            posted.principal,
            form=form,
            problem=invalid(e, {"url": "URL or host", "device_groups": "Device groups"}).message,
        )
    scope = frozenset(body.device_groups) if body.device_groups is not None else None
    verdict = web_api.verdict_out(judge(ctx.web.index(), body.url, now=now, device_groups=scope))
    return _check_page(request, posted.principal, form=form, verdict=verdict)


# --- the policy -----------------------------------------------------------------------------


def _policy_form(body: WebPolicyBody) -> dict[str, Any]:
    h = body.heuristics
    return {
        "anti_phishing": body.anti_phishing.model_dump(),
        "local_proxy": body.local_proxy.model_dump(),
        "heuristics_enabled": h.enabled,
        "protected_domains": "\n".join(h.protected_domains),
        "include_builtin_brands": h.include_builtin_brands,
        "known_good": "\n".join(h.known_good),
        "actions": {name: h.actions[name].value for name in HEURISTICS if name in h.actions},
        "disabled": list(h.disabled),
        "block_mode": body.dns.block_mode,
        "block_ipv4": body.dns.block_ipv4,
        "block_ipv6": body.dns.block_ipv6,
        "blocked_ttl": str(body.dns.blocked_ttl),
    }


def _posted_policy(posted: Posted) -> dict[str, Any]:
    """The submitted policy form, in the shape _policy_form gives the template."""
    actions = {}
    for name in HEURISTICS:
        chosen = posted.text(f"action_{name}", max_length=16)
        if chosen:
            actions[name] = chosen
    return {
        "anti_phishing": {
            "android": posted.flag("anti_phishing_android"),
            "ios": posted.flag("anti_phishing_ios"),
        },
        "local_proxy": {
            "android": posted.flag("local_proxy_android"),
            "ios": posted.flag("local_proxy_ios"),
        },
        "heuristics_enabled": posted.flag("heuristics_enabled"),
        "protected_domains": posted.text("protected_domains", max_length=64 * 1024),
        "include_builtin_brands": posted.flag("include_builtin_brands"),
        "known_good": posted.text("known_good", max_length=128 * 1024),
        "actions": actions,
        "disabled": posted.texts("disabled"),
        "block_mode": posted.text("block_mode", max_length=16),
        "block_ipv4": posted.text("block_ipv4", max_length=64),
        "block_ipv6": posted.text("block_ipv6", max_length=64),
        "blocked_ttl": posted.text("blocked_ttl", max_length=16),
    }


def _policy_document(form: Mapping[str, Any]) -> dict[str, Any]:
    """The posted form as a WebPolicyBody document (validated by the model, not here)."""
    return {
        "anti_phishing": form["anti_phishing"],
        "local_proxy": form["local_proxy"],
        "heuristics": {
            "enabled": form["heuristics_enabled"],
            "protected_domains": _lines(form["protected_domains"]),
            "include_builtin_brands": form["include_builtin_brands"],
            "known_good": _lines(form["known_good"]),
            "actions": form["actions"],
            "disabled": form["disabled"],
        },
        "dns": {
            "block_mode": form["block_mode"],
            "block_ipv4": form["block_ipv4"],
            "block_ipv6": form["block_ipv6"],
            "blocked_ttl": form["blocked_ttl"],
        },
    }


def _policy_problems(errors: Sequence[ErrorDetails]) -> list[str]:
    """One readable line per pydantic error, named as the form names the field."""
    out = []
    for err in errors:
        loc = [str(part) for part in err.get("loc", ())]
        name = ""
        for end in range(len(loc), 0, -1):
            name = _POLICY_LABELS.get(".".join(loc[:end]), "")
            if name:
                detail = [p for p in loc[end:] if not p.isdigit()]
                if detail:
                    name += " (" + ", ".join(HEURISTIC_LABELS.get(d, d) for d in detail) + ")"
                break
        name = name or " ".join(loc) or "form"
        message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        out.append(f"{name}: {message}")
    return out


def _policy_page(
    request: Request,
    p: Principal,
    form: dict[str, Any],
    *,
    errors: Sequence[str] = (),
    status: int = 200,
) -> Response:
    return _page(
        request,
        "web_policy.html",
        p,
        tab="policy",
        status=status,
        form=form,
        errors=list(errors),
        heuristics=[(name, HEURISTIC_LABELS[name]) for name in HEURISTICS],
        actions=ACTIONS,
    )


@router.get(POLICY)
def policy(request: Request, p: Viewer, db: Db) -> Response:
    return _policy_page(request, p, _policy_form(load_policy(db)))


@router.post(POLICY)
def save_policy_form(request: Request, posted: AdminPost, db: Db, ctx: Ctx, now: Now) -> Response:
    form = _posted_policy(posted)
    try:
        body = WebPolicyBody.model_validate(_policy_document(form))
    except ValidationError as e:
        return _policy_page(
            request, posted.principal, form, errors=_policy_problems(e.errors()), status=422
        )
    # As PUT /api/web/policy: store, audit, bump the agents' policy generation, then rebuild.
    save_policy(db, body=body, actor=posted.principal.username, now=now)
    db.commit()
    ctx.web.changed()
    return _see_other(f"{POLICY}?msg=web-policy-saved")
