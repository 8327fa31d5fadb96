"""RFC 5424 syslog messages, and the octet-counting framing of RFC 6587 / RFC 5425.

`<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD-ELEMENT...] MSG`

PRI is facility * 8 + severity. The header fields are printable US-ASCII without spaces
('-' when empty); SD-PARAM values escape '"', '\\' and ']' with a backslash. MSG is sent
without a BOM (MSG-ANY), as CEF receivers expect. Over UDP a datagram is one message
(RFC 5426); over TCP and TLS each message is framed as `<length> <message>`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from openmtd.domain.enums import Severity

#: Alert severity -> syslog severity (RFC 5424 numbers: 2 critical … 6 informational).
SYSLOG_SEVERITY: dict[Severity, int] = {
    Severity.INFORMATIONAL: 6,  # informational
    Severity.LOW: 5,  # notice
    Severity.MEDIUM: 4,  # warning
    Severity.HIGH: 3,  # error
}

NILVALUE = "-"
_FIELD_LIMITS = {"HOSTNAME": 255, "APP-NAME": 48, "PROCID": 128, "MSGID": 32}
_SD_NAME = re.compile(r"^[!#-<>-\\^-~]{1,32}$")  # PRINTUSASCII except '=', ' ', ']', '"'


def header_field(value: str, name: str) -> str:
    """A header field: printable US-ASCII (others become '_'), cut to its RFC length."""
    cleaned = "".join(c if "!" <= c <= "~" else "_" for c in value)[: _FIELD_LIMITS[name]]
    return cleaned or NILVALUE


def timestamp(value: datetime) -> str:
    """RFC 5424 TIMESTAMP: RFC 3339 in UTC with microseconds."""
    if value.tzinfo is None:
        raise ValueError("naive datetime")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def escape_param(value: str) -> str:
    """An SD-PARAM value: '\\', '"' and ']' are escaped with a backslash."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def structured_data(elements: Sequence[tuple[str, Mapping[str, str]]]) -> str:
    """`[id name="value" ...]...`, or '-' when there is none."""
    if not elements:
        return NILVALUE
    out = []
    for sd_id, params in elements:
        if not _SD_NAME.match(sd_id):
            raise ValueError(f"SD-ID {sd_id!r} is not a valid name")
        parts = [sd_id]
        for name, value in params.items():
            if not _SD_NAME.match(name):
                raise ValueError(f"SD-PARAM name {name!r} is not a valid name")
            parts.append(f'{name}="{escape_param(value)}"')
        out.append("[" + " ".join(parts) + "]")
    return "".join(out)


def rfc5424(
    *,
    facility: int,
    severity: int,
    at: datetime,
    hostname: str,
    app_name: str,
    msgid: str,
    message: str,
    procid: str = "",
    sd: Sequence[tuple[str, Mapping[str, str]]] = (),
) -> bytes:
    """One RFC 5424 message, UTF-8 encoded."""
    if not 0 <= facility <= 23:
        raise ValueError(f"syslog facility {facility} is not 0-23")
    if not 0 <= severity <= 7:
        raise ValueError(f"syslog severity {severity} is not 0-7")
    head = " ".join(
        [
            f"<{facility * 8 + severity}>1",
            timestamp(at),
            header_field(hostname, "HOSTNAME"),
            header_field(app_name, "APP-NAME"),
            header_field(procid, "PROCID"),
            header_field(msgid, "MSGID"),
            structured_data(sd),
        ]
    )
    return f"{head} {message}".encode() if message else head.encode()


def octet_counted(message: bytes) -> bytes:
    """RFC 6587 3.4.1 / RFC 5425 framing: the message's length in bytes, a space, the message."""
    return str(len(message)).encode("ascii") + b" " + message


def origin(software: str, version: str) -> tuple[str, dict[str, str]]:
    """The IANA-registered `origin` SD element (RFC 5424 7.2)."""
    return ("origin", {"software": software, "swVersion": version})
