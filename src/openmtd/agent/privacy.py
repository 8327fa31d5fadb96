"""The privacy controls of the person holding the device: see the settings, and change the ones
the organisation leaves to them (the server says which, at each sync).

The server is the authority: a change is sent first and kept here only once the server took
it, so the two never disagree about what a report may carry. Reports built from then on, and
queued ones sent from then on, follow the new settings (`reports.redact_report`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from openmtd.agent import state as agent_state
from openmtd.agent.client import AgentClient, PrivacyAnswer, ServerUnreachable
from openmtd.agent.onboarding import ClientFactory
from openmtd.engines.privacy import PRIVACY_KEYS, PRIVACY_LABELS

_ON = {"on": True, "1": True, "true": True, "yes": True}
_OFF = {"off": False, "0": False, "false": False, "no": False}


def parse_setting(text: str) -> tuple[str, bool]:
    """'exclude_url_in_report=on' (or exclude-url-in-report=off, =1, =0) as (key, value)."""
    key, sep, value = text.partition("=")
    key = key.strip().lower().replace("-", "_")
    if not sep or key not in PRIVACY_KEYS:
        raise ValueError(f"{text!r} is not KEY=on|off with KEY one of {', '.join(PRIVACY_KEYS)}")
    word = value.strip().lower()
    if word not in _ON and word not in _OFF:
        raise ValueError(f"{text!r}: the value must be on or off")
    return key, _ON.get(word, False)


@dataclass(frozen=True, slots=True)
class PrivacyView:
    device_id: str
    privacy: dict[str, bool]
    user_toggles: tuple[str, ...]
    changed: tuple[str, ...] = ()
    source: str = "server"  # or "last sync" when the server could not be reached
    unreachable: str = ""

    def rows(self) -> list[tuple[str, str, bool, bool]]:
        """(key, what it does, on, the user may change it), in display order."""
        return [
            (k, PRIVACY_LABELS[k], self.privacy[k], k in self.user_toggles) for k in PRIVACY_KEYS
        ]

    def to_json(self) -> dict[str, object]:
        return {
            "device_id": self.device_id,
            "privacy": dict(self.privacy),
            "user_toggles": list(self.user_toggles),
            "changed": list(self.changed),
            "source": self.source,
            "server_unreachable": self.unreachable or None,
        }


def _remember(state_dir: Path, state: agent_state.AgentState, answer: PrivacyAnswer) -> None:
    agent_state.save(
        state_dir,
        state.with_changes(privacy=answer.privacy, privacy_user_toggles=answer.user_toggles),
    )


def show(state_dir: Path, *, client_factory: ClientFactory = AgentClient) -> PrivacyView:
    """The settings as the server holds them now (kept here too); when the server cannot be
    reached, the ones of the last sync."""
    state = agent_state.load(state_dir)
    try:
        with client_factory(state.server_url, credential=state.device_credential) as client:
            answer = client.privacy(state.device_id)
    except ServerUnreachable as e:
        return PrivacyView(
            state.device_id,
            state.privacy.as_dict(),
            state.privacy_user_toggles,
            source="last sync",
            unreachable=str(e),
        )
    _remember(state_dir, state, answer)
    return PrivacyView(state.device_id, answer.privacy.as_dict(), answer.user_toggles)


def change(
    state_dir: Path,
    changes: Iterable[tuple[str, bool]],
    *,
    client_factory: ClientFactory = AgentClient,
) -> PrivacyView:
    """Ask the server to change these keys; kept here once it did. A key the organisation
    keeps raises AgentError `privacy_key_locked` and nothing changes, here or there."""
    state = agent_state.load(state_dir)
    wanted = dict(changes)
    with client_factory(state.server_url, credential=state.device_credential) as client:
        answer = client.set_privacy(state.device_id, wanted)
    _remember(state_dir, state, answer)
    return PrivacyView(
        state.device_id, answer.privacy.as_dict(), answer.user_toggles, answer.changed
    )
