"""One agent run: sync the policy, resend the spool, check in (or spool when offline).

The order matters. The policy is synced first (a 304 when the ETag is unchanged) so that the
newest privacy settings apply to the report built next; queued reports go before the fresh
one, so the server sees them in the order they were collected; a report that cannot be
delivered now is spooled, never lost.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from openmtd.agent import network, outbox, web
from openmtd.agent import state as agent_state
from openmtd.agent.apps import Upload, upload_requested
from openmtd.agent.client import AgentClient, AgentError, CheckInAnswer, SyncPayload
from openmtd.agent.collectors.simulated import SimulatedDevice
from openmtd.agent.integrity import (
    AttestationResult,
    Attester,
    ResponseTaken,
    attest_requested,
    respond_to_compromise,
    resume,
)
from openmtd.agent.onboarding import ClientFactory, apply_sync
from openmtd.agent.reports import build_checkin, redact_report
from openmtd.agent.spool import Spool, is_retryable, spool_for
from openmtd.domain.device import Detection, NetworkObservation


class DeviceMismatch(Exception):
    """The collected device is not the one this state enrolled."""


@dataclass(frozen=True, slots=True)
class RunResult:
    device_id: str
    report_id: str
    checkin: CheckInAnswer | None  # None when the report was spooled
    spooled_because: str = ""
    sync: str = "skipped"  # "updated" | "unchanged" | "skipped"
    resent: tuple[str, ...] = ()
    duplicates: tuple[str, ...] = ()
    dropped: tuple[tuple[str, str], ...] = ()
    spool_size: int = 0
    uploads: tuple[Upload, ...] = ()  # APKs the server asked for and this run sent
    attestations: tuple[AttestationResult, ...] = ()
    response: ResponseTaken | None = None  # what the agent did on a compromised device
    protection_stopped: str = ""  # why web protection is stopped ("" while it protects)

    def to_json(self) -> dict[str, Any]:
        c = self.checkin
        return {
            "device_id": self.device_id,
            "report_id": self.report_id,
            "delivered": c is not None,
            "spooled_because": self.spooled_because or None,
            "risk_level": c.risk_level.value if c else None,
            "alerts_raised": c.alerts_raised if c else None,
            "next_checkin_seconds": c.next_checkin_seconds if c else None,
            "sync": self.sync,
            "resent": list(self.resent),
            "duplicates": list(self.duplicates),
            "dropped": [{"report_id": r, "reason": why} for r, why in self.dropped],
            "spool_size": self.spool_size,
            "apk_uploads": [
                {"sha256": u.sha256, "verdict": u.verdict or None, "error": u.error or None}
                for u in self.uploads
            ],
            "integrity_state": c.integrity_state if c else None,
            "attestations": [a.to_json() for a in self.attestations],
            "compromise_response": self.response.to_json() if self.response else None,
            "protection_stopped": self.protection_stopped or None,
        }


def run_once(
    state_dir: Path,
    device: SimulatedDevice,
    *,
    now: datetime,
    client_factory: ClientFactory = AgentClient,
    spool: Spool | None = None,
    apk_files: Mapping[str, Path] | None = None,
    attesters: Mapping[str, Attester] | None = None,
    network_observations: Sequence[NetworkObservation] = (),
    tls_probe: network.Probe | None = None,
    installed_roots: Sequence[bytes] = (),
) -> RunResult:
    """`apk_files`: the APK files this device holds, by SHA-256; those the server asks for
    after the check-in are uploaded for analysis. `attesters`: what can attest this device, by
    evidence kind; the kinds the server asks for are attested after the check-in.
    `network_observations`: the Wi-Fi networks the collector saw; `installed_roots`: root
    certificates (DER) the user or a profile installed; both are judged by network protection
    with the canaries of the server's policy (`agent.network`)."""
    state = agent_state.load(state_dir)
    if device.hardware_id != state.hardware_id or device.facts.platform is not state.platform:
        raise DeviceMismatch(
            f"the collected device ({device.facts.platform.value}, hardware id "
            f"{device.hardware_id}) is not the device enrolled in {state_dir} "
            f"({state.platform.value}, hardware id {state.hardware_id})"
        )
    spool = spool or spool_for(state_dir)
    facts = replace(device.facts, scenario=state.scenario)
    detections = outbox.drain(state_dir)
    network_found: list[Detection] = []

    def report_now() -> dict[str, Any]:
        return build_checkin(
            facts,
            collected_at=now,
            privacy=state.privacy,
            integrity_signals=device.integrity_signals,
            network_observations=network_observations,
            detections=[*detections, *network_found],
            device_tag=state.device_tag,
        )

    def spooled(report: dict[str, Any], error: AgentError, **extra: Any) -> RunResult:
        spool.add(report)
        agent_state.save(state_dir, state)
        return RunResult(
            state.device_id,
            report["report_id"],
            None,
            spooled_because=str(error),
            spool_size=len(spool),
            **extra,
        )

    with client_factory(state.server_url, credential=state.device_credential) as client:
        try:
            # Without web settings on disk (just enrolled, or the folder was lost) the ETag
            # would hide the indicator sets the agent has never downloaded.
            held = web.has_settings(state_dir) and network.has_policy(state_dir)
            etag = state.sync_etag if held else ""
            result = client.sync(state.device_id, etag=etag or None)
        except AgentError as e:
            if not is_retryable(e):
                raise
            return spooled(report_now(), e)
        if isinstance(result, SyncPayload):
            state = apply_sync(state, result)
            network.save_policy(state_dir, result.policy.get("network"))
            settings = web.WebSettings.from_sync(
                result.web, result.device_groups, result.indicator_sets
            )
            sync = "updated"
        else:
            settings = web.load_settings(state_dir)
            sync = "unchanged"
        if not state.protection_stopped:  # a compromised device holds no indicators
            try:
                web.sync_sets(
                    state_dir, settings, lambda name: client.indicator_set(state.device_id, name)
                )
            except AgentError as e:
                if not is_retryable(e):
                    raise
                return spooled(report_now(), e)

        if not state.protection_stopped:
            network_found.extend(
                network.network_detections(
                    state_dir,
                    network.load_policy(state_dir),
                    state.platform,
                    network_observations,
                    now=now,
                    probe=tls_probe or network.probe_canary,
                    installed_roots=installed_roots,
                )
            )
        report = report_now()
        # A queued report goes out under today's privacy settings (turned on since: honoured).
        flushed = spool.flush(
            lambda body: client.check_in(state.device_id, redact_report(body, state.privacy))
        )
        done: dict[str, Any] = {
            "sync": sync,
            "resent": tuple(a.report_id for a in flushed.sent),
            "duplicates": tuple(flushed.duplicates),
            "dropped": tuple(flushed.dropped),
        }
        if flushed.stopped_by is not None:
            return spooled(report, flushed.stopped_by, **done)
        try:
            answer = client.check_in(state.device_id, report)
        except AgentError as e:
            if not is_retryable(e):
                raise
            return spooled(report, e, **done)
        uploads = (
            upload_requested(client, state.device_id, answer.apk_requests, apk_files)
            if apk_files and answer.apk_requests
            else ()
        )
        attested = (
            attest_requested(
                client, state.device_id, answer.attestation_requests, attesters, now=now
            )
            if attesters and answer.attestation_requests
            else ()
        )
        verdicts = [(answer.integrity_state, answer.compromise_response)] + [
            (a.integrity_state, a.compromise_response) for a in attested if a.accepted
        ]
        integrity_state, actions = verdicts[-1]
        taken: ResponseTaken | None = None
        if actions and not state.protection_stopped:
            state, taken = respond_to_compromise(state_dir, state, spool, actions, now=now)
            event = build_checkin(
                facts,
                collected_at=now,
                privacy=state.privacy,
                integrity_signals=device.integrity_signals,
                detections=[taken.detection()],
                device_tag=state.device_tag,
            )
            try:
                client.check_in(state.device_id, event)
            except AgentError as e:
                if not is_retryable(e):
                    raise
                spool.add(event)
        elif state.protection_stopped and not actions and integrity_state != "unknown":
            state = resume(state)
    state = state.with_changes(
        last_checkin_at=now.isoformat(), checkin_interval_seconds=answer.next_checkin_seconds
    )
    agent_state.save(state_dir, state)
    return RunResult(
        state.device_id,
        answer.report_id,
        answer,
        spool_size=len(spool),
        uploads=uploads,
        attestations=attested,
        response=taken,
        protection_stopped=state.protection_stopped,
        **done,
    )
