"""The one Settings object (environment prefix OPENMTD_), built at the edge and passed down."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, IPvAnyNetwork, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from openmtd.domain.enums import ProtectionScope, RiskLevel
from openmtd.domain.network import SecurityKind, normalize_mac
from openmtd.domain.network_certs import parse_pin
from openmtd.engines.network.thumbprints import parse_trusted_ca_list
from openmtd.engines.privacy import PrivacyRule
from openmtd.export_settings import ExportSink, check_unique_names


def _default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "openmtd"


class NetworkCanary(BaseModel):
    """A TLS endpoint the agents handshake with to see whether something intercepts them."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    host: str = Field(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9.\-:\[\]]+$")
    port: int = Field(default=443, ge=1, le=65535)
    address: str = Field(
        default="",
        max_length=253,
        description="Where to connect, when not `host` itself (the name checked is `host`).",
    )
    pins: list[str] = Field(
        default_factory=list,
        description="SHA-256 of the SubjectPublicKeyInfo of a certificate the chain must "
        "contain (hex or base64); a valid chain without one of them is interception.",
    )

    @field_validator("pins")
    @classmethod
    def _pins(cls, values: list[str]) -> list[str]:
        for value in values:
            parse_pin(value)  # ValueError names the bad pin
        return values


class CorporateWifi(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    ssid: str = Field(min_length=1, max_length=32)
    bssids: list[str] = Field(default_factory=list, max_length=256)
    minimum_security: str = Field(default="wpa2-personal", max_length=32)

    @field_validator("bssids")
    @classmethod
    def _bssids(cls, values: list[str]) -> list[str]:
        checked = []
        for value in values:
            mac = normalize_mac(value)
            if mac is None:
                raise ValueError(f"{value!r} is not a BSSID (six hex octets)")
            checked.append(mac)
        return checked

    @field_validator("minimum_security")
    @classmethod
    def _security(cls, value: str) -> str:
        kinds = [k.value for k in SecurityKind if k is not SecurityKind.UNKNOWN]
        if value not in kinds:
            raise ValueError(f"{value!r} is not one of {', '.join(kinds)}")
        return value


PrivacyKey = Literal[
    "exclude_url_in_report",
    "exclude_app_in_report",
    "vulnerability_privacy_mode",
    "network_protection_privacy",
]


class PrivacyPolicyRule(BaseModel):
    """One rule of the admin's privacy policy (docs/privacy.md): the first rule that matches a
    device's protection scope and device group decides its privacy settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    scopes: list[ProtectionScope] = Field(
        default_factory=list, description="Protection scopes it covers; empty: every scope."
    )
    device_groups: list[str] = Field(
        default_factory=list, description="Device groups it covers; empty: every group."
    )
    exclude_url_in_report: bool | None = None
    exclude_app_in_report: bool | None = None
    vulnerability_privacy_mode: bool | None = None
    network_protection_privacy: bool | None = None
    user_toggles: list[PrivacyKey] = Field(
        default_factory=list,
        description="Keys the person holding the device may change; the others are locked "
        "to this rule's values where it sets them.",
    )

    def rule(self) -> PrivacyRule:
        values = {
            k: v
            for k, v in (
                ("exclude_url_in_report", self.exclude_url_in_report),
                ("exclude_app_in_report", self.exclude_app_in_report),
                ("vulnerability_privacy_mode", self.vulnerability_privacy_mode),
                ("network_protection_privacy", self.network_protection_privacy),
            )
            if v is not None
        }
        return PrivacyRule(
            scopes=frozenset(self.scopes),
            device_groups=frozenset(self.device_groups),
            values=values,
            user_toggles=frozenset(self.user_toggles),
        )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OPENMTD_", extra="ignore")

    data_dir: Path = Field(
        default_factory=_default_data_dir,
        description="Folder for the SQLite database and other local state.",
    )
    database_url: str = Field(
        default="",
        description="SQLAlchemy URL; empty means SQLite file openmtd.db in data_dir. "
        "PostgreSQL: postgresql+psycopg://user@host:5432/db",
    )
    public_url: str = Field(
        default="http://127.0.0.1:8443",
        description="URL devices and admins use to reach this server (rendered into MDM files).",
    )
    compliance_max_risk: RiskLevel = Field(
        default=RiskLevel.LOW,
        description="Highest device threat level that is still compliant ('at or under').",
    )
    unresponsive_days: int = Field(
        default=7,
        ge=1,
        le=365,
        description="Days without a check-in after which a device is unresponsive (the "
        "reference's 'days until partner is unresponsive'); the all-groups policy's default.",
    )
    unresponsive_action: Literal["noncompliant", "ignore"] = Field(
        default="noncompliant",
        description="Whether an unresponsive device is noncompliant or its last state counts.",
    )
    compliance_require_onboarding: bool = Field(
        default=True,
        description="Conditional access that enforces onboarding: devices that are not (or no "
        "longer) onboarded are denied.",
    )
    access_trusted_proxies: list[IPvAnyNetwork] = Field(
        default_factory=list,
        description="Addresses of the reverse proxies (nginx, Traefik, Envoy) whose forwarded "
        "client-certificate headers the forward-auth endpoint believes, as JSON: "
        '["127.0.0.1/32"]; headers from anyone else are refused.',
    )
    access_token_days: int = Field(
        default=30, ge=1, le=365, description="Lifetime of a device access token."
    )
    access_certificate_days: int = Field(
        default=365, ge=1, le=825, description="Lifetime of a device client certificate."
    )
    access_ca_dir: Path | None = Field(
        default=None,
        description="Folder of the CA that signs device client certificates (ca.pem, "
        "ca-key.pem); empty means data_dir/access-ca, created on first use. Servers behind one "
        "load balancer share it.",
    )
    access_cache_seconds: float = Field(
        default=30.0,
        ge=0,
        le=3600,
        description="Longest time a forward-auth decision is reused; any risk or compliance "
        "change drops cached decisions at once (every process checks within 0.1 s).",
    )
    checkin_interval_seconds: int = Field(default=900, ge=10)
    max_agent_body_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    max_console_body_bytes: int = Field(default=256 * 1024, ge=1024)
    session_hours: int = Field(default=12, ge=1)
    secure_cookies: bool = Field(
        default=False, description="Mark console cookies Secure (set when served over HTTPS)."
    )
    migrate_on_start: bool = True
    freeze_gc: bool = Field(
        default=False,
        description="After start-up, move what it built out of the garbage collector's full "
        "passes (gc.freeze), which would otherwise stall requests for a tenth of a second or "
        "more; `openmtd serve` turns it on (a process that creates many apps, like the tests, "
        "must not).",
    )
    dns_upstream: str = Field(
        default="",
        description="Resolver that protective DNS forwards allowed names to, host:port "
        "(IPv6 as [addr]:port); empty means the first nameserver in /etc/resolv.conf.",
    )
    dns_upstream_timeout_seconds: float = Field(default=2.0, gt=0, le=30)
    dns_cache_entries: int = Field(default=100_000, ge=0)
    max_import_bytes: int = Field(
        default=256 * 1024 * 1024, ge=1024, description="Largest indicator file an import takes."
    )
    feed_dirs: list[Path] = Field(
        default_factory=list,
        description="Folders whose files may be used as feeds (besides http(s) URLs); "
        "data_dir/feeds is always one.",
    )
    feed_scheduler: bool = Field(
        default=True, description="Refresh feeds on their schedule in a background task."
    )
    max_feed_bytes: int = Field(
        default=512 * 1024 * 1024, ge=1024, description="Largest feed document a refresh reads."
    )
    vuln_feed_locations: list[str] = Field(
        default_factory=list,
        description="Vulnerability feeds the server imports on schedule (http(s) URLs or files): "
        "OSV, CVE JSON 5, SOFA, NVD, CISA KEV, EPSS; e.g. SOFA's ios_data_feed.json and KEV.",
    )
    vuln_feed_refresh_hours: float = Field(
        default=24.0, gt=0, le=24 * 31, description="How often each vulnerability feed is read."
    )
    max_apk_upload_bytes: int = Field(
        default=200 * 1024 * 1024,
        ge=1024,
        description="Largest APK an agent may upload for analysis (HTTP 413 above it).",
    )
    apk_upload_scope: Literal["sideloaded", "all", "off"] = Field(
        default="sideloaded",
        description="Which unknown APKs the server asks agents to upload: 'sideloaded' (apps "
        "not from a store, the MDM or the system image), 'all', or 'off' (indicators only).",
    )
    yara_rule_dirs: list[Path] = Field(
        default_factory=list,
        description="The admin's folders of YARA rules (*.yar, *.yara), used besides the "
        "built-in rules when APKs are analysed.",
    )

    # Device integrity (docs/integrity.md)
    integrity_challenge_seconds: int = Field(
        default=300, ge=10, le=3600, description="How long an attestation challenge is valid."
    )
    attestation_interval_hours: int = Field(
        default=24,
        ge=1,
        description="Ask each device for fresh attestation this often; attestation findings "
        "older than three intervals no longer count.",
    )
    android_attestation_roots_file: Path | None = Field(
        default=None,
        description="PEM file of Android Key Attestation roots; empty means Google's roots "
        "bundled with openmtd (the RSA roots and the 2025 ECDSA Key Attestation CA1).",
    )
    android_revocation_source: str = Field(
        default="https://android.googleapis.com/attestation/status",
        description="Where Google's attestation revocation list (status.json) is read: an "
        "http(s) URL or a file path; empty turns revocation checking off.",
    )
    android_revocation_refresh_hours: int = Field(default=24, ge=1)
    android_allowed_packages: list[str] = Field(
        default_factory=list,
        description="Package names the attested key must belong to (the agent); empty: any.",
    )
    android_allowed_signers: list[str] = Field(
        default_factory=list,
        description="SHA-256 (hex) of the signing certificates the attested app may have; "
        "empty: any.",
    )
    play_integrity_package: str = Field(
        default="", description="Package name in Play Integrity verdicts; empty: not used."
    )
    play_integrity_decryption_key: SecretStr = Field(
        default=SecretStr(""),
        description="Play Console's self-managed decryption key (base64 AES-256).",
    )
    play_integrity_verification_key: str = Field(
        default="",
        description="Play Console's self-managed verification key (base64 DER EC public key).",
    )
    play_integrity_certificate_sha256: list[str] = Field(
        default_factory=list,
        description="The app's signing certificate SHA-256 digests (hex or base64url); empty: any.",
    )
    app_attest_app_ids: list[str] = Field(
        default_factory=list,
        description="App Attest app ids (TEAMID.bundle.id) of the iOS agent; empty: not used.",
    )
    app_attest_roots_file: Path | None = Field(
        default=None,
        description="PEM file of App Attest roots; empty means Apple's App Attestation Root "
        "CA bundled with openmtd.",
    )
    app_attest_allow_development: bool = Field(
        default=False, description="Accept App Attest keys from the development environment."
    )
    compromised_device_response: Literal["ios", "all", "off"] = Field(
        default="ios",
        description="On which compromised devices the agent stops its web protection and clears "
        "its local data: 'ios' (as the reference product), 'all', or 'off'.",
    )

    network_protection: bool = Field(
        default=True,
        description="Network protection on the agents: rogue Wi-Fi and rogue certificate "
        "detection (the reference product's network protection enable key).",
    )
    open_network_detection: Literal[0, 1, 2] = Field(
        default=2,
        description="Open Wi-Fi networks: 2 enable (recorded, the user is told), 1 audit "
        "(recorded, the user is not told), 0 disable.",
    )
    certificate_detection: Literal[0, 1, 2] = Field(
        default=2,
        description="Rogue certificates and TLS interception: 2 enable, 1 audit, 0 disable.",
    )
    trusted_ca_list: str = Field(
        default="",
        description="Trusted CA certificate list: comma-separated SHA-1 thumbprints, hex with "
        "or without spaces between bytes (the reference format); chains through these CAs are "
        "not reported.",
    )
    network_user_trust: bool = Field(
        default=False,
        description="End-user trust flow: people may trust a network or a certificate "
        "themselves; every such choice is recorded.",
    )
    network_auto_remediation: bool = Field(
        default=True,
        description="Resolve a network alert by itself when the device leaves the network or "
        "the certificate is gone.",
    )
    network_canaries: list[NetworkCanary] = Field(
        default_factory=list,
        description="TLS endpoints the agents check for interception, as JSON: "
        '[{"host": "mtd.example.com", "port": 443, "pins": ["<SPKI SHA-256 hex>"]}].',
    )
    corporate_wifi: list[CorporateWifi] = Field(
        default_factory=list,
        description="The organisation's Wi-Fi networks, as JSON: "
        '[{"ssid": "Corp", "bssids": ["aa:bb:cc:dd:ee:ff"], "minimum_security": "wpa2-personal"}]'
        "; the same SSID with another access point or weaker security is an evil twin.",
    )

    server_canary_pins: list[str] = Field(
        default_factory=list,
        description="When public_url is https, the agents check this server as a canary too; "
        "these SPKI SHA-256 pins (hex or base64) of its certificate chain make it a pinned one.",
    )
    known_bad_networks_file: Path | None = Field(
        default=None,
        description="Known-bad Wi-Fi networks: a CSV 'type,value,title' (type ssid or bssid) "
        "or a plain list of SSIDs and BSSIDs, one a line; read again when the file changes.",
    )

    # Alert export (docs/alert-export.md)
    export_sinks: list[ExportSink] = Field(
        default_factory=list,
        description="Where alerts (and device health changes) are exported, as JSON: "
        '[{"name": "siem", "kind": "syslog", "host": "siem.example.com", "transport": "tls"}, '
        '{"name": "soar", "kind": "webhook", "url": "https://soar.example.com/hook", '
        '"secret": "..."}]; each sink\'s settings are in docs/alert-export.md.',
    )
    export_worker: bool = Field(
        default=True,
        description="Deliver exported events from this process (a background thread); "
        "events wait in the database, so another server process may deliver them instead.",
    )
    export_poll_seconds: float = Field(
        default=0.5,
        gt=0,
        le=60,
        description="How often the delivery worker looks for due events besides being woken "
        "by this process's own commits (events queued by other processes, retries).",
    )
    export_lease_seconds: float = Field(
        default=120.0,
        ge=10,
        le=3600,
        description="How long a worker holds the events it is delivering; after that another "
        "worker (another process) may deliver them again. Longer than any sink's timeout.",
    )
    export_batch_size: int = Field(
        default=100, ge=1, le=1000, description="Events a worker takes per sink and pass."
    )
    export_retention_days: int = Field(
        default=7,
        ge=1,
        le=3650,
        description="Delivered events are deleted after this many days; dead ones are kept.",
    )

    @field_validator("export_sinks")
    @classmethod
    def _export_sinks(cls, values: list[ExportSink]) -> list[ExportSink]:
        return check_unique_names(values)

    privacy_policy: list[PrivacyPolicyRule] = Field(
        default_factory=list,
        description="The admin's privacy policy, as JSON: a list of rules, the first that "
        "matches a device deciding, e.g. "
        '[{"scopes": ["personal-profile"], "user_toggles": ["exclude_url_in_report"]}, '
        '{"device_groups": ["execs"], "vulnerability_privacy_mode": true}]; a key a rule '
        "sets and does not list in user_toggles is locked; without a rule the scope's "
        "defaults apply and the person holding the device may change nothing.",
    )

    @field_validator("trusted_ca_list")
    @classmethod
    def _thumbprints(cls, value: str) -> str:
        parse_trusted_ca_list(value)  # TrustedCaListError (a ValueError) names the problem
        return value

    @field_validator("server_canary_pins")
    @classmethod
    def _server_pins(cls, values: list[str]) -> list[str]:
        for value in values:
            parse_pin(value)
        return values

    def canaries(self) -> list[NetworkCanary]:
        """The configured canaries, and this server itself when it is reached over https."""
        listed = list(self.network_canaries)
        url = urlsplit(self.public_url)
        if url.scheme == "https" and url.hostname:
            port = url.port or 443
            if not any(c.host == url.hostname and c.port == port for c in listed):
                listed.append(
                    NetworkCanary(host=url.hostname, port=port, pins=self.server_canary_pins)
                )
        return listed

    def privacy_rules(self) -> tuple[PrivacyRule, ...]:
        return tuple(r.rule() for r in self.privacy_policy)

    def trusted_ca_thumbprints(self) -> frozenset[str]:
        return parse_trusted_ca_list(self.trusted_ca_list)

    def allowed_feed_dirs(self) -> list[Path]:
        return [self.data_dir / "feeds", *self.feed_dirs]

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'openmtd.db'}"
