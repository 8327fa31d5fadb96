"""Typed SQLAlchemy 2 models. Portable: only types both SQLite and PostgreSQL understand."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both backends (SQLite drops the offset otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UtcDateTime(), dict[str, Any]: JSON, list[Any]: JSON}


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    disabled_at: Mapped[datetime | None]


class ConsoleSession(Base):
    __tablename__ = "console_sessions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class OnboardingToken(Base):
    __tablename__ = "onboarding_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    platform: Mapped[str | None] = mapped_column(String(16))
    scenarios: Mapped[list[Any]]
    device_group: Mapped[str] = mapped_column(String(128))
    tags: Mapped[list[Any]]
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime]
    max_uses: Mapped[int | None]
    uses: Mapped[int] = mapped_column(Integer, default=0)
    revoked_at: Mapped[datetime | None]


class Device(Base):
    __tablename__ = "devices"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    credential_digest: Mapped[str] = mapped_column(String(64), unique=True)
    platform: Mapped[str] = mapped_column(String(16), index=True)
    scenario: Mapped[str] = mapped_column(String(48), index=True)
    protection_scope: Mapped[str] = mapped_column(String(32))
    hardware_id: Mapped[str] = mapped_column(String(128), index=True)
    name: Mapped[str] = mapped_column(String(128))
    device_group: Mapped[str] = mapped_column(String(128), index=True)
    # Space-delimited with a space at each end (" sales emea "), so that a tag filter is a
    # portable LIKE '% tag %' on both backends; tags cannot contain spaces.
    tags: Mapped[str] = mapped_column(String(1100))
    # Tags given at enrollment (the token's and the managed config's device tag); every
    # check-in's reported tags are merged onto these.
    assigned_tags: Mapped[str] = mapped_column(String(1100))
    model: Mapped[str] = mapped_column(String(128))
    manufacturer: Mapped[str] = mapped_column(String(128))
    os_version: Mapped[str] = mapped_column(String(64))
    security_patch_level: Mapped[date | None] = mapped_column(Date)
    build: Mapped[str] = mapped_column(String(128))
    enrolled_at: Mapped[datetime]
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    risk_level: Mapped[str] = mapped_column(String(16), index=True)
    risk_reason: Mapped[str] = mapped_column(Text)
    inventory_digest: Mapped[str] = mapped_column(String(64))
    app_count: Mapped[int] = mapped_column(Integer, default=0)
    onboarding_token_id: Mapped[int | None] = mapped_column(
        ForeignKey("onboarding_tokens.id", ondelete="SET NULL")
    )
    enrollment_warnings: Mapped[list[Any]]
    privacy: Mapped[dict[str, Any]]
    # The latest raw integrity signals and network observations, as the device sent them; the
    # integrity and network engines judge them.
    signals: Mapped[dict[str, Any]]
    retired_at: Mapped[datetime | None]
    # Protective DNS: the digest of the secret in this device's DoH path (/dns-query/<token>);
    # the token itself is shown once, in the DNS profile the console renders.
    dns_token_digest: Mapped[str | None] = mapped_column(String(64), unique=True)
    # Device integrity (server.integrity): the combined verdict over signals and attestation,
    # and the digest of what it was computed from (re-judged only when that changes).
    integrity_state: Mapped[str] = mapped_column(String(16), index=True, default="unknown")
    integrity: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the verdict document
    integrity_input: Mapped[str] = mapped_column(String(64), default="")
    # When the verdict must be judged again although nothing changed (an attestation finding
    # ages out), and when each kind of evidence last passed ({kind: ISO time}); both are read
    # at every check-in, so they are kept out of the verdict document.
    integrity_valid_until: Mapped[datetime | None]
    attested: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Vulnerabilities (server.vulns): the assessment's figures, the digest of what it was
    # computed from, and the feed generation it was matched against (-1: to be matched again).
    vuln_exposure: Mapped[int | None] = mapped_column(Integer, index=True)
    vuln_count: Mapped[int] = mapped_column(Integer, default=0)
    vuln_exploited: Mapped[int] = mapped_column(Integer, default=0)
    vuln_assessment: Mapped[str] = mapped_column(String(16), default="none")
    vuln_input: Mapped[str] = mapped_column(String(64), default="")
    vuln_generation: Mapped[int] = mapped_column(Integer, index=True, default=0)
    vuln_assessed_at: Mapped[datetime | None]
    vulns: Mapped[dict[str, Any]] = mapped_column(default=dict)  # explanation, top, problems
    # Compliance (engines.compliance, server.compliance): the policy's verdict without the part
    # that time alone decides; `unresponsive_after` finishes it at read time. `health_state` is
    # the partner state last seen and pushed (a change is what the MDM webhook announces).
    compliance_policy: Mapped[str] = mapped_column(String(64), default="")
    compliance_fingerprint: Mapped[str] = mapped_column(String(300), default="")
    compliance_ok: Mapped[bool] = mapped_column(Boolean, index=True, default=True)
    compliance_reasons: Mapped[list[Any]] = mapped_column(default=list)
    unresponsive_after: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)
    unresponsive_noncompliant: Mapped[bool] = mapped_column(Boolean, default=True)
    health_base: Mapped[str] = mapped_column(String(24), default="activated")
    health_state: Mapped[str] = mapped_column(String(24), index=True, default="activated")
    health_changed_at: Mapped[datetime | None]
    protection_issues: Mapped[list[Any]] = mapped_column(default=list)


class DeviceApp(Base):
    __tablename__ = "device_apps"
    __table_args__ = (UniqueConstraint("device_id", "identifier"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    identifier: Mapped[str] = mapped_column(String(255), index=True)
    version: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255))
    install_source: Mapped[str] = mapped_column(String(16))
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    signer_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    signer_sha1: Mapped[str | None] = mapped_column(String(40), index=True)


class CheckIn(Base):
    __tablename__ = "checkins"
    __table_args__ = (UniqueConstraint("device_id", "report_id"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    report_id: Mapped[str] = mapped_column(String(64))
    body_digest: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime]


class Alert(Base):
    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_device_key", "device_id", "dedup_key", "status"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    category: Mapped[str] = mapped_column(String(64), index=True)
    title: Mapped[str] = mapped_column(String(255))
    severity: Mapped[str] = mapped_column(String(16), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    classification: Mapped[str] = mapped_column(String(32))
    assigned_to: Mapped[str | None] = mapped_column(String(64))
    evidence: Mapped[dict[str, Any]]
    dedup_key: Mapped[str] = mapped_column(String(255))
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    count: Mapped[int] = mapped_column(Integer, default=1)
    resolved_at: Mapped[datetime | None]


class DeviceEvent(Base):
    """One entry on a device's timeline."""

    __tablename__ = "device_events"
    __table_args__ = (Index("ix_device_events_device_time", "device_id", "occurred_at"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    occurred_at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(64))
    summary: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]]


class AuditEntry(Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(255))
    details: Mapped[dict[str, Any]]


class SyncGeneration(Base):
    """A counter per named configuration; bumping it changes every agent's sync ETag."""

    __tablename__ = "sync_generations"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    generation: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime]


class CustomIndicator(Base):
    """An admin's own indicator (web: domain, URL, IP; app: hashes, signer, package)."""

    __tablename__ = "indicators"
    __table_args__ = (UniqueConstraint("type", "value"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    type: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(2048))
    action: Mapped[str] = mapped_column(String(8))
    severity: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text)
    recommended_actions: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(64))
    mitre_techniques: Mapped[list[Any]]
    generate_alert: Mapped[bool]
    expires_at: Mapped[datetime | None]
    device_groups: Mapped[list[Any]]
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime]


class Feed(Base):
    """A threat-intelligence feed: where it comes from, its defaults, and its last refresh."""

    __tablename__ = "feeds"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    location: Mapped[str] = mapped_column(String(2048))  # http(s) URL or a server-side file path
    format: Mapped[str] = mapped_column(String(16))  # a FeedFormat value or "auto"
    action: Mapped[str] = mapped_column(String(8))
    severity: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(64))
    enabled: Mapped[bool]
    refresh_minutes: Mapped[int] = mapped_column(Integer)  # 0: only by hand
    revision: Mapped[int] = mapped_column(Integer)  # bumped when its entries change
    entry_count: Mapped[int] = mapped_column(Integer)
    metas: Mapped[list[Any]]  # per-entry metadata that differs from the defaults (STIX, CSV)
    last_refresh_at: Mapped[datetime | None]
    last_status: Mapped[str] = mapped_column(String(16))  # never | ok | error
    last_report: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(64))


class FeedEntry(Base):
    """One indicator of a feed: only type and value (and which of the feed's metas applies)."""

    __tablename__ = "feed_entries"
    feed_id: Mapped[int] = mapped_column(
        ForeignKey("feeds.id", ondelete="CASCADE"), primary_key=True
    )
    type: Mapped[str] = mapped_column(String(16), primary_key=True)
    value: Mapped[str] = mapped_column(String(2048), primary_key=True)
    meta_index: Mapped[int] = mapped_column(Integer)  # -1: the feed's defaults; else metas[i]


class WebPolicy(Base):
    """The web-protection policy (a single row, id 1): anti-phishing, proxy, heuristics, DNS."""

    __tablename__ = "web_policy"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    body: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(64))


class ApkAnalysis(Base):
    """The static analysis of one distinct APK, done once for the whole fleet (by its SHA-256).

    `result` is the engine's verdict (engines.apps.verdict_wire); the columns beside it are
    what lists and joins need. The APK itself is not kept.
    """

    __tablename__ = "apk_analyses"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    sha1: Mapped[str] = mapped_column(String(40))
    md5: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(BigInteger)
    package: Mapped[str] = mapped_column(String(255))
    version_name: Mapped[str] = mapped_column(String(128))
    signer_sha256: Mapped[str | None] = mapped_column(String(64))
    signer_sha1: Mapped[str | None] = mapped_column(String(40))
    verdict: Mapped[str] = mapped_column(String(24), index=True)
    score: Mapped[int] = mapped_column(Integer)
    result: Mapped[dict[str, Any]]
    rules_digest: Mapped[str] = mapped_column(String(64))  # which YARA rule set judged it
    analysed_at: Mapped[datetime]
    analysis_ms: Mapped[int] = mapped_column(Integer)
    uploaded_by: Mapped[str | None] = mapped_column(String(36))  # the first device that sent it


class IntegrityChallenge(Base):
    """A server-issued attestation nonce: single use, short-lived, bound to one device and kind.

    Only the nonce's SHA-256 is kept; the agent sends the nonce back with its evidence.
    """

    __tablename__ = "integrity_challenges"
    __table_args__ = (Index("ix_integrity_challenges_device", "device_id", "expires_at"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    nonce_sha256: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class IntegrityAttestation(Base):
    """One verified (or rejected) piece of attestation evidence, with its reasons."""

    __tablename__ = "integrity_attestations"
    __table_args__ = (Index("ix_integrity_attestations_device", "device_id", "verified_at"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    accepted: Mapped[bool] = mapped_column(Boolean)
    code: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    facts: Mapped[dict[str, Any]]
    findings: Mapped[list[Any]]
    verified_at: Mapped[datetime]


class AppAttestKey(Base):
    """An App Attest key a device proved genuine; assertions must raise its counter."""

    __tablename__ = "app_attest_keys"
    device_id: Mapped[str] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True
    )
    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)  # hex SHA-256
    app_id: Mapped[str] = mapped_column(String(255))
    environment: Mapped[str] = mapped_column(String(16))
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    counter: Mapped[int] = mapped_column(BigInteger)
    attested_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]


class VulnRecordRow(Base):
    """One vulnerability record as one feed describes it (`intel.vuln_feeds.wire`)."""

    __tablename__ = "vuln_records"
    source: Mapped[str] = mapped_column(String(8), primary_key=True)
    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    revision: Mapped[str] = mapped_column(String(80))  # what a re-import compares
    record: Mapped[dict[str, Any]]
    imported_at: Mapped[datetime]


class KevRow(Base):
    __tablename__ = "vuln_kev"
    cve: Mapped[str] = mapped_column(String(32), primary_key=True)
    entry: Mapped[dict[str, Any]]


class EpssRow(Base):
    __tablename__ = "vuln_epss"
    cve: Mapped[str] = mapped_column(String(32), primary_key=True)
    score: Mapped[float] = mapped_column(Float)
    percentile: Mapped[float] = mapped_column(Float)


class VulnImport(Base):
    """One import of a feed document: where from, what it held, what changed."""

    __tablename__ = "vuln_imports"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    origin: Mapped[str] = mapped_column(String(2048))
    format: Mapped[str] = mapped_column(String(8))
    imported_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    summary: Mapped[dict[str, Any]]


class DeviceVuln(Base):
    """One vulnerability (a CVE, or a record's own id) of one device, from one finding."""

    __tablename__ = "device_vulns"
    device_id: Mapped[str] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True
    )
    vuln_id: Mapped[str] = mapped_column(String(200), primary_key=True, index=True)
    source: Mapped[str] = mapped_column(String(8), primary_key=True)
    record_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    app_identifier: Mapped[str] = mapped_column(String(255), primary_key=True)
    product: Mapped[str] = mapped_column(String(8))
    package: Mapped[str] = mapped_column(String(512))
    installed_version: Mapped[str] = mapped_column(String(160))
    range_start: Mapped[str | None] = mapped_column(String(160))
    start_inclusive: Mapped[bool] = mapped_column(Boolean)
    range_end: Mapped[str | None] = mapped_column(String(160))
    end_inclusive: Mapped[bool] = mapped_column(Boolean)
    component: Mapped[str] = mapped_column(String(200))
    severity: Mapped[str] = mapped_column(String(10), index=True)
    base: Mapped[float] = mapped_column(Float)
    exploited: Mapped[bool] = mapped_column(Boolean)
    epss: Mapped[float | None] = mapped_column(Float)


class VulnMappingRow(Base):
    """An admin's row of the app mapping: package name or bundle id -> product identifier."""

    __tablename__ = "vuln_app_mapping"
    identifier: Mapped[str] = mapped_column(String(255), primary_key=True)
    product: Mapped[str] = mapped_column(String(512), primary_key=True)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(64))


class CompliancePolicyRow(Base):
    """A compliance policy for one device group; device_group NULL: every other group."""

    __tablename__ = "compliance_policies"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    device_group: Mapped[str | None] = mapped_column(String(128), unique=True)
    max_risk: Mapped[str] = mapped_column(String(16))
    require_onboarding: Mapped[bool] = mapped_column(Boolean)
    unresponsive_days: Mapped[int] = mapped_column(Integer)
    unresponsive_action: Mapped[str] = mapped_column(String(16))
    min_os_android: Mapped[str | None] = mapped_column(String(32))
    min_os_ios: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(64))


class DeviceAccessToken(Base):
    """A device-bound token for conditional access (forward-auth); only its digest is kept."""

    __tablename__ = "device_access_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), index=True)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class DeviceClientCertificate(Base):
    """A client certificate issued to a device (its CSR signed by the access CA)."""

    __tablename__ = "device_client_certs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), index=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    serial: Mapped[str] = mapped_column(String(48))
    not_after: Mapped[datetime]
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


# --- alert export (migration 0008) ---


class ExportOutbox(Base):
    """One event for one export sink: queued in the transaction of the change it reports,
    then delivered (at least once) by the export worker (server/export)."""

    __tablename__ = "export_outbox"
    __table_args__ = (
        UniqueConstraint("sink", "key"),
        Index("ix_export_outbox_due", "state", "next_attempt_at"),
        Index("ix_export_outbox_sink_state", "sink", "state"),
    )
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    sink: Mapped[str] = mapped_column(String(64))
    topic: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(255))  # the idempotency key
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16))  # pending | delivered | dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]  # due time; while delivering, the end of the lease
    last_attempt_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))


# --- conditional launch (migration 0009) ---


class AppProtectionPolicyRow(Base):
    """An app protection policy (conditional launch): who it covers, the level it allows, and
    what happens above it. Empty app_ids: every managed app; NULL group/platform: all."""

    __tablename__ = "app_protection_policies"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    app_ids: Mapped[list[Any]]
    device_group: Mapped[str | None] = mapped_column(String(128))
    platform: Mapped[str | None] = mapped_column(String(16))
    max_risk: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(8))  # block | wipe
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(64))


class LaunchLatchRow(Base):
    """A launch blocked (or wiped) for one app on one device, held until the threat is gone."""

    __tablename__ = "launch_latches"
    device_id: Mapped[str] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True
    )
    app_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    policy_id: Mapped[int | None] = mapped_column(
        ForeignKey("app_protection_policies.id", ondelete="SET NULL")
    )
    action: Mapped[str] = mapped_column(String(8))  # the action that latched it
    wiped: Mapped[bool] = mapped_column(Boolean)
    threat_level: Mapped[int] = mapped_column(Integer)  # 1-4 when it latched
    latched_at: Mapped[datetime]
    last_blocked_at: Mapped[datetime]


class LaunchLogEntry(Base):
    """One conditional-launch decision. Codes as the reference log: threat level 1 Secured,
    2 Low, 3 Medium, 4 High; action 0 Block, 1 Wipe, NULL when allowed. Bounded per device
    (server.launch.service prunes it)."""

    __tablename__ = "launch_log"
    __table_args__ = (Index("ix_launch_log_device_entry", "device_id", "id"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    app_id: Mapped[str] = mapped_column(String(255))
    app_version: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    threat_level: Mapped[int] = mapped_column(Integer)
    decision: Mapped[str] = mapped_column(String(8))  # allow | block | wipe
    action_code: Mapped[int | None] = mapped_column(Integer)
    policy_id: Mapped[int | None] = mapped_column(Integer)  # no FK: the log outlives policies
    policy_name: Mapped[str | None] = mapped_column(String(128))
    explanation: Mapped[str] = mapped_column(Text)
