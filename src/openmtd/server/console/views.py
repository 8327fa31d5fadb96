"""Routes of the web console: thin handlers over the services, rendered with Jinja2.

Pages take a `Viewer` / `AnalystViewer` / `AdminViewer` (signed in with at least that role;
otherwise a 303 to the login page, or a 403 page); form handlers take a `Post` / `AnalystPost` /
`AdminPost`, which also checks the session's CSRF token. See web.py for the plumbing.
"""

from __future__ import annotations

import base64
import re
import secrets
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError

from openmtd.domain.enums import (
    AlertClassification,
    AlertStatus,
    EnrollmentScenario,
    Platform,
    RiskLevel,
    Role,
    Severity,
)
from openmtd.domain.errors import NotFound, OpenMTDError, TooManyRequests, Unauthorized
from openmtd.engines.web.detections import CATEGORY as WEB_CATEGORY
from openmtd.enrollment.scenarios import SCENARIOS, ScenarioSpec, supported_scenarios
from openmtd.server import presenters
from openmtd.server import privacy as privacy_service
from openmtd.server.alerts import service as alerts_service
from openmtd.server.alerts.service import AlertFilters
from openmtd.server.audit import service as audit_service
from openmtd.server.compliance import service as compliance_service
from openmtd.server.console.charts import bar_chart, meter
from openmtd.server.console.web import (
    HOME_PATH,
    LOGIN_CSRF_COOKIE,
    LOGIN_PATH,
    PAGE_SIZE,
    SCENARIO_SHORT,
    STATIC_DIR,
    AdminPost,
    AdminViewer,
    AnalystPost,
    ConsoleRoute,
    FormFields,
    Pager,
    Post,
    SessionPrincipal,
    Viewer,
    bool_or_none,
    clip,
    csrf_matches,
    enum_or_none,
    invalid,
    page_number,
    query_url,
    render,
    safe_next,
    slug,
)
from openmtd.server.deps import Ctx, Db, Now
from openmtd.server.devices import service as devices_service
from openmtd.server.devices.service import DeviceFilters
from openmtd.server.devices.views import state_rules
from openmtd.server.dns import service as dns_service
from openmtd.server.integrity import service as integrity_service
from openmtd.server.onboarding import service as onboarding_service
from openmtd.server.schemas import (
    AlertUpdate,
    ApiTokenCreate,
    DeviceRetire,
    ManagedConfigRequest,
    OnboardingTokenCreate,
    UserCreate,
)
from openmtd.server.security import (
    SESSION_COOKIE,
    Principal,
    close_session,
    open_session,
    sign_in,
)
from openmtd.server.users import service as users_service
from openmtd.server.vulns import queries as vuln_queries
from openmtd.store.models import ApiToken

router = APIRouter(include_in_schema=False, route_class=ConsoleRoute)
router.mount("/console/static", StaticFiles(directory=STATIC_DIR), name="console-static")

AlertId = Annotated[int, Path(ge=1, le=2**31 - 1)]
ObjectId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


# --- sign-in ----------------------------------------------------------------------------------


@router.get("/")
def root() -> RedirectResponse:
    return _see_other(HOME_PATH)


def _login_page(
    request: Request,
    ctx: Ctx,
    *,
    next_path: str,
    error: str = "",
    username: str = "",
    status: int = 200,
) -> Response:
    # Double-submit CSRF before there is a session: a random cookie echoed in a hidden field.
    token = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not re.fullmatch(r"[A-Za-z0-9_-]{32,64}", token):
        token = secrets.token_urlsafe(32)
    response = render(
        request,
        "login.html",
        None,
        status=status,
        next_path=next_path,
        login_csrf=token,
        error=error,
        username=username,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=2 * 3600,
        path=LOGIN_PATH,
        secure=ctx.settings.secure_cookies,
        httponly=True,
        samesite="lax",
    )
    return response


@router.get("/console/login")
def login_page(
    request: Request,
    ctx: Ctx,
    principal: SessionPrincipal,
    next_path: Annotated[str | None, Query(alias="next")] = None,
) -> Response:
    target = safe_next(next_path)
    if principal is not None:
        return _see_other(target)
    return _login_page(request, ctx, next_path=target)


@router.post("/console/login")
def login(
    request: Request, form: FormFields, db: Db, ctx: Ctx, now: Now, _p: SessionPrincipal
) -> Response:
    def field(name: str) -> str:
        value = form.get(name)
        return value if isinstance(value, str) else ""

    target = safe_next(field("next"))
    username = field("username").strip()[:64]
    if not csrf_matches(form.get("csrf_token"), request.cookies.get(LOGIN_CSRF_COOKIE, "")):
        return _login_page(
            request,
            ctx,
            next_path=target,
            username=username,
            status=403,
            error="The sign-in form expired or did not come from this console. "
            "Enter your username and password again.",
        )
    try:
        password = field("password")
        if len(password) > 1024:
            raise Unauthorized("wrong username or password")
        client = request.client.host if request.client else "-"
        user = sign_in(db, username, password, now=now, client=client)
    except TooManyRequests as e:
        return _login_page(
            request, ctx, next_path=target, username=username, status=429, error=e.message + "."
        )
    except Unauthorized:
        return _login_page(
            request,
            ctx,
            next_path=target,
            username=username,
            status=401,
            error="Wrong username or password, or the account is disabled.",
        )
    previous = request.cookies.get(SESSION_COOKIE)
    if previous:
        close_session(db, previous)
    token = open_session(db, user, now=now, hours=ctx.settings.session_hours)
    response = _see_other(target)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=ctx.settings.session_hours * 3600,
        path="/",
        secure=ctx.settings.secure_cookies,
        httponly=True,
        samesite="lax",
    )
    response.delete_cookie(
        LOGIN_CSRF_COOKIE, path=LOGIN_PATH, secure=ctx.settings.secure_cookies, httponly=True
    )
    return response


@router.post("/console/logout")
def logout(request: Request, _posted: Post, db: Db, ctx: Ctx) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        close_session(db, token)
    response = _see_other(f"{LOGIN_PATH}?msg=signed-out")
    response.delete_cookie(
        SESSION_COOKIE, path="/", secure=ctx.settings.secure_cookies, httponly=True, samesite="lax"
    )
    return response


# --- dashboard --------------------------------------------------------------------------------


@router.get("/console")
def dashboard(request: Request, p: Viewer, db: Db, ctx: Ctx, now: Now) -> Response:
    rules = state_rules(now)
    summary = devices_service.fleet_summary(db, rules=rules)
    _rows, noncompliant = devices_service.list_devices(
        db, filters=DeviceFilters(compliant=False), rules=rules, limit=1, offset=0
    )
    newest, _total = alerts_service.list_alerts(
        db, filters=AlertFilters(active_only=True), limit=10, offset=0
    )
    devices = devices_service.devices_by_id(db, (a.device_id for a in newest))
    risk_chart = bar_chart(
        [
            (
                level.value,
                summary.by_risk.get(level.value, 0),
                f"risk-{slug(level)}",
                query_url("/console/devices", {}, risk=level.value),
            )
            for level in reversed(RiskLevel)
        ]
    )
    severity_chart = bar_chart(
        [
            (
                sev.value,
                summary.active_alerts_by_severity.get(sev.value, 0),
                f"sev-{slug(sev)}",
                query_url("/console/alerts", {}, status="active", severity=sev.value),
            )
            for sev in reversed(Severity)
        ]
    )
    platform_chart = bar_chart(
        [
            (
                "Android" if platform is Platform.ANDROID else "iOS",
                summary.by_platform.get(platform.value, 0),
                f"platform-{platform.value}",
                query_url("/console/devices", {}, platform=platform.value),
            )
            for platform in Platform
        ]
    )
    largest = max(summary.by_scenario.values(), default=0)
    scenarios = sorted(
        (
            {
                "scenario": scenario,
                "label": SCENARIO_SHORT[scenario],
                "platform": SCENARIOS[scenario].platform.value,
                "count": count,
                "meter": meter(count, largest),
                "href": query_url("/console/devices", {}, scenario=scenario.value),
            }
            for scenario in EnrollmentScenario
            if (count := summary.by_scenario.get(scenario.value, 0))
        ),
        key=lambda row: (-int(row["count"]), str(row["label"])),
    )
    active_alerts = sum(summary.active_alerts_by_severity.values())
    web_index = ctx.web.index()
    return render(
        request,
        "dashboard.html",
        p,
        section="dashboard",
        summary=summary,
        web_indicators=web_index.count,
        web_blocks_7d=alerts_service.alerts_with_activity_since(
            db, category=WEB_CATEGORY, since=now - timedelta(days=7)
        ),
        noncompliant=noncompliant,
        active_alerts=active_alerts,
        high_alerts=summary.active_alerts_by_severity.get(Severity.HIGH.value, 0),
        risk_chart=risk_chart,
        severity_chart=severity_chart,
        platform_chart=platform_chart,
        scenarios=scenarios,
        newest=[presenters.alert_out(a) for a in newest],
        devices=devices,
    )


# --- devices ----------------------------------------------------------------------------------

_DEVICE_PARAMS = {
    "q": 128,
    "platform": 16,
    "scenario": 48,
    "risk": 16,
    "compliant": 5,
    "unresponsive": 5,
    "retired": 8,
    "tag": 64,
    "group": 128,
    "sort": 16,
}


@router.get("/console/devices")
def devices(request: Request, p: Viewer, db: Db, ctx: Ctx, now: Now) -> Response:
    raw = {k: clip(request.query_params.get(k), n) for k, n in _DEVICE_PARAMS.items()}
    platform = enum_or_none(Platform, raw["platform"])
    scenario = enum_or_none(EnrollmentScenario, raw["scenario"])
    risk = enum_or_none(RiskLevel, raw["risk"])
    compliant = bool_or_none(raw["compliant"])
    unresponsive = bool_or_none(raw["unresponsive"])
    include_retired = raw["retired"] == "include"
    sort = raw["sort"] if raw["sort"] in devices_service.SORTS else "last_seen"
    # Only the filters that are in force stay in links (pagination, sorting).
    params = {
        "q": raw["q"],
        "platform": platform.value if platform else "",
        "scenario": scenario.value if scenario else "",
        "risk": risk.value if risk else "",
        "compliant": "" if compliant is None else str(compliant).lower(),
        "unresponsive": "" if unresponsive is None else str(unresponsive).lower(),
        "retired": "include" if include_retired else "",
        "tag": raw["tag"],
        "group": raw["group"],
        "sort": "" if sort == "last_seen" else sort,
    }
    params = {k: v for k, v in params.items() if v}
    rules = state_rules(now)
    filters = DeviceFilters(
        platform=platform,
        scenario=scenario,
        risk=risk,
        tag=raw["tag"] or None,
        group=raw["group"] or None,
        compliant=compliant,
        unresponsive=unresponsive,
        search=raw["q"] or None,
        include_retired=include_retired,
    )
    page = page_number(request.query_params.get("page"))
    rows, total = devices_service.list_devices(
        db,
        filters=filters,
        rules=rules,
        limit=PAGE_SIZE,
        offset=(page - 1) * PAGE_SIZE,
        sort=sort,
    )
    pager = Pager("/console/devices", params, page, total)
    return render(
        request,
        "devices.html",
        p,
        section="devices",
        items=[presenters.device_summary(d, rules) for d in rows],
        pager=pager,
        params=params,
        sort=sort,
        filtered=any(k != "sort" for k in params),
        platforms=list(Platform),
        scenarios=[s for s in EnrollmentScenario if SCENARIOS[s].supported],
        risks=list(RiskLevel),
        sorts=[("last_seen", "Last seen"), ("name", "Name"), ("enrolled", "Enrolled")],
        sort_url=lambda key: query_url(
            "/console/devices", params, sort=None if key == "last_seen" else key
        ),
    )


@router.get("/console/devices/{device_id}")
def device_page(
    device_id: Annotated[str, Path(max_length=64)],
    request: Request,
    p: Viewer,
    db: Db,
    ctx: Ctx,
    now: Now,
) -> Response:
    device = devices_service.get_device(db, device_id)
    rules = state_rules(now)
    spec: ScenarioSpec | None = SCENARIOS.get(EnrollmentScenario(device.scenario))
    signals: dict[str, Any] = dict(getattr(device, "signals", None) or {})
    return render(
        request,
        "device.html",
        p,
        section="devices",
        d=presenters.device_summary(device, rules),
        device=device,
        spec=spec,
        compliance_reasons=presenters.compliance_reasons(device, rules),
        warnings=list(device.enrollment_warnings),
        privacy={k: bool(v) for k, v in device.privacy.items()},
        privacy_toggles=privacy_service.user_toggles(
            ctx.settings, scenario=device.scenario, device_group=device.device_group
        ),
        integrity_signals=[x for x in signals.get("integrity") or [] if isinstance(x, dict)],
        integrity=dict(device.integrity or {}),
        attestations=integrity_service.recent_attestations(db, device.id, limit=10),
        vulns=vuln_queries.device_vulnerabilities(db, device.id),
        network_signals=[x for x in signals.get("network") or [] if isinstance(x, dict)],
        apps=[presenters.app_out(a) for a in devices_service.device_apps(db, device.id)],
        alerts=[presenters.alert_out(a) for a in devices_service.device_alerts(db, device.id)],
        timeline=[presenters.event_out(e) for e in devices_service.device_timeline(db, device.id)],
        policy=compliance_service.policy_named(db, device.compliance_policy),
    )


@router.post("/console/devices/{device_id}/retire")
def retire_device(
    device_id: Annotated[str, Path(max_length=64)], posted: AdminPost, db: Db, now: Now
) -> Response:
    try:
        body = DeviceRetire(reason=posted.text("reason", max_length=1024))
    except ValidationError as e:
        raise invalid(e, {"reason": "Reason"}) from e
    device = devices_service.retire_device(
        db, device_id=device_id, actor=posted.principal.username, now=now, reason=body.reason
    )
    return _see_other(f"/console/devices/{device.id}?msg=device-retired")


@router.post("/console/devices/{device_id}/dns-profile")
def issue_dns_profile(
    request: Request,
    device_id: Annotated[str, Path(max_length=64)],
    posted: AdminPost,
    db: Db,
    ctx: Ctx,
    now: Now,
) -> Response:
    """Issue (rotate) the device's protective-DNS token and show its profile once."""
    profile = dns_service.issue_profile(
        db, ctx, request.app.state, actor=posted.principal.username, device_id=device_id, now=now
    )
    db.commit()
    response = render(
        request,
        "dns_profile.html",
        posted.principal,
        section="devices",
        profile=profile,
        mobileconfig_b64=base64.b64encode(profile.mobileconfig).decode("ascii"),
    )
    response.headers["Cache-Control"] = "no-store"
    return response


# --- alerts -----------------------------------------------------------------------------------


@router.get("/console/alerts")
def alerts(request: Request, p: Viewer, db: Db) -> Response:
    q = request.query_params
    severity = enum_or_none(Severity, q.get("severity"))
    status_text = clip(q.get("status"), 16)
    active = status_text == "active" or bool_or_none(q.get("active")) is True
    status = None if active else enum_or_none(AlertStatus, status_text)
    category = clip(q.get("category"), 64)
    platform = enum_or_none(Platform, q.get("platform"))
    params = {
        "severity": severity.value if severity else "",
        "status": "active" if active else (status.value if status else ""),
        "category": category,
        "platform": platform.value if platform else "",
    }
    params = {k: v for k, v in params.items() if v}
    filters = AlertFilters(
        severity=severity,
        status=status,
        category=category or None,
        platform=platform.value if platform else None,
        active_only=active,
    )
    page = page_number(q.get("page"))
    rows, total = alerts_service.list_alerts(
        db, filters=filters, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
    )
    return render(
        request,
        "alerts.html",
        p,
        section="alerts",
        items=[presenters.alert_out(a) for a in rows],
        devices=devices_service.devices_by_id(db, (a.device_id for a in rows)),
        pager=Pager("/console/alerts", params, page, total),
        params=params,
        filtered=bool(params),
        severities=list(reversed(Severity)),
        statuses=list(AlertStatus),
        platforms=list(Platform),
    )


@router.get("/console/alerts/{alert_id}")
def alert_page(
    alert_id: AlertId, request: Request, p: Viewer, db: Db, ctx: Ctx, now: Now
) -> Response:
    alert = alerts_service.get_alert(db, alert_id)
    device = devices_service.get_device(db, alert.device_id)
    activity = [
        presenters.event_out(e)
        for e in devices_service.device_timeline(db, device.id)
        if isinstance(e.details, dict) and e.details.get("alert_id") == alert.id
    ]
    return render(
        request,
        "alert.html",
        p,
        section="alerts",
        a=presenters.alert_out(alert),
        d=presenters.device_summary(device, state_rules(now)),
        activity=activity,
        statuses=list(AlertStatus),
        classifications=list(AlertClassification),
    )


@router.post("/console/alerts/{alert_id}")
def update_alert(alert_id: AlertId, posted: AnalystPost, db: Db, now: Now) -> Response:
    assigned = posted.text("assigned_to", max_length=256) if posted.has("assigned_to") else None
    try:
        body = AlertUpdate(
            status=posted.text("status", max_length=32) or None,
            classification=posted.text("classification", max_length=64) or None,
            assigned_to=assigned or None,
            unassign=assigned == "",
        )
    except ValidationError as e:
        raise invalid(e, {"assigned_to": "Assigned to"}) from e
    alerts_service.update_alert(
        db,
        alert_id=alert_id,
        actor=posted.principal.username,
        now=now,
        status=body.status,
        classification=body.classification,
        assigned_to=body.assigned_to,
        unassign=body.unassign,
    )
    return _see_other(f"/console/alerts/{alert_id}?msg=alert-updated")


# --- onboarding -------------------------------------------------------------------------------

_TOKEN_LABELS = {
    "name": "Name",
    "platform": "Platform",
    "scenarios": "Scenarios",
    "device_group": "Device group",
    "tags": "Tags",
    "expires_in_hours": "Expires after (hours)",
    "max_uses": "Maximum uses",
    "onboarding_token": "Onboarding token",
    "scenario": "Scenario",
    "device_tag": "Device tag",
}


def _onboarding_page(
    request: Request,
    p: Principal,
    db: Db,
    now: datetime,
    *,
    error: str = "",
    form: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    return render(
        request,
        "onboarding.html",
        p,
        status=status,
        section="onboarding",
        tokens=[presenters.token_out(t, now) for t in onboarding_service.list_tokens(db)],
        scenario_table=list(SCENARIOS.values()),
        supported={pl: supported_scenarios(pl) for pl in Platform},
        error=error,
        form=form
        or {
            "name": "",
            "platform": "",
            "scenarios": [],
            "device_group": "default",
            "tags": "",
            "expires_in_hours": "168",
            "max_uses": "",
        },
    )


@router.get("/console/onboarding")
def onboarding(request: Request, p: AdminViewer, db: Db, now: Now) -> Response:
    return _onboarding_page(request, p, db, now)


def _split_tags(text: str) -> list[str]:
    return [t for t in re.split(r"[\s,]+", text) if t]


@router.post("/console/onboarding/tokens")
def create_onboarding_token(request: Request, posted: AdminPost, db: Db, now: Now) -> Response:
    form: dict[str, Any] = {
        "name": posted.text("name", max_length=256),
        "platform": posted.text("platform", max_length=16),
        "scenarios": posted.texts("scenarios"),
        "device_group": posted.text("device_group", max_length=256) or "default",
        "tags": posted.text("tags", max_length=2048),
        "expires_in_hours": posted.text("expires_in_hours", max_length=16),
        "max_uses": posted.text("max_uses", max_length=16),
    }
    values: dict[str, Any] = {
        "name": form["name"],
        "platform": form["platform"] or None,
        "scenarios": form["scenarios"],
        "device_group": form["device_group"],
        "tags": _split_tags(form["tags"]),
        "max_uses": form["max_uses"] or None,
    }
    if form["expires_in_hours"]:
        values["expires_in_hours"] = form["expires_in_hours"]
    try:
        body = OnboardingTokenCreate(**values)
        token, secret = onboarding_service.create_token(
            db, request=body, actor=posted.principal.username, now=now
        )
    except (ValidationError, OpenMTDError) as e:
        db.rollback()
        problem = invalid(e, _TOKEN_LABELS) if isinstance(e, ValidationError) else e
        return _onboarding_page(
            request,
            posted.principal,
            db,
            now,
            error=problem.message,
            form=form,
            status=problem.status,
        )
    out = presenters.token_out(token, now)
    if out.scenarios:
        config_scenarios = [SCENARIOS[s] for s in out.scenarios]
    else:
        config_scenarios = supported_scenarios(out.platform)
    return render(
        request,
        "onboarding_created.html",
        posted.principal,
        section="onboarding",
        token=out,
        secret=secret,
        config_scenarios=config_scenarios,
    )


@router.post("/console/onboarding/tokens/{token_id}/revoke")
def revoke_onboarding_token(token_id: ObjectId, posted: AdminPost, db: Db, now: Now) -> Response:
    onboarding_service.revoke_token(db, token_id=token_id, actor=posted.principal.username, now=now)
    return _see_other("/console/onboarding?msg=token-revoked")


@router.post("/console/onboarding/managed-config")
def managed_config(posted: AdminPost, ctx: Ctx) -> Response:
    try:
        body = ManagedConfigRequest(
            onboarding_token=posted.text("onboarding_token", max_length=256),
            scenario=posted.text("scenario", max_length=64),
            device_tag=posted.text("device_tag", max_length=256),
            exclude_url_in_report=posted.flag("exclude_url_in_report"),
            exclude_app_in_report=posted.flag("exclude_app_in_report"),
            vulnerability_privacy_mode=posted.flag("vulnerability_privacy_mode"),
            network_protection_privacy=posted.flag("network_protection_privacy"),
        )
    except ValidationError as e:
        raise invalid(e, _TOKEN_LABELS) from e
    content, media_type, filename = onboarding_service.render_managed_config(
        body, server_url=ctx.settings.public_url
    )
    return Response(
        content,
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


# --- users ------------------------------------------------------------------------------------


def _users_page(
    request: Request,
    p: Principal,
    db: Db,
    *,
    error: str = "",
    form: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    return render(
        request,
        "users.html",
        p,
        status=status,
        section="users",
        users=[presenters.user_out(u) for u in users_service.list_users(db)],
        roles=list(Role),
        error=error,
        form=form or {"username": "", "role": Role.READ_ONLY.value},
    )


@router.get("/console/users")
def users(request: Request, p: AdminViewer, db: Db) -> Response:
    return _users_page(request, p, db)


@router.post("/console/users")
def create_user(request: Request, posted: AdminPost, db: Db, now: Now) -> Response:
    form = {
        "username": posted.text("username", max_length=256),
        "role": posted.text("role", max_length=32),
    }
    try:
        body = UserCreate(
            username=form["username"],
            password=posted.text("password", max_length=1024),
            role=form["role"],
        )
        users_service.create_user(
            db,
            username=body.username,
            password=body.password,
            role=body.role,
            actor=posted.principal.username,
            now=now,
        )
    except (ValidationError, OpenMTDError) as e:
        db.rollback()
        problem = invalid(e) if isinstance(e, ValidationError) else e
        return _users_page(
            request, posted.principal, db, error=problem.message, form=form, status=problem.status
        )
    return _see_other("/console/users?msg=user-created")


@router.post("/console/users/{user_id}/disable")
def disable_user(
    request: Request, user_id: ObjectId, posted: AdminPost, db: Db, now: Now
) -> Response:
    try:
        users_service.disable_user(db, user_id=user_id, actor=posted.principal.username, now=now)
    except OpenMTDError as e:
        db.rollback()
        return _users_page(request, posted.principal, db, error=e.message, status=e.status)
    return _see_other("/console/users?msg=user-disabled")


# --- API tokens -------------------------------------------------------------------------------

_EXPIRY_CHOICES = [("7", "7 days"), ("30", "30 days"), ("90", "90 days"), ("365", "1 year")]


def _token_state(token: ApiToken, now: datetime) -> str:
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and token.expires_at <= now:
        return "expired"
    return "active"


def _api_tokens_page(
    request: Request,
    p: Principal,
    db: Db,
    now: datetime,
    *,
    created: dict[str, Any] | None = None,
    error: str = "",
    status: int = 200,
) -> Response:
    tokens = users_service.list_api_tokens(db, p.user_id)
    return render(
        request,
        "api_tokens.html",
        p,
        status=status,
        section="api-tokens",
        tokens=[(t, _token_state(t, now)) for t in tokens],
        roles=[r for r in Role if p.role.allows(r)],
        expiry_choices=_EXPIRY_CHOICES,
        created=created,
        error=error,
    )


@router.get("/console/api-tokens")
def api_tokens(request: Request, p: Viewer, db: Db, now: Now) -> Response:
    return _api_tokens_page(request, p, db, now)


@router.post("/console/api-tokens")
def create_api_token_form(request: Request, posted: Post, db: Db, now: Now) -> Response:
    p = posted.principal
    expiry = posted.text("expires_in_days", max_length=16)
    try:
        body = ApiTokenCreate(
            name=posted.text("name", max_length=256),
            role=posted.text("role", max_length=32) or None,
            expires_in_days=None if expiry in {"", "never"} else expiry,
        )
        row, secret = users_service.issue_api_token(db, caller=p, request=body, now=now)
    except (ValidationError, OpenMTDError) as e:
        db.rollback()
        problem = invalid(e) if isinstance(e, ValidationError) else e
        return _api_tokens_page(request, p, db, now, error=problem.message, status=problem.status)
    created = {
        "name": row.name,
        "role": Role(row.role),
        "expires_at": row.expires_at,
        "token": secret,
    }
    return _api_tokens_page(request, p, db, now, created=created)


@router.post("/console/api-tokens/{token_id}/revoke")
def revoke_api_token(token_id: ObjectId, posted: Post, db: Db, now: Now) -> Response:
    users_service.revoke_api_token(
        db,
        token_id=token_id,
        actor_id=posted.principal.user_id,
        actor=posted.principal.username,
        is_admin=False,  # this page lists the caller's own tokens only
        now=now,
    )
    return _see_other("/console/api-tokens?msg=api-token-revoked")


# --- audit log --------------------------------------------------------------------------------


@router.get("/console/audit")
def audit(request: Request, p: AdminViewer, db: Db) -> Response:
    page = page_number(request.query_params.get("page"))
    rows, total = audit_service.entries(db, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    return render(
        request,
        "audit.html",
        p,
        section="audit",
        entries=[presenters.audit_out(e) for e in rows],
        pager=Pager("/console/audit", {}, page, total),
    )


# --- anything else under /console -------------------------------------------------------------


@router.get("/console/{rest:path}")
def not_found(rest: str, _p: Viewer) -> Response:
    if rest == "":
        return _see_other(HOME_PATH)
    raise NotFound("There is no such page in the console.")
