"""The settings of one alert-export sink (OPENMTD_EXPORT_SINKS, a JSON list; docs/alert-export.md).

A sink is where exported events go: a webhook (JSON over HTTPS, signed with HMAC-SHA256) or a
syslog receiver (RFC 5424 over UDP, TCP or TLS, carrying CEF or OCSF JSON). Validation names
the sink and the problem, so a bad configuration stops the server with a clear message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

#: Topics a sink may subscribe to: "alert" (alert raised, updated, resolved) and
#: "device.health" (a device's health state changed).
EXPORT_TOPICS = ("alert", "device.health")
ExportTopic = Literal["alert", "device.health"]
SinkKind = Literal["webhook", "syslog"]
SinkFormat = Literal["openmtd", "ocsf", "cef"]
SyslogTransport = Literal["udp", "tcp", "tls"]

MIN_SECRET_LENGTH = 16
_DEFAULT_FORMAT: dict[str, SinkFormat] = {"webhook": "openmtd", "syslog": "cef"}
_FORMATS: dict[str, tuple[str, ...]] = {"webhook": ("openmtd", "ocsf"), "syslog": ("cef", "ocsf")}
_DEFAULT_PORT = {"udp": 514, "tcp": 514, "tls": 6514}


class ExportSink(BaseModel):
    """One export destination, e.g.
    `{"name": "siem", "kind": "syslog", "host": "siem.example.com", "transport": "tls"}` or
    `{"name": "soar", "kind": "webhook", "url": "https://soar.example.com/hook",
    "secret": "<32 random characters>"}`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(
        pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$",
        description="Unique name: lower-case letters, digits, '-' and '_' (it appears in URLs).",
    )
    kind: SinkKind = Field(description="'webhook' or 'syslog'.")
    topics: tuple[ExportTopic, ...] = Field(
        default=("alert",),
        min_length=1,
        description="What the sink receives: 'alert' and, for webhooks in the openmtd "
        "format, 'device.health'.",
    )
    format: SinkFormat | None = Field(
        default=None,
        description="Webhook: 'openmtd' (default) or 'ocsf'. Syslog: 'cef' (default) or 'ocsf'.",
    )
    # webhook
    url: str = Field(default="", max_length=2048, description="Webhook: the http(s) URL.")
    secret: SecretStr = Field(
        default=SecretStr(""),
        description=f"Webhook: the HMAC-SHA256 key (at least {MIN_SECRET_LENGTH} characters).",
    )
    proxy: str = Field(
        default="", max_length=2048, description="Webhook: an http(s) proxy URL; empty: none."
    )
    # syslog
    host: str = Field(
        default="",
        max_length=253,
        pattern=r"^[A-Za-z0-9.\-:\[\]]*$",
        description="Syslog: the receiver's host name or address.",
    )
    port: int = Field(
        default=0, ge=0, le=65535, description="Syslog: port; 0 means 514 (UDP, TCP), 6514 (TLS)."
    )
    transport: SyslogTransport = Field(default="udp", description="Syslog: udp, tcp or tls.")
    facility: int = Field(default=13, ge=0, le=23, description="Syslog facility (13: log audit).")
    hostname: str = Field(
        default="",
        max_length=255,
        pattern=r"^[!-~]*$",
        description="Syslog HOSTNAME field; empty: this machine's name.",
    )
    app_name: str = Field(
        default="openmtd", min_length=1, max_length=48, pattern=r"^[!-~]+$", description="APP-NAME"
    )
    # TLS (https webhooks, syslog over TLS)
    ca_file: Path | None = Field(
        default=None, description="PEM file of the CAs that may sign the receiver's certificate."
    )
    verify: bool = Field(
        default=True, description="Check the receiver's certificate (turn off only to test)."
    )
    server_name: str = Field(
        default="",
        max_length=253,
        description="Syslog over TLS: the name the certificate must carry; empty: `host`.",
    )
    # delivery
    timeout_seconds: float = Field(
        default=5.0, gt=0, le=60, description="Connect, send and answer timeout per attempt."
    )
    max_attempts: int = Field(
        default=12,
        ge=1,
        le=1000,
        description="Attempts before an event is marked dead (kept, visible, retryable).",
    )
    backoff_base_seconds: float = Field(
        default=2.0, gt=0, le=3600, description="The first retry's delay; it doubles each time."
    )
    backoff_cap_seconds: float = Field(
        default=3600.0, gt=0, le=7 * 24 * 3600, description="The longest delay between retries."
    )

    @model_validator(mode="after")
    def _check(self) -> ExportSink:
        where = f"export sink {self.name!r}"
        fmt = self.format or _DEFAULT_FORMAT[self.kind]
        if fmt not in _FORMATS[self.kind]:
            allowed = " or ".join(repr(f) for f in _FORMATS[self.kind])
            raise ValueError(f"{where}: format {fmt!r} is not for a {self.kind}; use {allowed}")
        if len(set(self.topics)) != len(self.topics):
            raise ValueError(f"{where}: a topic is listed twice")
        if fmt != "openmtd" and self.topics != ("alert",):
            raise ValueError(
                f"{where}: the {fmt} format carries alerts only; topics must be ['alert']"
            )
        if self.backoff_cap_seconds < self.backoff_base_seconds:
            raise ValueError(f"{where}: backoff_cap_seconds is below backoff_base_seconds")
        if self.kind == "webhook":
            self._check_webhook(where)
        else:
            self._check_syslog(where)
        if self.ca_file is not None and not self.ca_file.is_file():
            raise ValueError(f"{where}: ca_file {str(self.ca_file)!r} is not a readable file")
        return self

    def _check_webhook(self, where: str) -> None:
        url = urlsplit(self.url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"{where}: a webhook needs an http(s) url, e.g. https://host/path")
        if len(self.secret.get_secret_value()) < MIN_SECRET_LENGTH:
            raise ValueError(
                f"{where}: a webhook needs a secret of at least {MIN_SECRET_LENGTH} characters "
                "(the HMAC-SHA256 key its receiver checks signatures with)"
            )
        if self.proxy and urlsplit(self.proxy).scheme not in ("http", "https"):
            raise ValueError(f"{where}: proxy must be an http(s) URL")
        if self.host:
            raise ValueError(f"{where}: host is for syslog sinks; a webhook has a url")

    def _check_syslog(self, where: str) -> None:
        if not self.host:
            raise ValueError(f"{where}: a syslog sink needs a host")
        if self.url or self.secret.get_secret_value():
            raise ValueError(f"{where}: url and secret are for webhooks; a syslog sink has a host")
        if self.transport != "tls" and (self.ca_file is not None or self.server_name):
            raise ValueError(f"{where}: ca_file and server_name need transport 'tls'")

    # --- derived ---------------------------------------------------------------------------

    @property
    def wire_format(self) -> SinkFormat:
        return self.format or _DEFAULT_FORMAT[self.kind]

    @property
    def syslog_port(self) -> int:
        return self.port or _DEFAULT_PORT[self.transport]

    def target(self) -> str:
        """Where events go, without secrets (a webhook URL's user info, path, query)."""
        if self.kind == "webhook":
            url = urlsplit(self.url)
            host = url.hostname or ""
            if ":" in host:
                host = f"[{host}]"
            port = f":{url.port}" if url.port else ""
            # The path and query may hold a token (many webhook URLs do): only hinted at.
            rest = "/…" if url.path.strip("/") or url.query else ""
            return f"{url.scheme}://{host}{port}{rest}"
        return f"syslog+{self.transport}://{self.host}:{self.syslog_port}"

    def subscribes(self, topic: str) -> bool:
        return topic in self.topics


def check_unique_names(sinks: list[ExportSink]) -> list[ExportSink]:
    seen: set[str] = set()
    for sink in sinks:
        if sink.name in seen:
            raise ValueError(f"two export sinks are named {sink.name!r}; names must be unique")
        seen.add(sink.name)
    return sinks
