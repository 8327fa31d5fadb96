"""Network protection as the agents apply it: the server's controls, as `policy.network`."""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

from openmtd.config import Settings
from openmtd.engines.network.wifi_indicators import parse_wifi_indicators

log = logging.getLogger(__name__)


def network_policy(settings: Settings) -> dict[str, object]:
    """Network protection as the agents apply it (the reference product's controls)."""
    return {
        "enabled": settings.network_protection,
        "open_network_detection": settings.open_network_detection,
        "certificate_detection": settings.certificate_detection,
        "trusted_ca_thumbprints": sorted(settings.trusted_ca_thumbprints()),
        "user_trust": settings.network_user_trust,
        "auto_remediation": settings.network_auto_remediation,
        "canaries": [c.model_dump() for c in settings.canaries()],
        "corporate_wifi": [w.model_dump() for w in settings.corporate_wifi],
        "known_bad_networks": known_bad_networks(settings.known_bad_networks_file),
    }


def known_bad_networks(path: Path | None) -> list[dict[str, str]]:
    """The admin's known-bad network list, read again only when the file changes (every sync
    and check-in works out the policy); a list that cannot be read counts as empty, logged."""
    if path is None:
        return []
    try:
        stat = path.stat()
    except OSError as e:
        log.warning("known-bad network list %s: %s", path, e)
        return []
    return list(_known_bad_networks(str(path), stat.st_mtime_ns, stat.st_size))


@lru_cache(maxsize=4)
def _known_bad_networks(path: str, _mtime_ns: int, _size: int) -> tuple[dict[str, str], ...]:
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        log.warning("known-bad network list %s: %s", path, e)
        return ()
    parsed = parse_wifi_indicators(data)
    if parsed.problem_count:
        first = parsed.problems[0]
        log.warning("known-bad network list %s: %d bad line(s), first line %d: %s", path,
                    parsed.problem_count, first.line, first.reason)  # fmt: skip
    return tuple(
        {"type": i.type.value, "value": i.value, "title": i.title} for i in parsed.indicators
    )
