"""Console page of alert export: each sink's delivery status, recent problems, and (admins)
a test event or dead events queued again, through the same services as /api/export."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import RedirectResponse

from openmtd.server.console.web import AdminPost, AnalystViewer, ConsoleRoute, render
from openmtd.server.deps import Ctx, Db, Now
from openmtd.server.export import service

router = APIRouter(include_in_schema=False, route_class=ConsoleRoute)

PAGE = "/console/export"
SinkName = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
# Messages after a redirect (?msg=key): fixed texts, nothing from the URL is echoed.
MESSAGES = {
    "test-queued": "Test event queued; it is delivered in the background.",
    "dead-requeued": "Dead events queued again with fresh attempts.",
    "nothing-dead": "That sink has no dead events.",
}


@router.get(PAGE)
def export_page(request: Request, p: AnalystViewer, db: Db, ctx: Ctx) -> Response:
    sinks = ctx.export.sinks
    return render(
        request,
        "export.html",
        p,
        section="export",
        flash=MESSAGES.get(request.query_params.get("msg", ""), ""),
        sinks=service.sink_statuses(db, sinks),
        problems=service.problems(db, sinks),
        worker_running=ctx.export.running,
    )


@router.post(PAGE + "/{name}/test")
def send_test(name: SinkName, posted: AdminPost, db: Db, ctx: Ctx, now: Now) -> Response:
    service.queue_test(
        db, sinks=ctx.export.sinks, name=name, actor=posted.principal.username, now=now
    )
    return RedirectResponse(f"{PAGE}?msg=test-queued", status_code=303)


@router.post(PAGE + "/{name}/retry")
def retry_dead(name: SinkName, posted: AdminPost, db: Db, ctx: Ctx, now: Now) -> Response:
    count = service.retry_dead(
        db, sinks=ctx.export.sinks, name=name, actor=posted.principal.username, now=now
    )
    return RedirectResponse(
        f"{PAGE}?msg={'dead-requeued' if count else 'nothing-dead'}", status_code=303
    )
