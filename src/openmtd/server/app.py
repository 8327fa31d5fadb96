"""create_app(): the console server, wired from one Settings object."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from functools import cache

from fastapi import APIRouter, FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.routing import BaseRoute
from starlette.types import Receive, Scope, Send

from openmtd import __version__
from openmtd.config import Settings
from openmtd.server.access.views import is_check, send_check
from openmtd.server.access.views import router as access_router
from openmtd.server.agent_api.views import router as agent_router
from openmtd.server.alerts.views import router as alerts_router
from openmtd.server.apps.views import agent_router as apps_agent_router
from openmtd.server.apps.views import router as apps_router
from openmtd.server.audit.views import router as audit_router
from openmtd.server.compliance.schedule import start_compliance
from openmtd.server.compliance.views import router as compliance_router
from openmtd.server.console.app_pages import router as console_apps_router
from openmtd.server.console.compliance_pages import router as console_compliance_router
from openmtd.server.console.export_pages import router as console_export_router
from openmtd.server.console.launch_pages import router as console_launch_router
from openmtd.server.console.views import router as console_router
from openmtd.server.console.vuln_pages import IMPORT_PAGE as VULN_IMPORT_PAGE
from openmtd.server.console.vuln_pages import MAPPING_PAGE as VULN_MAPPING_PAGE
from openmtd.server.console.vuln_pages import router as console_vulns_router
from openmtd.server.console.web_pages import IMPORT_PAGE
from openmtd.server.console.web_pages import router as console_web_router
from openmtd.server.context import AppContext, utc_now
from openmtd.server.devices.views import router as devices_router
from openmtd.server.dns.views import DohFastPath
from openmtd.server.dns.views import router as dns_router
from openmtd.server.errors import install_error_handlers
from openmtd.server.export.views import router as export_router
from openmtd.server.integrity.views import agent_router as integrity_agent_router
from openmtd.server.integrity.views import router as integrity_router
from openmtd.server.launch.views import agent_router as launch_agent_router
from openmtd.server.launch.views import router as launch_router
from openmtd.server.middleware import BodyLimit, SecurityHeaders
from openmtd.server.onboarding.views import router as onboarding_router
from openmtd.server.openapi import document_models
from openmtd.server.privacy import apply_policy_on_start as apply_privacy_policy_on_start
from openmtd.server.users.views import router as users_router
from openmtd.server.vulns.views import VULN_IMPORT_PATH, VULN_MAPPING_PATH
from openmtd.server.vulns.views import router as vulns_router
from openmtd.server.web.refresh import schedule_loop
from openmtd.server.web.views import IMPORT_PATH
from openmtd.server.web.views import router as web_router
from openmtd.store.db import make_engine, make_session_factory, migrate


async def _freeze_after_start(ctx: AppContext) -> None:
    """What start-up built (modules, routes, rules, the first vulnerability state) lives as
    long as the process: move it out of the collector's reach, so that its full passes do not
    walk it all and stall every request for a tenth of a second or more (measured through
    nginx by bench/forward_auth.py)."""
    gc.collect()
    gc.freeze()
    await run_in_threadpool(ctx.vulns.wait)
    gc.freeze()  # no second collection: requests may be running by now


class OpenMTD(FastAPI):
    """The app. The forward-auth check is answered before FastAPI's own layers (telemetry,
    error handling, middleware, routing) run: it sits in front of every request to every
    protected application, and those layers cost more than the decision itself (a cached
    decision is a dictionary lookup). Measured through nginx by bench/forward_auth.py."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if is_check(scope):
            await send_check(self.state.ctx, scope, send)
            return
        await super().__call__(scope, receive, send)


# In the order they are matched.
_ROUTERS = (
    dns_router,  # first: DoH is the busiest route after check-ins
    agent_router,
    apps_agent_router,
    apps_router,
    integrity_agent_router,
    integrity_router,
    access_router,
    compliance_router,
    launch_agent_router,
    launch_router,
    vulns_router,
    devices_router,
    alerts_router,
    onboarding_router,
    users_router,
    audit_router,
    export_router,
    web_router,
    console_apps_router,
    console_vulns_router,
    console_compliance_router,
    console_launch_router,
    console_export_router,
    console_web_router,  # before console_router: it ends with a catch-all 404 page
    console_router,
)


@cache
def _api_routes() -> tuple[BaseRoute, ...]:
    """Every API and console route, built once per process and shared by its apps.

    FastAPI works out each included route's dependencies and models (pydantic adapters) on
    the first request an app serves, about half a second for these routers: a process that
    creates many apps (the tests, `openmtd pilot`) would pay it per app. The routes hold no
    app state (handlers reach the app's context through `request.app.state`), so one set
    serves them all."""
    holder = APIRouter()
    for router in _ROUTERS:
        holder.include_router(router)
    return tuple(holder.routes)


def create_app(settings: Settings, *, clock: Callable[[], datetime] = utc_now) -> FastAPI:
    engine = make_engine(settings.resolved_database_url())
    ctx = AppContext(
        settings=settings, engine=engine, sessions=make_session_factory(engine), clock=clock
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # The privacy policy is part of the settings: devices follow it from the start.
        apply_privacy_policy_on_start(settings, ctx.sessions, ctx.clock())
        start_compliance(ctx)  # the all-groups policy from the settings; stale verdicts redone
        ctx.vulns.renew()  # the first vulnerability state, built in the background
        ctx.export.start()  # alert export: delivers the outbox in a background thread
        scheduler = asyncio.create_task(schedule_loop(ctx)) if settings.feed_scheduler else None
        freezing = asyncio.create_task(_freeze_after_start(ctx)) if settings.freeze_gc else None
        yield
        if freezing is not None:
            freezing.cancel()
        if scheduler is not None:
            scheduler.cancel()
        ctx.close()

    if settings.migrate_on_start:
        migrate(engine)

    app = OpenMTD(
        title="openmtd",
        version=__version__,
        summary="Open, self-hosted Mobile Threat Defense for Android and iOS",
        docs_url=None,  # Swagger UI would load its assets from a CDN; /openapi.json is served
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    install_error_handlers(app)
    document_models(app)
    app.router.routes.extend(_api_routes())

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    app.add_middleware(
        BodyLimit,
        agent_limit=settings.max_agent_body_bytes,
        default_limit=settings.max_console_body_bytes,
        import_limit=settings.max_import_bytes,
        import_paths=(
            IMPORT_PATH,
            IMPORT_PAGE,
            VULN_IMPORT_PATH,
            VULN_MAPPING_PATH,
            VULN_IMPORT_PAGE,
            VULN_MAPPING_PAGE,
        ),
        apk_limit=settings.max_apk_upload_bytes,
    )
    app.add_middleware(SecurityHeaders)
    app.add_middleware(DohFastPath)  # outermost: answers /dns-query/ before routing
    return app
