"""The agent's local state: who this device is to the server, and how it reports.

One JSON file, ``state.json``, in a folder the user chooses (default
``~/.local/share/openmtd-agent/<name>``). It holds the device credential, so it is written with
mode 0600 inside a 0700 folder, atomically (a temporary file in the same folder, then
``os.replace``): a crash mid-write leaves the previous state, never half of one. The credential
never appears in the state's repr, so logging the state cannot leak it.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Self

from openmtd.domain.enums import EnrollmentScenario, Platform
from openmtd.engines.privacy import PrivacySettings

STATE_FILE = "state.json"
FORMAT_VERSION = 1


def default_state_dir(name: str = "default") -> Path:
    return Path.home() / ".local" / "share" / "openmtd-agent" / name


class StateError(Exception):
    """The state folder has no usable state; the message says what to do."""


@dataclass(frozen=True, slots=True)
class Collector:
    """Where the facts come from, so that later runs report for the same device."""

    kind: str  # "simulated" (adb and ios come with `openmtd collect`)
    profile: str = ""
    seed: int = 0
    today: str = ""  # the simulated device is the one of this day (ISO date), run after run

    def describe(self) -> str:
        if self.kind == "simulated":
            return f"simulated {self.profile} (seed {self.seed})"
        return self.kind


@dataclass(frozen=True, slots=True)
class AgentState:
    server_url: str
    device_id: str
    device_credential: str = field(repr=False)
    platform: Platform
    scenario: EnrollmentScenario
    hardware_id: str
    protection_scope: str
    device_group: str
    enrolled_at: str
    collector: Collector
    device_tag: str = ""
    privacy: PrivacySettings = field(default_factory=PrivacySettings)
    # The privacy keys the person holding the device may change (from the server's sync).
    privacy_user_toggles: tuple[str, ...] = ()
    checkin_interval_seconds: int = 900
    sync_etag: str = ""
    last_checkin_at: str = ""
    # Set when the server judged this device compromised and the policy told the agent to
    # stop web protection and clear its data: when and why (empty while protecting).
    protection_stopped: str = ""

    def with_changes(self, **changes: Any) -> Self:
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["platform"] = self.platform.value
        doc["scenario"] = self.scenario.value
        return {"format": FORMAT_VERSION, **doc}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Self:
        if doc.get("format") != FORMAT_VERSION:
            raise StateError(f"unknown state format {doc.get('format')!r}")
        values = {k: v for k, v in doc.items() if k != "format"}
        values["platform"] = Platform(values["platform"])
        values["scenario"] = EnrollmentScenario(values["scenario"])
        values["privacy"] = PrivacySettings(**values.get("privacy", {}))
        values["privacy_user_toggles"] = tuple(values.get("privacy_user_toggles", ()))
        values["collector"] = Collector(**values["collector"])
        return cls(**values)


def state_path(state_dir: Path) -> Path:
    return state_dir / STATE_FILE


def exists(state_dir: Path) -> bool:
    return state_path(state_dir).is_file()


def load(state_dir: Path) -> AgentState:
    path = state_path(state_dir)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise StateError(
            f"no agent state in {state_dir}; enroll first with `openmtd agent enroll`"
        ) from None
    try:
        return AgentState.from_json(json.loads(raw))
    except (ValueError, KeyError, TypeError, StateError) as e:
        raise StateError(f"the agent state {path} is unreadable ({e}); enroll again") from e


def save(state_dir: Path, state: AgentState) -> Path:
    """Write the state atomically with mode 0600 (the folder is created with mode 0700)."""
    write_private(state_path(state_dir), json.dumps(state.to_json(), indent=2) + "\n")
    return state_path(state_dir)


def write_private(path: Path, text: str) -> None:
    """Atomically replace `path` with `text`, readable by the owner only."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:  # mkstemp creates it with mode 0600
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
