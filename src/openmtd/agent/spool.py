"""The offline queue: check-in reports the server could not take yet.

When the server cannot be reached, a report (with its report_id) is kept as one JSON file in the
spool folder and sent again, oldest first, before the next fresh report. Resending is safe: the
server answers a report it already has with ``duplicate: true`` and the spool drops it. A report
the server refuses for good (a 4xx other than 409 Conflict and 429 Too Many Requests) is dropped
and the reason logged; anything else (unreachable, 409, 429, 5xx) keeps it for the next run.
The spool is bounded: beyond `max_reports` the oldest reports are dropped.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openmtd.agent.client import AgentError, CheckInAnswer
from openmtd.agent.state import write_private

log = logging.getLogger("openmtd.agent.spool")

SPOOL_DIR = "spool"  # inside the agent's state folder
MAX_REPORTS = 500
RETRYABLE_4XX = frozenset({409, 429})
_NAME = re.compile(r"^(\d{12})-([A-Za-z0-9._:-]{1,64})\.json$")


def is_retryable(error: AgentError) -> bool:
    """Worth sending again later: no answer, 409/429, or a server-side failure."""
    return error.status == 0 or error.status in RETRYABLE_4XX or error.status >= 500


@dataclass
class FlushOutcome:
    sent: list[CheckInAnswer] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    dropped: list[tuple[str, str]] = field(default_factory=list)  # (report_id, why)
    remaining: int = 0
    stopped_by: AgentError | None = None


class Spool:
    """Reports waiting for the server, one file each, in the order they were queued."""

    def __init__(self, folder: Path, *, max_reports: int = MAX_REPORTS) -> None:
        self.folder = folder
        self.max_reports = max_reports

    def _files(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.iterdir() if _NAME.match(p.name))

    def __len__(self) -> int:
        return len(self._files())

    def report_ids(self) -> list[str]:
        return [_report_id(p) for p in self._files()]

    def clear(self) -> int:
        """Forget every queued report; returns how many there were."""
        files = self._files()
        for path in files:
            path.unlink(missing_ok=True)
        return len(files)

    def add(self, report: dict[str, Any]) -> Path:
        """Queue `report`; drop the oldest reports beyond the bound."""
        files = self._files()
        report_id = str(report["report_id"])
        already = [p for p in files if _report_id(p) == report_id]
        if already:
            return already[0]
        seq = _seq(files[-1]) + 1 if files else 1
        path = self.folder / f"{seq:012d}-{report_id}.json"
        write_private(path, json.dumps(report, separators=(",", ":")))
        files.append(path)
        overflow = len(files) - self.max_reports
        for old in files[: max(overflow, 0)]:
            log.warning(
                "spool is full (%d reports): dropped the oldest report %s",
                self.max_reports,
                _report_id(old),
            )
            old.unlink(missing_ok=True)
        return path

    def flush(self, send: Callable[[dict[str, Any]], CheckInAnswer]) -> FlushOutcome:
        """Send queued reports in order; stop at the first one the server cannot take now."""
        outcome = FlushOutcome()
        files = self._files()
        for i, path in enumerate(files):
            try:
                report = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as e:
                log.warning("dropped unreadable spooled report %s: %s", path.name, e)
                outcome.dropped.append((_report_id(path), f"unreadable: {e}"))
                path.unlink(missing_ok=True)
                continue
            try:
                answer = send(report)
            except AgentError as e:
                if is_retryable(e):
                    outcome.stopped_by = e
                    outcome.remaining = len(files) - i
                    return outcome
                log.warning(
                    "dropped spooled report %s: the server refused it: %s", _report_id(path), e
                )
                outcome.dropped.append((_report_id(path), str(e)))
                path.unlink(missing_ok=True)
                continue
            if answer.duplicate:
                outcome.duplicates.append(answer.report_id)
            else:
                outcome.sent.append(answer)
            path.unlink(missing_ok=True)
        return outcome


def spool_for(state_dir: Path) -> Spool:
    """The spool of the agent whose state lives in `state_dir`."""
    return Spool(state_dir / SPOOL_DIR, max_reports=MAX_REPORTS)


def _seq(path: Path) -> int:
    match = _NAME.match(path.name)
    return int(match.group(1)) if match else 0


def _report_id(path: Path) -> str:
    match = _NAME.match(path.name)
    return match.group(2) if match else path.stem
