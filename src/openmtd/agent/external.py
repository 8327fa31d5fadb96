"""Enroll and report a device whose facts were collected outside the agent (adb over USB …).

The agent's onboarding and runner take the device a collector produced; this module lets an
external collection go through exactly the same code (enrollment, policy sync, spool, check-in)
instead of a second copy of the protocol. The state folder remembers the collector's kind, so a
later report from another kind of collector, or from another phone, is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from openmtd.agent import state as agent_state
from openmtd.agent.client import AgentClient
from openmtd.agent.collectors.simulated import SimulatedDevice
from openmtd.agent.onboarding import ClientFactory, Confirm, EnrollmentPlan, Onboarded, onboard
from openmtd.agent.runner import DeviceMismatch, RunResult, run_once
from openmtd.domain.device import DeviceFacts, IntegritySignal

__all__ = ["ExternalDevice", "enroll", "report"]


@dataclass(frozen=True, slots=True)
class ExternalDevice:
    """A device as an external collector saw it."""

    kind: str  # the collector: "adb"
    hardware_id: str  # stable and hashed, 8..128 characters of [A-Za-z0-9._:-]
    name: str
    facts: DeviceFacts
    integrity_signals: tuple[IntegritySignal, ...] = ()
    installed_roots: tuple[bytes, ...] = ()  # DER of roots the user or a profile installed


def _agent_device(device: ExternalDevice) -> SimulatedDevice:
    # onboard() and run_once() read hardware_id, facts, integrity_signals and name only; the
    # simulated device is the one shape they accept today.
    return SimulatedDevice(
        profile=device.kind,
        hardware_id=device.hardware_id,
        facts=device.facts,
        integrity_signals=device.integrity_signals,
        name=device.name,
    )


def enroll(
    plan: EnrollmentPlan,
    device: ExternalDevice,
    *,
    confirm: Confirm,
    state_dir: Path,
    now: datetime,
    client_factory: ClientFactory = AgentClient,
) -> Onboarded:
    """Enroll like `openmtd agent enroll` does; the state records the collector's kind."""
    return onboard(
        plan,
        _agent_device(device),
        confirm=confirm,
        state_dir=state_dir,
        collector=agent_state.Collector(device.kind),
        now=now,
        client_factory=client_factory,
    )


def report(
    state_dir: Path,
    device: ExternalDevice,
    *,
    now: datetime,
    client_factory: ClientFactory = AgentClient,
    apk_files: Mapping[str, Path] | None = None,
) -> RunResult:
    """One agent run (sync, resend the spool, check in) with the externally collected facts.

    `apk_files` (SHA-256 -> a local copy of the APK) are offered to the server, which asks for
    the ones it wants to analyse after the check-in."""
    state = agent_state.load(state_dir)
    if state.collector.kind != device.kind:
        raise DeviceMismatch(
            f"{state_dir} holds the enrollment of a {state.collector.describe()} device, not "
            f"of one collected by {device.kind}"
        )
    return run_once(
        state_dir,
        _agent_device(device),
        now=now,
        client_factory=client_factory,
        apk_files=apk_files,
        installed_roots=device.installed_roots,
    )
