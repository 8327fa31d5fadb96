"""Protective DNS on the server: each device's DNS-over-HTTPS endpoint and its token.

A device resolves through `/dns-query/<token>`; the token is a secret of its own (`omt_dns_`
and 256 random bits, stored as its SHA-256 digest in Device.dns_token_digest), shown once in
the DNS profile the console renders. A name the web index blocks (or warns about) gets the
block answer of the web policy's `dns` section and raises a Phishing detection for that
device; other names are forwarded to the configured upstream resolver and cached.

The query path is the busiest of the server, so it avoids the database: a token's device is
kept in memory for a few seconds, the web index is the live in-memory one, cached answers are
served without I/O, and the one write (a detection) runs after the response is sent, at most
once per device and detection per minute.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import dns.asyncquery
import dns.exception
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from openmtd.config import Settings
from openmtd.domain.device import Detection
from openmtd.domain.errors import Conflict, NotFound, OpenMTDError
from openmtd.domain.web import WebVerdict
from openmtd.engines.web.detections import web_detection
from openmtd.engines.web.dns import (
    FORWARD,
    Answered,
    BlockAnswer,
    DnsCache,
    DnsFilter,
    DnsQuery,
    NeedUpstream,
    ReportLimiter,
    Source,
    UpstreamAnswer,
    VerdictMemo,
    first_nameserver,
    parse_query,
    parse_resolver_address,
    upstream_query,
)
from openmtd.enrollment.tokens import digest, new_secret
from openmtd.server.alerts.service import apply_detections
from openmtd.server.audit import service as audit
from openmtd.server.context import AppContext
from openmtd.server.dns import profiles
from openmtd.server.timeline import add_event
from openmtd.store.db import transaction
from openmtd.store.models import Device

log = logging.getLogger("openmtd.server.dns")

DNS_PREFIX = "omt_dns_"
DEVICE_TTL_SECONDS = 5.0  # how long a token's device (or its absence) is kept in memory
MAX_REMEMBERED_TOKENS = 50_000
REPORT_WINDOW_SECONDS = 60.0
CHANNEL = "doh"

T = TypeVar("T")


class DnsEndpointNotFound(NotFound):
    """Unknown, rotated or retired: the answer never says which."""

    code = "dns_endpoint_not_found"


class BadDnsRequest(OpenMTDError):
    status = 400
    code = "bad_dns_message"


class UnsupportedMediaType(OpenMTDError):
    status = 415
    code = "unsupported_media_type"


# -- tokens and profiles ------------------------------------------------------------------


def _issuable(db: Session, device_id: str) -> Device:
    device = db.get(Device, device_id)
    if device is None:
        raise NotFound(f"device {device_id} does not exist")
    if device.retired_at is not None:
        raise Conflict(f"device {device_id} is retired", code="device_retired")
    return device


def issue_dns_token(db: Session, *, device_id: str, now: datetime, actor: str = "system") -> str:
    """A new DoH token for the device (returned once); any earlier token stops working."""
    device = _issuable(db, device_id)
    rotated = device.dns_token_digest is not None
    token = new_secret(DNS_PREFIX)
    device.dns_token_digest = digest(token)
    add_event(
        db,
        device_id=device_id,
        kind="dns",
        now=now,
        summary=f"protective DNS token issued by {actor}"
        + ("; the earlier token no longer works" if rotated else ""),
    )
    audit.record(
        db,
        actor=actor,
        action="device.dns_token.issue",
        target=f"device:{device_id}",
        now=now,
        rotated=rotated,
    )
    return token


def has_dns_token(db: Session, *, device_id: str) -> bool:
    device = db.get(Device, device_id)
    if device is None:
        raise NotFound(f"device {device_id} does not exist")
    return device.dns_token_digest is not None


@dataclass(frozen=True, slots=True)
class DnsProfile:
    device_id: str
    doh_url: str
    mobileconfig: bytes
    mobileconfig_filename: str
    android_instructions: str


def issue_dns_profile(
    db: Session, *, device_id: str, now: datetime, actor: str, public_url: str
) -> DnsProfile:
    """Issue a token and render everything a device needs to use it."""
    token = issue_dns_token(db, device_id=device_id, now=now, actor=actor)
    device = _issuable(db, device_id)
    url = profiles.doh_url(public_url, token)
    return DnsProfile(
        device_id=device_id,
        doh_url=url,
        mobileconfig=profiles.mobileconfig(url=url, device_id=device_id, device_name=device.name),
        mobileconfig_filename=profiles.mobileconfig_filename(device.name),
        android_instructions=profiles.android_instructions(url),
    )


# -- upstream -----------------------------------------------------------------------------


def parse_upstream(value: str, *, resolv_conf: Path = Path("/etc/resolv.conf")) -> tuple[str, int]:
    """Settings.dns_upstream ("host:port", "[v6]:port", a bare address; "" = the first
    nameserver of resolv.conf) as (IP address, port)."""
    text = value.strip()
    if not text:
        try:
            conf = resolv_conf.read_text(encoding="utf-8", errors="replace")
        except OSError as e:
            raise ValueError(f"no dns_upstream set and {resolv_conf} is unreadable: {e}") from e
        server = first_nameserver(conf)
        if server is None:
            raise ValueError(f"no dns_upstream set and no nameserver in {resolv_conf}")
        text = server
    return parse_resolver_address(text)


async def ask_upstream(
    query: DnsQuery, *, host: str, port: int, timeout: float
) -> UpstreamAnswer | None:
    """Forward over UDP (TCP when the answer is truncated); None when it fails or times out."""
    message = upstream_query(query, secrets.randbelow(65536))
    try:
        async with asyncio.timeout(timeout):
            response, _tcp = await dns.asyncquery.udp_with_fallback(
                message, host, timeout=timeout, port=port, ignore_unexpected=True
            )
    except (TimeoutError, OSError, EOFError, dns.exception.DNSException) as e:
        # Never the name: a resolver's log would be the devices' browsing history.
        log.info("upstream %s:%s failed: %s", host, port, e or type(e).__name__)
        return None
    return UpstreamAnswer.from_message(response)


# -- the DoH resolver ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DnsDevice:
    id: str
    groups: frozenset[str]
    exclude_url: bool


# Groups come from the enrollment (the token's group and tags, the managed configuration's
# device tag), never from tags the device reports: a device must not be able to put itself
# under a group-scoped Allow indicator. The agent's sync uses the same definition.
_DEVICE_BY_TOKEN = select(
    Device.id, Device.device_group, Device.assigned_tags, Device.privacy
).where(Device.dns_token_digest == bindparam("digest"), Device.retired_at.is_(None))


class DohResolver:
    """One per app (see `resolver(ctx)`): the answer cache, token cache and report limiter."""

    def __init__(
        self,
        ctx: AppContext,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ctx = ctx
        settings: Settings = ctx.settings
        self.filter = DnsFilter(DnsCache(settings.dns_cache_entries))
        self.timeout = settings.dns_upstream_timeout_seconds
        self._upstream_setting = settings.dns_upstream
        self._upstream: tuple[str, int] | None = None
        self.monotonic = monotonic
        self.limiter = ReportLimiter(REPORT_WINDOW_SECONDS)
        self.verdicts = VerdictMemo()
        self._devices: dict[str, tuple[float, DnsDevice | None]] = {}
        self._pending: dict[object, asyncio.Future[Any]] = {}
        self._block: tuple[object, BlockAnswer] | None = None
        self._warm = False

    # -- device tokens ------------------------------------------------------------------

    def forget(self, device_id: str) -> None:
        """Drop a device's remembered tokens (after a rotation in this process)."""
        for key, (_, device) in list(self._devices.items()):
            if device is not None and device.id == device_id:
                self._devices.pop(key, None)

    async def device(self, token: str) -> DnsDevice:
        if not token.startswith(DNS_PREFIX) or len(token) > 128:
            raise DnsEndpointNotFound("no such DNS-over-HTTPS endpoint")
        key = digest(token)
        now = self.monotonic()
        remembered = self._devices.get(key)
        if remembered is not None and remembered[0] > now:
            device = remembered[1]
        else:
            device = await self._once(("device", key), lambda: run_in_threadpool(self._load, key))
            if len(self._devices) >= MAX_REMEMBERED_TOKENS:
                self._devices = {k: v for k, v in self._devices.items() if v[0] > now}
                if len(self._devices) >= MAX_REMEMBERED_TOKENS:
                    self._devices.clear()
            self._devices[key] = (now + DEVICE_TTL_SECONDS, device)
        if device is None:
            raise DnsEndpointNotFound("no such DNS-over-HTTPS endpoint")
        return device

    def _load(self, token_digest: str) -> DnsDevice | None:
        with self.ctx.engine.connect() as conn:
            row = conn.execute(_DEVICE_BY_TOKEN, {"digest": token_digest}).first()
        if row is None:
            return None
        privacy = row.privacy or {}
        return DnsDevice(
            id=row.id,
            groups=frozenset({row.device_group, *row.assigned_tags.split()} - {""}),
            exclude_url=bool(privacy.get("exclude_url_in_report")),
        )

    # -- answering ----------------------------------------------------------------------

    async def _once(self, key: object, make: Callable[[], Awaitable[T]]) -> T:
        """Concurrent calls with the same key share one result (one DB read, one upstream
        query for a burst of identical requests)."""
        pending = self._pending.get(key)
        if pending is not None:
            shared: T = await asyncio.shield(pending)
            return shared
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            result = await make()
        except BaseException as e:
            future.set_exception(e)
            future.exception()  # retrieved: no "never retrieved" warning without waiters
            raise
        finally:
            del self._pending[key]
        future.set_result(result)
        return result

    def _upstream_address(self) -> tuple[str, int] | None:
        if self._upstream is None:
            try:
                self._upstream = parse_upstream(self._upstream_setting)
            except ValueError as e:  # every allowed name gets SERVFAIL until it is fixed
                log.error("protective DNS has no usable upstream resolver: %s", e)
                return None
        return self._upstream

    def block_answer(self) -> BlockAnswer:
        policy = self.ctx.web.policy().dns
        cached = self._block
        if cached is None or cached[0] is not policy:
            answer = BlockAnswer.of(
                policy.block_mode,
                str(policy.block_ipv4),
                str(policy.block_ipv6),
                policy.blocked_ttl,
            )
            self._block = cached = (policy, answer)
        return cached[1]

    async def resolve(self, token: str, wire: bytes) -> tuple[Answered, Detection | None, str]:
        """The answer for one DoH request, the detection to record (rate-limited) and the
        device id. Raises DnsEndpointNotFound and BadDnsRequest."""
        parsed = parse_query(wire)
        device = await self.device(token)
        if not isinstance(parsed, DnsQuery):
            if parsed.malformed or parsed.response is None:
                raise BadDnsRequest(f"not a usable DNS query: {parsed.reason}")
            return Answered(parsed.response, FORWARD, Source.ERROR, 0), None, device.id
        if not self._warm:  # the first index build reads the database: not on the event loop
            await run_in_threadpool(self.ctx.web.index)
            self._warm = True
        index = self.ctx.web.index()
        block = self.block_answer()
        now = self.ctx.clock()
        groups = device.groups

        def check(name: str) -> WebVerdict:
            return index.check_host(name, now=now, device_groups=groups)

        judge = self.verdicts.judge(index, groups, self.monotonic(), check)
        step = self.filter.start(parsed, judge=judge, block=block, now=self.monotonic())
        if isinstance(step, NeedUpstream):
            upstream = self._upstream_address()
            answer = None
            if upstream is not None:
                host, port = upstream
                answer = await self._once(
                    ("upstream", parsed.cache_key),
                    lambda: ask_upstream(parsed, host=host, port=port, timeout=self.timeout),
                )
            step = self.filter.finish(step, answer, judge=judge, block=block, now=self.monotonic())
        return step, self._detection(device, step), device.id

    def _detection(self, device: DnsDevice, answered: Answered) -> Detection | None:
        decision = answered.decision
        if decision.verdict is None or not decision.reportable:
            return None
        detection = web_detection(decision.verdict, channel=CHANNEL, exclude_url=device.exclude_url)
        if detection is None:
            return None
        if not self.limiter.allow((device.id, detection.key), self.monotonic()):
            return None
        return detection

    def record(self, device_id: str, detection: Detection) -> None:
        """Runs in the thread pool after the response went out."""
        try:
            with transaction(self.ctx.sessions) as db:
                apply_detections(
                    db, device_id=device_id, detections=[detection], now=self.ctx.clock()
                )
        except Exception:  # a failed report must not surface as an error of a sent answer
            log.exception("could not record a DoH detection for device %s", device_id)


def issue_profile(
    db: Session, ctx: AppContext, state: object, *, actor: str, device_id: str, now: datetime
) -> DnsProfile:
    """Issue (rotate) the device's DoH token and render its profile; this process forgets the
    old token at once (other workers within DEVICE_TTL_SECONDS)."""
    profile = issue_dns_profile(
        db, device_id=device_id, now=now, actor=actor, public_url=ctx.settings.public_url
    )
    resolver(ctx, state).forget(device_id)
    return profile


def resolver(ctx: AppContext, state: object) -> DohResolver:
    """The app's resolver, made on first use and kept on `app.state.dns`."""
    found = getattr(state, "dns", None)
    if isinstance(found, DohResolver):
        return found
    made = DohResolver(ctx)
    state.dns = made  # type: ignore[attr-defined]
    return made
