"""Console pages of app protection: the analysed APKs, most harmful first, and one analysis."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from sqlalchemy import func, select

from openmtd.server.apps import views as apps_api
from openmtd.server.console.web import ConsoleRoute, Viewer, render
from openmtd.server.deps import Db
from openmtd.store.models import ApkAnalysis

router = APIRouter(include_in_schema=False, route_class=ConsoleRoute)
VERDICTS = ("malicious", "potentially unwanted", "unparseable", "clean")


@router.get("/console/apps")
def apps_page(request: Request, p: Viewer, db: Db, verdict: str = "") -> Response:
    counts = dict(
        db.execute(select(ApkAnalysis.verdict, func.count()).group_by(ApkAnalysis.verdict)).all()
    )
    chosen = verdict if verdict in VERDICTS else None
    page = apps_api.list_analyses(p, db, verdict=chosen, limit=200)  # type: ignore[arg-type]
    return render(
        request,
        "apps.html",
        p,
        section="apps",
        counts=[(v, int(counts.get(v, 0))) for v in VERDICTS],
        total=sum(int(n) for n in counts.values()),
        analyses=page.items,
        shown=page.total,
        verdict=chosen or "",
    )


@router.get("/console/apps/{sha256}")
def analysis_page(
    request: Request,
    p: Viewer,
    db: Db,
    sha256: Annotated[str, Path(pattern=r"^[0-9a-fA-F]{64}$")],
) -> Response:
    detail = apps_api.get_analysis(sha256, p, db)
    return render(request, "app_analysis.html", p, section="apps", a=detail, r=detail.result)
