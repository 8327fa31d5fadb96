"""ArcSight Common Event Format (CEF) for alert events.

`CEF:0|openmtd|openmtd|<version>|<signature id>|<name>|<severity>|<extension>`

Escaping, as the CEF specification has it: in header fields a backslash and a pipe are
escaped with a backslash; in extension values a backslash, an equals sign and line breaks
(`\\n`, `\\r`). Header fields cannot carry line breaks: each becomes a space. Extension keys
are fixed ASCII names of the CEF dictionary (custom fields as csN with a csNLabel).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from openmtd.domain.enums import Severity
from openmtd.engines.export.event import AlertEvent, epoch_ms

VENDOR = "openmtd"
PRODUCT = "openmtd"

#: Alert severity -> CEF severity (0-3 low, 4-6 medium, 7-8 high, 9-10 very high).
CEF_SEVERITY: dict[Severity, int] = {
    Severity.INFORMATIONAL: 1,
    Severity.LOW: 3,
    Severity.MEDIUM: 5,
    Severity.HIGH: 8,
}

#: Extension values longer than this are cut (with "…"): CEF's custom strings hold 4000
#: characters, and a syslog datagram should stay small.
MAX_VALUE = 1023
MAX_EVIDENCE = 2000

_KEY = re.compile(r"^[A-Za-z0-9_]+$")


def escape_header(value: str) -> str:
    """A CEF header field: '\\' -> '\\\\', '|' -> '\\|', line breaks -> spaces."""
    value = value.replace("\r\n", " ").replace("\r", " ").replace("\n", " ")
    return value.replace("\\", "\\\\").replace("|", "\\|")


def escape_extension(value: str) -> str:
    """A CEF extension value: '\\' -> '\\\\', '=' -> '\\=', CR -> '\\r', LF -> '\\n'."""
    return value.replace("\\", "\\\\").replace("=", "\\=").replace("\r", "\\r").replace("\n", "\\n")


def clip(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def cef_line(
    *,
    version: str,
    signature_id: str,
    name: str,
    severity: int,
    extension: Sequence[tuple[str, str]],
) -> str:
    """One CEF record from its parts (values unescaped; this escapes them)."""
    if not 0 <= severity <= 10:
        raise ValueError(f"CEF severity {severity} is not 0-10")
    for key, _ in extension:
        if not _KEY.match(key):
            raise ValueError(f"CEF extension key {key!r} is not alphanumeric")
    header = [VENDOR, PRODUCT, version, signature_id, name]
    ext = " ".join(f"{k}={escape_extension(v)}" for k, v in extension)
    return "CEF:0|" + "|".join(escape_header(h) for h in header) + f"|{severity}|{ext}"


def alert_cef(event: AlertEvent, *, version: str) -> str:
    """The CEF record of an alert event. Signature id `openmtd:<category>`; `act` is the
    change (raised, updated, resolved, test); `externalId` the alert id; `cs1`-`cs6` and
    `flexString1`-`flexString2` the device, status, classification, evidence and the
    idempotency key."""
    device = event.device
    evidence = json.dumps(dict(event.evidence), sort_keys=True, ensure_ascii=False, default=str)
    ext: list[tuple[str, str]] = [
        ("rt", str(epoch_ms(event.occurred_at))),
        ("start", str(epoch_ms(event.first_seen))),
        ("end", str(epoch_ms(event.last_seen))),
        ("act", event.change.value),
        ("cat", event.category),
        ("cnt", str(event.count)),
        ("externalId", str(event.alert_id)),
        ("msg", clip(event.title, MAX_VALUE)),
        ("shost", clip(device.name, MAX_VALUE)),
        ("cs1Label", "deviceId"),
        ("cs1", device.id),
        ("cs2Label", "platform"),
        ("cs2", device.platform),
        ("cs3Label", "deviceGroup"),
        ("cs3", clip(device.device_group, MAX_VALUE)),
        ("cs4Label", "status"),
        ("cs4", event.status.value),
        ("cs5Label", "classification"),
        ("cs5", event.classification.value),
        ("cs6Label", "evidence"),
        ("cs6", clip(evidence, MAX_EVIDENCE)),
        ("flexString1Label", "scenario"),
        ("flexString1", device.scenario),
        ("flexString2Label", "idempotencyKey"),
        ("flexString2", event.key),
    ]
    if event.assigned_to:
        ext.append(("duser", clip(event.assigned_to, MAX_VALUE)))
    return cef_line(
        version=version,
        signature_id=f"openmtd:{event.category}",
        name=clip(event.title, 512),
        severity=CEF_SEVERITY[event.severity],
        extension=ext,
    )
