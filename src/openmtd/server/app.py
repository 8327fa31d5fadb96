"""create_app(): the console server, wired from one Settings object."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

from fastapi import FastAPI

from openmtd import __version__
from openmtd.config import Settings
from openmtd.server.agent_api.views import router as agent_router
from openmtd.server.alerts.views import router as alerts_router
from openmtd.server.apps.views import agent_router as apps_agent_router
from openmtd.server.apps.views import router as apps_router
from openmtd.server.audit.views import router as audit_router
from openmtd.server.console.app_pages import router as console_apps_router
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
from openmtd.server.integrity.views import agent_router as integrity_agent_router
from openmtd.server.integrity.views import router as integrity_router
from openmtd.server.middleware import BodyLimit, SecurityHeaders
from openmtd.server.onboarding.views import router as onboarding_router
from openmtd.server.openapi import document_models
from openmtd.server.users.views import router as users_router
from openmtd.server.vulns.views import VULN_IMPORT_PATH, VULN_MAPPING_PATH
from openmtd.server.vulns.views import router as vulns_router
from openmtd.server.web.refresh import schedule_loop
from openmtd.server.web.views import IMPORT_PATH
from openmtd.server.web.views import router as web_router
from openmtd.store.db import make_engine, make_session_factory, migrate


def create_app(settings: Settings, *, clock: Callable[[], datetime] = utc_now) -> FastAPI:
    engine = make_engine(settings.resolved_database_url())
    ctx = AppContext(
        settings=settings, engine=engine, sessions=make_session_factory(engine), clock=clock
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        ctx.vulns.renew()  # the first vulnerability state, built in the background
        scheduler = asyncio.create_task(schedule_loop(ctx)) if settings.feed_scheduler else None
        yield
        if scheduler is not None:
            scheduler.cancel()
        ctx.close()

    if settings.migrate_on_start:
        migrate(engine)

    app = FastAPI(
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
    for router in (
        dns_router,  # first: DoH is the busiest route after check-ins
        agent_router,
        apps_agent_router,
        apps_router,
        integrity_agent_router,
        integrity_router,
        vulns_router,
        devices_router,
        alerts_router,
        onboarding_router,
        users_router,
        audit_router,
        web_router,
        console_apps_router,
        console_vulns_router,
        console_web_router,  # before console_router: it ends with a catch-all 404 page
        console_router,
    ):
        app.include_router(router)

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
