"""The console's plumbing: templates, sign-in and role checks, CSRF, errors rendered as pages,
pagination and the small formatting helpers the templates use.

Views stay thin: they take a `Principal` (pages) or a `Posted` form (POST handlers) from the
dependencies here, call the services and render a template with `render`.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode, urlsplit

import jinja2
from fastapi import Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from openmtd import __version__
from openmtd.domain.enums import (
    EnrollmentScenario,
    OnboardingMode,
    ProtectionScope,
    Role,
)
from openmtd.domain.errors import Forbidden, InvalidInput, OpenMTDError
from openmtd.server.deps import SAFE_METHODS, Db, optional_principal
from openmtd.server.security import Principal

log = logging.getLogger("openmtd.console")

HERE = Path(__file__).parent
TEMPLATES_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"

LOGIN_PATH = "/console/login"
HOME_PATH = "/console"
LOGIN_CSRF_COOKIE = "openmtd_login_csrf"
PAGE_SIZE = 50
MAX_PAGE = 200_000


# --- formatting -------------------------------------------------------------------------------


def fmt_ts(value: datetime | None) -> str:
    """A timestamp as UTC 'YYYY-MM-DD HH:MM' ('—' when missing)."""
    if value is None:
        return "—"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def fmt_iso(value: datetime | None) -> str:
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="seconds")


def fmt_date(value: date | None) -> str:
    return value.isoformat() if value is not None else "—"


def slug(value: object) -> str:
    """A CSS-class-safe lower-case name for an enum value ('InProgress' -> 'inprogress')."""
    text = value.value if isinstance(value, Enum) else str(value)
    return "".join(c for c in text.lower() if c.isalnum() or c == "-")


SCENARIO_SHORT: dict[EnrollmentScenario, str] = {
    EnrollmentScenario.ANDROID_WORK_PROFILE: "Work profile (personal device)",
    EnrollmentScenario.ANDROID_PERSONAL_PROFILE: "Personal profile",
    EnrollmentScenario.ANDROID_COPE: "Corporate work profile (COPE)",
    EnrollmentScenario.ANDROID_CORPORATE_PERSONAL_PROFILE: "Corporate personal profile",
    EnrollmentScenario.ANDROID_COBO: "Fully managed (COBO)",
    EnrollmentScenario.ANDROID_COSU: "Dedicated (COSU)",
    EnrollmentScenario.ANDROID_MAM: "MAM (app protection)",
    EnrollmentScenario.ANDROID_DEVICE_ADMIN: "Device administrator",
    EnrollmentScenario.ANDROID_AOSP: "AOSP",
    EnrollmentScenario.IOS_SUPERVISED: "Supervised (ADE)",
    EnrollmentScenario.IOS_DEVICE_ENROLLMENT: "Device enrollment",
    EnrollmentScenario.IOS_USER_ENROLLMENT: "User enrollment",
    EnrollmentScenario.IOS_MAM: "MAM (app protection)",
    EnrollmentScenario.IOS_SHARED: "Shared / kiosk",
}

SCOPE_LABELS: dict[str, str] = {
    ProtectionScope.WORK_PROFILE.value: "Work profile",
    ProtectionScope.PERSONAL_PROFILE.value: "Personal profile",
    ProtectionScope.ENTIRE_DEVICE.value: "Entire device",
    ProtectionScope.ENROLLED_APPS.value: "Enrolled apps",
    ProtectionScope.WORK_DATA.value: "Work data",
}

ONBOARDING_LABELS: dict[str, str] = {
    OnboardingMode.ZERO_TOUCH.value: "Zero-touch",
    OnboardingMode.LOW_TOUCH.value: "Low-touch",
    OnboardingMode.MANUAL.value: "Manual",
}

PLATFORM_LABELS = {"android": "Android", "ios": "iOS"}

STATUS_LABELS = {"New": "New", "InProgress": "In progress", "Resolved": "Resolved"}

CLASSIFICATION_LABELS = {
    "Unknown": "Not set",
    "TruePositive": "True positive",
    "InformationalExpectedActivity": "Informational, expected activity",
    "FalsePositive": "False positive",
}

PRIVACY_LABELS = {
    "exclude_url_in_report": "Hide URL and domain in phishing reports",
    "exclude_app_in_report": "Hide app details in malware reports",
    "vulnerability_privacy_mode": "Vulnerability privacy mode (no app inventory sent)",
    "network_protection_privacy": "Network protection privacy (no network or certificate details)",
}


def scenario_short(value: object) -> str:
    try:
        return SCENARIO_SHORT[EnrollmentScenario(str(value))]
    except ValueError:
        return str(value)


def label(mapping: Mapping[str, str], value: object) -> str:
    key = str(value.value) if isinstance(value, Enum) else str(value)
    return mapping.get(key, key)


# --- templates --------------------------------------------------------------------------------


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        ts=fmt_ts,
        iso=fmt_iso,
        day=fmt_date,
        slug=slug,
        upfirst=lambda v: str(v)[:1].upper() + str(v)[1:],
        scenario_short=scenario_short,
        platform=lambda v: label(PLATFORM_LABELS, v),
        status=lambda v: label(STATUS_LABELS, v),
        classification=lambda v: label(CLASSIFICATION_LABELS, v),
        scope=lambda v: label(SCOPE_LABELS, v),
        onboarding=lambda v: label(ONBOARDING_LABELS, v),
    )
    env.globals.update(version=__version__, privacy_labels=PRIVACY_LABELS)
    return env


templates = Jinja2Templates(env=_environment())

NAV: tuple[tuple[str, str, str, Role], ...] = (
    ("dashboard", "Dashboard", "/console", Role.READ_ONLY),
    ("devices", "Devices", "/console/devices", Role.READ_ONLY),
    ("alerts", "Alerts", "/console/alerts", Role.READ_ONLY),
    ("web", "Web protection", "/console/web/indicators", Role.READ_ONLY),
    ("apps", "App protection", "/console/apps", Role.READ_ONLY),
    ("vulnerabilities", "Vulnerabilities", "/console/vulnerabilities", Role.READ_ONLY),
    ("compliance", "Compliance", "/console/compliance", Role.READ_ONLY),
    ("launch", "Conditional launch", "/console/launch", Role.ANALYST),
    ("export", "Alert export", "/console/export", Role.ANALYST),
    ("onboarding", "Onboarding", "/console/onboarding", Role.ADMIN),
    ("users", "Users", "/console/users", Role.ADMIN),
    ("audit", "Audit log", "/console/audit", Role.ADMIN),
    ("api-tokens", "API tokens", "/console/api-tokens", Role.READ_ONLY),
)

# Messages shown after a redirect (?msg=key); fixed texts, so nothing from the URL is echoed.
FLASH = {
    "alert-updated": "Alert updated.",
    "alert-unchanged": "Nothing to change: the alert already had those values.",
    "device-retired": "Device retired; its active alerts are resolved and its credential refused.",
    "token-revoked": "Onboarding token revoked.",
    "user-created": "User created.",
    "user-disabled": "User disabled; their sessions and API tokens no longer work.",
    "api-token-revoked": "API token revoked.",
    "signed-out": "You are signed out.",
    "vulns-imported": "Feed imported; its counts are in the import log. The fleet is matched "
    "again in the background.",
    "vulns-mapping-saved": "App mapping saved; the fleet is matched again in the background.",
    "vulns-rematch-started": "Every active device is being matched again in the background.",
}


def render(
    request: Request,
    template: str,
    principal: Principal | None,
    *,
    status: int = 200,
    section: str = "",
    **context: Any,
) -> Response:
    nav = [
        (key, text, href)
        for key, text, href, role in NAV
        if principal is not None and principal.role.allows(role)
    ]
    flash = FLASH.get(request.query_params.get("msg", ""), "")
    base = {
        "principal": principal,
        "csrf_token": principal.csrf_token if principal is not None else "",
        "is_admin": principal is not None and principal.role.allows(Role.ADMIN),
        "is_analyst": principal is not None and principal.role.allows(Role.ANALYST),
        "nav": nav,
        "section": section,
        "flash": flash,
    }
    return templates.TemplateResponse(
        request,
        template,
        {**base, **context},
        status_code=status,
        # Console pages show fleet data and sometimes secrets shown once: never cache them.
        headers={"Cache-Control": "no-store"},
    )


# --- errors as pages --------------------------------------------------------------------------


class LoginRequired(Exception):
    """Raised by the page dependencies when nobody is signed in; becomes a 303 to the login."""

    def __init__(self, next_path: str | None) -> None:
        super().__init__("sign in")
        self.next_path = next_path


_ERROR_TITLES = {
    400: "Bad request",
    401: "Sign-in failed",
    403: "Access denied",
    404: "Not found",
    409: "Conflict",
    413: "Too large",
    422: "Check your input",
}


def error_page(request: Request, status: int, message: str, code: str = "") -> Response:
    principal = getattr(request.state, "console_principal", None)
    return render(
        request,
        "error.html",
        principal,
        status=status,
        title=_ERROR_TITLES.get(status, "Something went wrong"),
        message=message,
        code=code,
        status_code=status,
    )


async def _rollback(request: Request) -> None:
    """Undo the request's writes before the error page is shown.

    The route handler runs inside the transaction dependency (deps.get_db), which commits when
    the handler returns normally; an error turned into a page must not commit half a change.
    """
    db: Session | None = getattr(request.state, "console_db", None)
    if db is not None:
        await run_in_threadpool(db.rollback)


async def _commit(request: Request) -> None:
    db: Session | None = getattr(request.state, "console_db", None)
    if db is not None:
        await run_in_threadpool(db.commit)


class ConsoleRoute(APIRoute):
    """Renders OpenMTDError and bad requests as HTML pages; the /api JSON envelope is untouched."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def console_handler(request: Request) -> Response:
            try:
                response = await handler(request)
                if request.method not in SAFE_METHODS:
                    # Commit before the response leaves: the transaction dependency would
                    # commit only after it is sent, and the browser follows a redirect at once.
                    await _commit(request)
                return response
            except LoginRequired as e:
                return RedirectResponse(login_url(e.next_path), status_code=303)
            except OpenMTDError as e:
                await _rollback(request)
                return error_page(request, e.status, e.message, e.code)
            except RequestValidationError:
                await _rollback(request)
                return error_page(
                    request, 404, "There is no such page; check the address.", "not_found"
                )

        return console_handler


# --- redirects after sign-in ------------------------------------------------------------------


def safe_next(value: str | None) -> str:
    """Where to go after sign-in: only relative paths inside the console (no open redirect)."""
    if not value or len(value) > 2048 or not value.isprintable():
        return HOME_PATH
    if "\\" in value or value.startswith("//"):
        return HOME_PATH
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return HOME_PATH
    path = parts.path
    if path != HOME_PATH and not path.startswith(HOME_PATH + "/"):
        return HOME_PATH
    if ".." in path.split("/") or path.startswith((LOGIN_PATH, "/console/logout")):
        return HOME_PATH
    return value


def login_url(next_path: str | None) -> str:
    if next_path and safe_next(next_path) == next_path:
        return f"{LOGIN_PATH}?{urlencode({'next': next_path})}"
    return LOGIN_PATH


def next_for(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


# --- who is signed in -------------------------------------------------------------------------


def session_principal(
    request: Request,
    db: Db,
    principal: Annotated[Principal | None, Depends(optional_principal)],
) -> Principal | None:
    """The signed-in console user; API tokens do not open console pages."""
    request.state.console_db = db
    if principal is None or principal.via != "session":
        return None
    request.state.console_principal = principal
    return principal


SessionPrincipal = Annotated[Principal | None, Depends(session_principal)]


def _page_user(role: Role) -> Callable[..., Principal]:
    def dependency(request: Request, principal: SessionPrincipal) -> Principal:
        if principal is None:
            raise LoginRequired(next_for(request) if request.method == "GET" else None)
        principal.require(role)
        return principal

    dependency.__name__ = f"console_{role.name.lower()}"
    return dependency


Viewer = Annotated[Principal, Depends(_page_user(Role.READ_ONLY))]
AnalystViewer = Annotated[Principal, Depends(_page_user(Role.ANALYST))]
AdminViewer = Annotated[Principal, Depends(_page_user(Role.ADMIN))]


async def read_form(request: Request) -> AsyncIterator[FormData]:
    """The posted form; its uploaded files are closed when the request is done."""
    form = await request.form()
    try:
        yield form
    finally:
        await form.close()


FormFields = Annotated[FormData, Depends(read_form)]


def csrf_matches(sent: object, expected: str) -> bool:
    if not isinstance(sent, str) or not sent or not expected:
        return False
    return secrets.compare_digest(sent.encode("utf-8"), expected.encode("utf-8"))


@dataclass(frozen=True, slots=True)
class Posted:
    """A console form that passed the session and CSRF checks."""

    principal: Principal
    form: FormData

    def text(self, name: str, *, max_length: int = 4096) -> str:
        value = self.form.get(name)
        if not isinstance(value, str):
            return ""
        value = value.strip()
        if len(value) > max_length:
            raise InvalidInput(f"{name} is longer than {max_length} characters")
        return value

    def texts(self, name: str) -> list[str]:
        return [v.strip() for v in self.form.getlist(name) if isinstance(v, str) and v.strip()]

    def has(self, name: str) -> bool:
        return name in self.form

    def flag(self, name: str) -> bool:
        return self.text(name, max_length=16).lower() in {"1", "on", "true", "yes"}


def _form_user(role: Role) -> Callable[..., Posted]:
    def dependency(request: Request, principal: SessionPrincipal, form: FormFields) -> Posted:
        if principal is None:
            raise LoginRequired(None)
        if not csrf_matches(form.get("csrf_token"), principal.csrf_token):
            raise Forbidden(
                "the form did not carry this session's CSRF token (an old page, or a form "
                "from another site); reload the page and try again",
                code="csrf_failed",
            )
        principal.require(role)
        return Posted(principal, form)

    dependency.__name__ = f"console_form_{role.name.lower()}"
    return dependency


Post = Annotated[Posted, Depends(_form_user(Role.READ_ONLY))]
AnalystPost = Annotated[Posted, Depends(_form_user(Role.ANALYST))]
AdminPost = Annotated[Posted, Depends(_form_user(Role.ADMIN))]


def invalid(e: ValidationError, labels: Mapping[str, str] | None = None) -> InvalidInput:
    """A pydantic error on form input as one readable InvalidInput."""
    problems = []
    for err in e.errors():
        loc = [str(p) for p in err.get("loc", ())]
        field = loc[0] if loc else "form"
        name = (labels or {}).get(field, field.replace("_", " "))
        problems.append(f"{name}: {err.get('msg', 'invalid')}")
    return InvalidInput("; ".join(problems) or "the form is invalid")


# --- query strings and pagination -------------------------------------------------------------


def query_url(path: str, params: Mapping[str, str], **changes: str | int | None) -> str:
    merged: dict[str, str] = dict(params)
    for key, value in changes.items():
        if value is None or value == "":
            merged.pop(key, None)
        else:
            merged[key] = str(value)
    items = [(k, v) for k, v in merged.items() if v != ""]
    return path + (f"?{urlencode(items)}" if items else "")


def page_number(value: str | None) -> int:
    try:
        number = int(value or "1")
    except ValueError:
        return 1
    return min(max(number, 1), MAX_PAGE)


@dataclass(frozen=True, slots=True)
class Pager:
    path: str
    params: Mapping[str, str]
    page: int
    total: int
    per_page: int = PAGE_SIZE

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def first(self) -> int:
        return min(self.offset + 1, self.total)

    @property
    def last(self) -> int:
        return min(self.offset + self.per_page, self.total)

    @property
    def prev_url(self) -> str | None:
        return self.url(self.page - 1) if self.page > 1 else None

    @property
    def next_url(self) -> str | None:
        return self.url(self.page + 1) if self.page < self.pages else None

    def url(self, page: int) -> str:
        return query_url(self.path, self.params, page=page if page > 1 else None)

    def window(self) -> list[int | None]:
        """Page numbers to link, with None for a gap: 1 … 4 5 [6] 7 8 … 20."""
        shown = sorted(
            p for p in {1, self.pages, *range(self.page - 2, self.page + 3)} if 1 <= p <= self.pages
        )
        out: list[int | None] = []
        previous = 0
        for n in shown:
            if n - previous > 1:
                out.append(None)
            out.append(n)
            previous = n
        return out


E = TypeVar("E", bound=Enum)


def enum_or_none(kind: type[E], value: str | None) -> E | None:
    """Lenient parsing of a filter value: anything unknown means 'no filter'."""
    if not value:
        return None
    try:
        return kind(value)
    except ValueError:
        return None


def bool_or_none(value: str | None) -> bool | None:
    if value is None:
        return None
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    return None


def clip(value: str | None, length: int) -> str:
    return (value or "").strip()[:length]
