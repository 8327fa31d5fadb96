"""The agent's copy of web protection: indicator sets and settings, kept on disk, and the index.

Sets are stored one file each under ``<state>/web/`` so that the agent protects offline with the
last synced indicators, and a sync downloads only the sets whose revision moved (a custom
indicator change does not re-download a million-entry feed).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openmtd.agent.state import write_private
from openmtd.domain.web import IndicatorAction
from openmtd.engines.web.index import IndexLayer, WebIndex
from openmtd.engines.web.lookalike import LookalikeDetector, LookalikePolicy
from openmtd.engines.web.wire import IndicatorSet

WEB_DIR = "web"
SETTINGS_FILE = "settings.json"
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


def _set_path(state_dir: Path, name: str) -> Path:
    return state_dir / WEB_DIR / f"set-{_SAFE.sub('_', name)}.json"


@dataclass(frozen=True, slots=True)
class WebSettings:
    """What the last sync said about web protection on this device."""

    anti_phishing: bool = True
    local_proxy: bool = True
    dns_block_mode: str = "address"
    dns_block_ipv4: str = "0.0.0.0"
    dns_block_ipv6: str = "::"
    dns_blocked_ttl: int = 60
    heuristics: dict[str, Any] = field(default_factory=dict)
    device_groups: tuple[str, ...] = ()
    sets: tuple[tuple[str, int], ...] = ()

    @classmethod
    def from_sync(
        cls, web: dict[str, Any], device_groups: tuple[str, ...], sets: tuple[tuple[str, int], ...]
    ) -> WebSettings:
        return cls(
            anti_phishing=bool(web.get("anti_phishing", True)),
            local_proxy=bool(web.get("local_proxy", True)),
            dns_block_mode=str(web.get("dns_block_mode", "address")),
            dns_block_ipv4=str(web.get("dns_block_ipv4", "0.0.0.0")),
            dns_block_ipv6=str(web.get("dns_block_ipv6", "::")),
            dns_blocked_ttl=int(web.get("dns_blocked_ttl", 60)),
            heuristics=dict(web.get("heuristics") or {}),
            device_groups=device_groups,
            sets=sets,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "anti_phishing": self.anti_phishing,
            "local_proxy": self.local_proxy,
            "dns_block_mode": self.dns_block_mode,
            "dns_block_ipv4": self.dns_block_ipv4,
            "dns_block_ipv6": self.dns_block_ipv6,
            "dns_blocked_ttl": self.dns_blocked_ttl,
            "heuristics": self.heuristics,
            "device_groups": list(self.device_groups),
            "sets": [list(s) for s in self.sets],
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> WebSettings:
        return cls.from_sync(
            doc,
            tuple(doc.get("device_groups") or ()),
            tuple((str(n), int(r)) for n, r in doc.get("sets") or ()),
        )

    def lookalike(self) -> LookalikeDetector | None:
        h = self.heuristics
        if not self.anti_phishing or not h.get("enabled", True):
            return None
        return LookalikeDetector(
            LookalikePolicy(
                protected=tuple(h.get("protected_domains") or ()),
                include_builtin=bool(h.get("include_builtin_brands", True)),
                actions=tuple(
                    sorted((k, IndicatorAction(v)) for k, v in (h.get("actions") or {}).items())
                ),
                disabled=frozenset(h.get("disabled") or ()),
                known_good=tuple(h.get("known_good") or ()),
            )
        )


def forget(state_dir: Path) -> None:
    """Remove every stored set and the settings (a new enrollment starts clean)."""
    folder = state_dir / WEB_DIR
    if folder.is_dir():
        for path in folder.glob("*.json"):
            path.unlink(missing_ok=True)


def has_settings(state_dir: Path) -> bool:
    return (state_dir / WEB_DIR / SETTINGS_FILE).is_file()


def load_settings(state_dir: Path) -> WebSettings:
    try:
        doc = json.loads((state_dir / WEB_DIR / SETTINGS_FILE).read_text())
        return WebSettings.from_json(doc)
    except (OSError, ValueError, TypeError, KeyError):
        return WebSettings()


def stored_revision(state_dir: Path, name: str) -> int | None:
    try:
        with _set_path(state_dir, name).open() as f:
            head = f.read(4096)
    except OSError:
        return None
    match = re.search(r'"revision":\s*(\d+)', head)
    return int(match.group(1)) if match else None


@dataclass(frozen=True, slots=True)
class SetSync:
    downloaded: tuple[str, ...]
    removed: tuple[str, ...]


def sync_sets(
    state_dir: Path, settings: WebSettings, fetch: Callable[[str], dict[str, Any]]
) -> SetSync:
    """Download every set whose stored revision differs, drop sets no longer listed, and save
    the settings. A set that fails to parse is not stored (the previous copy stays)."""
    downloaded = []
    for name, revision in settings.sets:
        if stored_revision(state_dir, name) == revision:
            continue
        doc = fetch(name)
        IndicatorSet.from_dict(doc)  # validate before storing
        write_private(_set_path(state_dir, name), json.dumps(doc, separators=(",", ":")))
        downloaded.append(name)
    listed = {_set_path(state_dir, n).name for n, _ in settings.sets}
    removed = []
    folder = state_dir / WEB_DIR
    if folder.is_dir():
        for path in folder.glob("set-*.json"):
            if path.name not in listed:
                path.unlink(missing_ok=True)
                removed.append(path.name)
    write_private(folder / SETTINGS_FILE, json.dumps(settings.to_json(), indent=2))
    return SetSync(tuple(downloaded), tuple(removed))


def load_index(state_dir: Path, settings: WebSettings | None = None) -> WebIndex:
    """The index from what is on disk (works offline); unreadable set files are skipped.
    With anti-phishing turned off for this platform the index judges nothing at all."""
    settings = settings or load_settings(state_dir)
    if not settings.anti_phishing:
        return WebIndex(builtin=False)
    layers = []
    folder = state_dir / WEB_DIR
    for path in sorted(folder.glob("set-*.json")) if folder.is_dir() else ():
        try:
            ind_set = IndicatorSet.from_dict(json.loads(path.read_text()))
        except (OSError, ValueError, TypeError, KeyError):
            continue
        layers.append(IndexLayer.build_set(ind_set))
    return WebIndex(layers, lookalike=settings.lookalike())
