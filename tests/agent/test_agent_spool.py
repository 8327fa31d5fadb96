"""The offline spool: queue while the server is down, resend in order once it is back."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from conftest import Api
from openmtd.agent import state as agent_state
from openmtd.agent.client import AgentClient, AgentError, CheckInAnswer, ServerUnreachable
from openmtd.agent.collectors.simulated import simulate
from openmtd.agent.onboarding import onboard, plan_from_options
from openmtd.agent.runner import run_once
from openmtd.agent.spool import Spool, is_retryable, spool_for
from openmtd.cli.serve import ServerThread
from openmtd.domain.enums import EnrollmentScenario, RiskLevel
from openmtd.store.models import CheckIn

TODAY = date(2026, 11, 26)


def report(n: int) -> dict[str, Any]:
    return {"report_id": f"report-{n:04d}", "n": n}


def answer(report_id: str, *, duplicate: bool = False) -> CheckInAnswer:
    return CheckInAnswer(report_id, duplicate, RiskLevel.SECURED, 0, '"e"', 900)


def test_reports_are_resent_in_order_and_duplicates_dropped(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    for n in range(3):
        spool.add(report(n))
    spool.add(report(1))  # the same report twice is queued once
    assert spool.report_ids() == ["report-0000", "report-0001", "report-0002"]

    seen: list[str] = []

    def send(body: dict[str, Any]) -> CheckInAnswer:
        seen.append(body["report_id"])
        return answer(body["report_id"], duplicate=body["n"] == 1)

    outcome = spool.flush(send)
    assert seen == ["report-0000", "report-0001", "report-0002"]
    assert [a.report_id for a in outcome.sent] == ["report-0000", "report-0002"]
    assert outcome.duplicates == ["report-0001"]
    assert len(spool) == 0


@pytest.mark.parametrize("status", [0, 409, 429, 500, 503])
def test_retryable_failures_keep_the_rest_in_order(tmp_path: Path, status: int) -> None:
    spool = Spool(tmp_path / "spool")
    for n in range(3):
        spool.add(report(n))

    def send(body: dict[str, Any]) -> CheckInAnswer:
        if body["n"] == 1:
            raise AgentError("busy", "try later", status)
        return answer(body["report_id"])

    outcome = spool.flush(send)
    assert [a.report_id for a in outcome.sent] == ["report-0000"]
    assert outcome.stopped_by is not None and outcome.remaining == 2
    assert spool.report_ids() == ["report-0001", "report-0002"]


def test_a_refused_report_is_dropped_and_the_reason_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = Spool(tmp_path / "spool")
    spool.add(report(0))
    spool.add(report(1))

    def send(body: dict[str, Any]) -> CheckInAnswer:
        if body["n"] == 0:
            raise AgentError("invalid_input", "invalid request: facts.model: too long", 422)
        return answer(body["report_id"])

    with caplog.at_level(logging.WARNING, logger="openmtd.agent.spool"):
        outcome = spool.flush(send)
    assert outcome.dropped == [
        (
            "report-0000",
            str(AgentError("invalid_input", "invalid request: facts.model: too long", 422)),
        )
    ]
    assert [a.report_id for a in outcome.sent] == ["report-0001"]
    assert "dropped spooled report report-0000" in caplog.text
    assert "facts.model: too long" in caplog.text
    assert len(spool) == 0


def test_the_spool_is_bounded_and_drops_the_oldest(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = Spool(tmp_path / "spool", max_reports=3)
    with caplog.at_level(logging.WARNING, logger="openmtd.agent.spool"):
        for n in range(5):
            spool.add(report(n))
    assert spool.report_ids() == ["report-0002", "report-0003", "report-0004"]
    assert "dropped the oldest report report-0000" in caplog.text
    spool.add(report(5))  # numbering goes on after drops
    assert spool.report_ids()[-1] == "report-0005"


def test_spooled_files_are_private_json(tmp_path: Path) -> None:
    path = Spool(tmp_path / "spool").add(report(7))
    assert path.stat().st_mode & 0o777 == 0o600
    assert json.loads(path.read_text()) == report(7)


@pytest.fixture
def server(app: Any) -> Iterator[ServerThread]:
    with ServerThread() as srv:
        srv.start(app)
        yield srv


def checkins_on_server(app: Any, device_id: str) -> int:
    with app.state.ctx.sessions() as db:
        return int(
            db.scalar(
                select(func.count()).select_from(CheckIn).where(CheckIn.device_id == device_id)
            )
            or 0
        )


def test_server_down_then_up_resends_the_spool_once(
    server: ServerThread, app: Any, api: Api, tmp_path: Path
) -> None:
    device = simulate("android-cobo", seed=11, today=TODAY)
    done = onboard(
        plan_from_options(
            server_url=server.url,
            onboarding_token=api.onboarding_token(),
            scenario=EnrollmentScenario.ANDROID_COBO,
        ),
        device,
        confirm=lambda _q: True,
        state_dir=tmp_path,
        collector=agent_state.Collector("simulated", "android-cobo", 11, TODAY.isoformat()),
        now=datetime.now(UTC),
    )
    device_id = done.state.device_id
    port = server.port

    server.stop()  # the server goes away
    offline = [run_once(tmp_path, device, now=datetime.now(UTC)) for _ in range(2)]
    assert all(r.checkin is None for r in offline)
    assert "cannot reach the openmtd server" in offline[0].spooled_because
    spool = spool_for(tmp_path)
    assert spool.report_ids() == [r.report_id for r in offline]

    with ServerThread(port=port) as again:  # and comes back at the same address
        again.start(app)
        # The first queued report reached the server once already, but the agent died before
        # removing it from the spool: resending it is answered as a duplicate and dropped.
        first = json.loads(sorted((tmp_path / "spool").iterdir())[0].read_text())
        with AgentClient(server.url, credential=done.state.device_credential) as client:
            assert not client.check_in(device_id, first).duplicate

        back = run_once(tmp_path, device, now=datetime.now(UTC))
        assert back.checkin is not None and not back.checkin.duplicate
        assert back.duplicates == (offline[0].report_id,)
        assert back.resent == (offline[1].report_id,)
        assert len(spool) == 0
        assert checkins_on_server(app, device_id) == 3  # each report stored exactly once

        quiet = run_once(tmp_path, device, now=datetime.now(UTC))
        assert quiet.checkin is not None
        assert (quiet.resent, quiet.duplicates, quiet.sync) == ((), (), "unchanged")
        assert checkins_on_server(app, device_id) == 4


def test_only_unreachable_409_429_and_5xx_are_retried() -> None:
    assert is_retryable(ServerUnreachable("down"))
    assert [
        s
        for s in (400, 401, 403, 404, 409, 413, 422, 429, 500, 502)
        if is_retryable(AgentError("x", "y", s))
    ] == [409, 429, 500, 502]
