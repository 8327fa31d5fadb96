"""Detections made between check-ins (by the local proxy or DNS listener), kept on disk.

Appended one JSON line each under a lock; the next check-in takes them all (``drain``) and a
report that cannot be delivered goes to the spool with them inside, so none is lost.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from openmtd.domain.device import Detection
from openmtd.domain.enums import Severity

OUTBOX_FILE = "detections.jsonl"
_lock = threading.Lock()


def _path(state_dir: Path) -> Path:
    return state_dir / OUTBOX_FILE


def add(state_dir: Path, detection: Detection) -> None:
    line = json.dumps(
        {
            "category": detection.category,
            "title": detection.title,
            "severity": detection.severity.value,
            "key": detection.key,
            "evidence": [list(p) for p in detection.evidence],
            "timeline_only": detection.timeline_only,
            "resolved": detection.resolved,
        }
    )
    with _lock:
        fd = os.open(_path(state_dir), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)


def drain(state_dir: Path) -> list[Detection]:
    """Take every pending detection (the file is emptied); unreadable lines are dropped."""
    with _lock:
        path = _path(state_dir)
        try:
            raw = path.read_text()
        except FileNotFoundError:
            return []
        path.unlink(missing_ok=True)
    out = []
    for line in raw.splitlines():
        try:
            d = json.loads(line)
            out.append(
                Detection(
                    category=str(d["category"]),
                    title=str(d["title"]),
                    severity=Severity(d["severity"]),
                    key=str(d["key"]),
                    evidence=tuple((str(k), str(v)) for k, v in d["evidence"]),
                    timeline_only=bool(d["timeline_only"]),
                    resolved=bool(d["resolved"]),
                )
            )
        except (ValueError, KeyError, TypeError):
            continue
    return out


def pending(state_dir: Path) -> int:
    try:
        return sum(1 for _ in _path(state_dir).open())
    except FileNotFoundError:
        return 0
