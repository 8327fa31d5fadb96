"""Alert export API: the sinks' status, a test event, dead events queued again."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from openmtd.server.deps import Admin, Analyst, Ctx, Db, Now
from openmtd.server.errors import API_ERRORS, responses
from openmtd.server.export import service
from openmtd.server.export.schemas import ExportRetryOut, ExportTestOut, SinkStatusOut

router = APIRouter(prefix="/api/export", tags=["export"], responses=API_ERRORS)
SinkName = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]


@router.get("/sinks", response_model=list[SinkStatusOut], responses=responses(401, 403))
def list_sinks(_p: Analyst, db: Db, ctx: Ctx) -> list[SinkStatusOut]:
    """Each configured sink with its delivery counts and last error (never its secret)."""
    return [
        SinkStatusOut(
            name=s.name,
            kind=s.kind,
            format=s.format,
            topics=list(s.topics),
            target=s.target,
            pending=s.pending,
            delivered=s.delivered,
            dead=s.dead,
            last_delivered_at=s.last_delivered_at,
            last_error=s.last_error,
            last_error_at=s.last_error_at,
            oldest_pending_at=s.oldest_pending_at,
        )
        for s in service.sink_statuses(db, ctx.export.sinks)
    ]


@router.post(
    "/sinks/{name}/test",
    response_model=ExportTestOut,
    status_code=202,
    responses=responses(401, 403, 404),
)
def send_test(name: SinkName, p: Admin, db: Db, ctx: Ctx, now: Now) -> ExportTestOut:
    """Queue a test event (an Informational alert of a made-up device) for one sink."""
    key = service.queue_test(db, sinks=ctx.export.sinks, name=name, actor=p.username, now=now)
    return ExportTestOut(sink=name, key=key)


@router.post(
    "/dead/{name}/retry", response_model=ExportRetryOut, responses=responses(401, 403, 404)
)
def retry_dead(name: SinkName, p: Admin, db: Db, ctx: Ctx, now: Now) -> ExportRetryOut:
    """Queue a sink's dead events again, each with a fresh set of attempts."""
    count = service.retry_dead(db, sinks=ctx.export.sinks, name=name, actor=p.username, now=now)
    return ExportRetryOut(sink=name, requeued=count)
