"""The agent's side of device integrity: attestation on request, and the compromise response.

Attestation: after a check-in the server may ask for evidence (``attestation_requests``); for
each kind an attester of this device can give, the agent asks for a challenge, builds the
evidence over it and submits it. On a phone the attester is the platform (Android Keystore,
Play Integrity, App Attest); the simulator uses the software stand-ins in agent.attest.

Compromise response: when the server answers that the device is compromised and the policy
asks for it (by default on iOS, as the reference product does), the agent stops its web
protection and clears its local data: the synced indicator sets and web settings, the queued
reports and the detection outbox. It keeps only its enrollment (so that it can report and
recover), records why it stopped, and reports what it did as a timeline event. When a later
verdict is no longer compromised, protection resumes with a fresh sync.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from openmtd.agent import outbox, web
from openmtd.agent.client import AgentClient, AgentError
from openmtd.agent.spool import Spool
from openmtd.agent.state import AgentState
from openmtd.domain.device import Detection
from openmtd.domain.enums import Severity

STOP_WEB_PROTECTION = "stop_web_protection"
CLEAR_LOCAL_DATA = "clear_local_data"
RESPONSE_CATEGORY = "IntegrityResponse"


class Attester(Protocol):
    """Something that can produce attestation evidence over a server challenge."""

    @property
    def kinds(self) -> tuple[str, ...]: ...

    def evidence(self, kind: str, challenge: bytes, *, now: datetime) -> dict[str, Any]:
        """The kind-specific fields of the evidence body (chain, token, key_id …)."""
        ...

    def accepted(self, kind: str) -> None:
        """The server accepted evidence of this kind (App Attest then moves to assertions)."""
        ...


@dataclass(frozen=True, slots=True)
class AttestationResult:
    kind: str
    accepted: bool
    code: str
    reason: str
    integrity_state: str
    compromise_response: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "accepted": self.accepted,
            "code": self.code,
            "reason": self.reason,
            "integrity_state": self.integrity_state,
        }


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def attest_requested(
    client: AgentClient,
    device_id: str,
    requested: tuple[str, ...],
    attesters: Mapping[str, Attester],
    *,
    now: datetime,
) -> tuple[AttestationResult, ...]:
    """Answer each requested kind this device can attest; a refused request is reported, not
    raised (the check-in already went through)."""
    results: list[AttestationResult] = []
    for kind in requested:
        attester = attesters.get(kind)
        if attester is None:
            continue
        try:
            issued = client.integrity_challenge(device_id, kind)
            challenge = b64url_decode(str(issued["challenge"]))
            body = {
                "kind": kind,
                "challenge_id": issued["challenge_id"],
                "challenge": issued["challenge"],
                **attester.evidence(kind, challenge, now=now),
            }
            answer = client.submit_evidence(device_id, body)
        except AgentError as e:
            results.append(AttestationResult(kind, False, e.code, e.message, "unknown", ()))
            continue
        if answer.get("accepted"):
            attester.accepted(kind)
        results.append(
            AttestationResult(
                kind=kind,
                accepted=bool(answer.get("accepted")),
                code=str(answer.get("code", "")),
                reason=str(answer.get("reason", "")),
                integrity_state=str(answer.get("integrity_state", "unknown")),
                compromise_response=tuple(answer.get("compromise_response") or ()),
            )
        )
    return tuple(results)


@dataclass(frozen=True, slots=True)
class ResponseTaken:
    """What the agent did on a compromised device (reported to the server as an event)."""

    actions: tuple[str, ...]
    removed_files: int
    dropped_reports: int
    dropped_detections: int

    def detection(self) -> Detection:
        return Detection(
            category=RESPONSE_CATEGORY,
            title="Agent stopped web protection and cleared its local data on a compromised device"
            if STOP_WEB_PROTECTION in self.actions
            else "Agent cleared its local data on a compromised device",
            severity=Severity.INFORMATIONAL,
            key="compromise-response",
            evidence=(
                ("actions", ", ".join(self.actions)),
                ("removed_files", str(self.removed_files)),
                ("dropped_reports", str(self.dropped_reports)),
                ("dropped_detections", str(self.dropped_detections)),
            ),
            timeline_only=True,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "actions": list(self.actions),
            "removed_files": self.removed_files,
            "dropped_reports": self.dropped_reports,
            "dropped_detections": self.dropped_detections,
        }


def respond_to_compromise(
    state_dir: Path, state: AgentState, spool: Spool, actions: tuple[str, ...], *, now: datetime
) -> tuple[AgentState, ResponseTaken]:
    """Carry out the server's response actions; returns the new state (not yet saved)."""
    removed = dropped_reports = dropped_detections = 0
    if CLEAR_LOCAL_DATA in actions:
        folder = state_dir / web.WEB_DIR
        removed = len(list(folder.glob("*.json"))) if folder.is_dir() else 0
        web.forget(state_dir)
        dropped_reports = spool.clear()
        dropped_detections = len(outbox.drain(state_dir))
    if STOP_WEB_PROTECTION in actions:
        state = state.with_changes(
            protection_stopped=f"{now.isoformat()}: the server judged this device compromised",
            sync_etag="",
        )
    done = tuple(a for a in actions if a in (STOP_WEB_PROTECTION, CLEAR_LOCAL_DATA))
    return state, ResponseTaken(done, removed, dropped_reports, dropped_detections)


def resume(state: AgentState) -> AgentState:
    """Protection comes back (the next sync downloads the indicator sets again)."""
    return state.with_changes(protection_stopped="", sync_etag="")
