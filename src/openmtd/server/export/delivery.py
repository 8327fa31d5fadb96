"""Delivering the outbox: a background worker per server process, never on the request path.

The worker claims due rows with a lease (a conditional UPDATE that moves `next_attempt_at` to
the end of the lease and counts the attempt: portable, and two workers, in one process or
several, never hold the same row at once), sends them without holding a database
transaction, and records the outcome: delivered, or a retry after an exponential backoff
with jitter, or dead after the sink's `max_attempts` (kept and visible; an admin can queue
dead rows again). A row whose worker died is taken again when its lease ends, so a restart
loses nothing; delivery is at least once, and the idempotency key lets receivers drop repeats.

While a receiver is down (connection refused or reset, timeout, HTTP 5xx, 408 or 429) one row
probes it: the sink's other due rows wait for the probe's retry time without using up their
attempts. A refusal of one event (other HTTP 4xx, a payload that cannot be formatted) counts
against that event only.

The worker wakes when this process commits a transaction that queued something (an
`after_commit` hook on the app's session factory) and polls every `export_poll_seconds` for
the rest (other processes, the CLI, retries). It has a database engine of its own, so neither a
slow receiver nor the worker's own writes hold a request's connection.
"""

from __future__ import annotations

import logging
import random
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

import certifi
import httpx
from sqlalchemy import ColumnElement, Engine, delete, event, select, update
from sqlalchemy.orm import Session, sessionmaker

from openmtd import __version__
from openmtd.config import Settings
from openmtd.engines.export import cef, ocsf, syslog, webhook
from openmtd.engines.export.event import AlertEvent
from openmtd.engines.export.retry import backoff_seconds
from openmtd.export_settings import ExportSink
from openmtd.server.export.outbox import DEAD, DELIVERED, PENDING, QUEUED_INFO, bind_sinks
from openmtd.store.db import make_engine, make_session_factory
from openmtd.store.models import ExportOutbox

if TYPE_CHECKING:
    from openmtd.server.context import AppContext

log = logging.getLogger("openmtd.export")

MAX_ERROR = 500
RESPONSE_SNIPPET = 200
PRUNE_EVERY_SECONDS = 3600.0
USER_AGENT = f"openmtd/{__version__}"
_DOWN_STATUSES = frozenset({408, 425, 429})


# --- what a pass did --------------------------------------------------------------------------


@dataclass
class DeliveryReport:
    """One pass over the due rows of every sink."""

    claimed: int = 0
    delivered: int = 0
    retrying: int = 0  # failed, scheduled again
    dead: int = 0  # failed for the last time
    deferred: int = 0  # not tried: their receiver is down, they wait for its probe
    busy: bool = False  # some sink had more due rows than a pass takes
    errors: list[str] = field(default_factory=list)

    def add(self, other: DeliveryReport) -> None:
        self.claimed += other.claimed
        self.delivered += other.delivered
        self.retrying += other.retrying
        self.dead += other.dead
        self.deferred += other.deferred
        self.busy = self.busy or other.busy
        self.errors.extend(other.errors)


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    topic: str
    key: str
    payload: dict[str, Any]
    created_at: datetime
    attempts: int  # including this one


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    error: str = ""
    down: bool = False  # the receiver is unreachable or overloaded: hold the sink's other rows

    @classmethod
    def failed(cls, error: str, *, down: bool) -> Outcome:
        return cls(False, error[:MAX_ERROR], down)


SKIPPED = Outcome(False, "not tried: the receiver was down", down=True)


class Sender(Protocol):
    def send(self, rows: Sequence[Claimed]) -> list[Outcome]:
        """One outcome per row, in order; rows after a `down` failure get SKIPPED."""
        ...

    def close(self) -> None: ...


# --- formatting (the engines do the work) -------------------------------------------------------


def alert_event(row: Claimed) -> AlertEvent:
    if row.topic != "alert":
        raise ValueError(f"this sink's format carries alerts only, not {row.topic!r}")
    return AlertEvent.from_payload(row.key, row.payload)


def webhook_body(sink: ExportSink, row: Claimed) -> bytes:
    if sink.wire_format == "ocsf":
        return webhook.compact_json(ocsf.detection_finding(alert_event(row), version=__version__))
    return webhook.body(key=row.key, topic=row.topic, occurred_at=row.created_at, data=row.payload)


def syslog_message(sink: ExportSink, row: Claimed, *, hostname: str) -> bytes:
    event = alert_event(row)
    if sink.wire_format == "ocsf":
        text = webhook.compact_json(ocsf.detection_finding(event, version=__version__)).decode(
            "utf-8"
        )
    else:
        text = cef.alert_cef(event, version=__version__)
    return syslog.rfc5424(
        facility=sink.facility,
        severity=syslog.SYSLOG_SEVERITY[event.severity],
        at=event.occurred_at,
        hostname=sink.hostname or hostname,
        app_name=sink.app_name,
        msgid=f"alert.{event.change.value}",
        message=text,
        sd=[syslog.origin("openmtd", __version__)],
    )


def _reason(e: BaseException) -> str:
    text = str(e).strip() or type(e).__name__
    return f"{type(e).__name__}: {text}" if type(e).__name__ not in text else text


def _tls_context(sink: ExportSink) -> ssl.SSLContext:
    context = ssl.create_default_context(
        cafile=str(sink.ca_file) if sink.ca_file is not None else certifi.where()
    )
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if not sink.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


# --- webhooks -----------------------------------------------------------------------------------


class WebhookSender:
    """HTTP POST with the signature headers; a 2xx answer is a delivery."""

    def __init__(self, sink: ExportSink, *, wall_clock: Callable[[], float] = time.time) -> None:
        self.sink = sink
        self._wall_clock = wall_clock
        self._secret = sink.secret.get_secret_value().encode("utf-8")
        verify: ssl.SSLContext | bool = _tls_context(sink) if sink.verify else False
        self._client = httpx.Client(
            timeout=httpx.Timeout(sink.timeout_seconds),
            verify=verify,
            proxy=sink.proxy or None,
            trust_env=False,
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
        )

    def send(self, rows: Sequence[Claimed]) -> list[Outcome]:
        out: list[Outcome] = []
        for row in rows:
            if out and out[-1].down:
                out.append(SKIPPED)
                continue
            out.append(self._post(row))
        return out

    def _post(self, row: Claimed) -> Outcome:
        try:
            body = webhook_body(self.sink, row)
        except ValueError as e:
            return Outcome.failed(f"cannot format the event: {e}", down=False)
        stamp = int(self._wall_clock())  # the receiver compares it with its own clock
        headers = {
            "Content-Type": "application/json",
            webhook.IDEMPOTENCY_HEADER: row.key,
            webhook.TOPIC_HEADER: row.topic,
            webhook.ATTEMPT_HEADER: str(row.attempts),
            webhook.TIMESTAMP_HEADER: str(stamp),
            webhook.SIGNATURE_HEADER: webhook.signature(self._secret, stamp, body),
        }
        try:
            with self._client.stream("POST", self.sink.url, content=body, headers=headers) as r:
                status = r.status_code
                snippet = b""
                if not 200 <= status < 300:
                    for chunk in r.iter_bytes():
                        snippet += chunk
                        if len(snippet) >= RESPONSE_SNIPPET:
                            break
        except httpx.HTTPError as e:
            return Outcome.failed(_reason(e), down=True)
        if 200 <= status < 300:
            return Outcome(True)
        text = " ".join(snippet[:RESPONSE_SNIPPET].decode("utf-8", "replace").split())
        return Outcome.failed(
            f"HTTP {status}" + (f": {text}" if text else ""),
            down=status >= 500 or status in _DOWN_STATUSES,
        )

    def close(self) -> None:
        self._client.close()


# --- syslog -------------------------------------------------------------------------------------


class SyslogSender:
    """RFC 5424 over UDP (a datagram per message), TCP or TLS (octet-counted frames on one
    connection per batch). A message is delivered once it is written: syslog has no
    acknowledgement, so UDP is best effort and TCP/TLS cover what the network can see."""

    def __init__(self, sink: ExportSink, *, hostname: str) -> None:
        self.sink = sink
        self.hostname = hostname
        self._tls = _tls_context(sink) if sink.transport == "tls" else None

    def send(self, rows: Sequence[Claimed]) -> list[Outcome]:
        messages: list[bytes | Outcome] = []
        for row in rows:
            try:
                messages.append(syslog_message(self.sink, row, hostname=self.hostname))
            except ValueError as e:
                messages.append(Outcome.failed(f"cannot format the event: {e}", down=False))
        if self.sink.transport == "udp":
            return self._udp(messages)
        return self._stream(messages)

    def _address(self) -> tuple[socket.AddressFamily, Any]:
        family, _, _, _, address = socket.getaddrinfo(
            self.sink.host.strip("[]"), self.sink.syslog_port, type=socket.SOCK_DGRAM
        )[0]
        return family, address

    def _udp(self, messages: Sequence[bytes | Outcome]) -> list[Outcome]:
        out: list[Outcome] = []
        try:
            family, address = self._address()
            sock = socket.socket(family, socket.SOCK_DGRAM)
        except OSError as e:
            return [Outcome.failed(_reason(e), down=True)] + [SKIPPED] * (len(messages) - 1)
        with sock:
            sock.settimeout(self.sink.timeout_seconds)
            try:
                sock.connect(address)  # an ICMP "port unreachable" then fails the next send
            except OSError as e:
                return [Outcome.failed(_reason(e), down=True)] + [SKIPPED] * (len(messages) - 1)
            for message in messages:
                if out and out[-1].down:
                    out.append(SKIPPED)
                elif isinstance(message, Outcome):
                    out.append(message)
                else:
                    try:
                        sock.send(message)
                        out.append(Outcome(True))
                    except OSError as e:
                        out.append(Outcome.failed(_reason(e), down=True))
        return out

    def _stream(self, messages: Sequence[bytes | Outcome]) -> list[Outcome]:
        out: list[Outcome] = []
        timeout = self.sink.timeout_seconds
        try:
            raw = socket.create_connection(
                (self.sink.host.strip("[]"), self.sink.syslog_port), timeout
            )
        except OSError as e:
            return [Outcome.failed(_reason(e), down=True)] + [SKIPPED] * (len(messages) - 1)
        sock: socket.socket = raw
        try:
            if self._tls is not None:
                sock = self._tls.wrap_socket(
                    raw, server_hostname=self.sink.server_name or self.sink.host.strip("[]")
                )
            for message in messages:
                if out and out[-1].down:
                    out.append(SKIPPED)
                elif isinstance(message, Outcome):
                    out.append(message)
                else:
                    try:
                        sock.sendall(syslog.octet_counted(message))
                        out.append(Outcome(True))
                    except OSError as e:
                        out.append(Outcome.failed(_reason(e), down=True))
        except OSError as e:  # the TLS handshake
            return [Outcome.failed(_reason(e), down=True)] + [SKIPPED] * (len(messages) - 1)
        finally:
            sock.close()
        return out

    def close(self) -> None:
        pass


def make_sender(sink: ExportSink, *, hostname: str) -> Sender:
    if sink.kind == "webhook":
        return WebhookSender(sink)
    return SyslogSender(sink, hostname=hostname)


# --- claiming and recording -------------------------------------------------------------------


def claim(
    sessions: sessionmaker[Session],
    *,
    sink: str,
    now: datetime,
    limit: int,
    lease_seconds: float,
) -> list[Claimed]:
    """Take up to `limit` due rows of one sink, oldest first, for `lease_seconds`."""
    lease_until = now + timedelta(seconds=lease_seconds)
    with sessions() as db:
        due = db.execute(
            select(ExportOutbox.id, ExportOutbox.attempts)
            .where(
                ExportOutbox.sink == sink,
                ExportOutbox.state == PENDING,
                ExportOutbox.next_attempt_at <= now,
            )
            .order_by(ExportOutbox.id)
            .limit(limit)
        ).all()
        taken: list[int] = []
        for row_id, attempts in due:
            result = db.execute(
                update(ExportOutbox)
                .where(
                    ExportOutbox.id == row_id,
                    ExportOutbox.state == PENDING,
                    ExportOutbox.attempts == attempts,
                    ExportOutbox.next_attempt_at <= now,
                )
                .values(attempts=attempts + 1, next_attempt_at=lease_until, last_attempt_at=now)
                .execution_options(synchronize_session=False)
            )
            if getattr(result, "rowcount", 0) == 1:
                taken.append(row_id)
        db.commit()
        if not taken:
            return []
        rows = db.scalars(
            select(ExportOutbox).where(ExportOutbox.id.in_(taken)).order_by(ExportOutbox.id)
        ).all()
        return [
            Claimed(r.id, r.topic, r.key, dict(r.payload), r.created_at, r.attempts) for r in rows
        ]


def record(
    sessions: sessionmaker[Session],
    sink: ExportSink,
    results: Sequence[tuple[Claimed, Outcome]],
    *,
    now: datetime,
    jitter: Callable[[], float] = random.random,
) -> DeliveryReport:
    """Write the outcomes of one batch; when the receiver was down, the sink's other due rows
    wait for the probe's retry time."""
    report = DeliveryReport()
    hold_until: datetime | None = None
    with sessions() as db:
        for row, outcome in results:
            mine: tuple[ColumnElement[bool], ...] = (
                ExportOutbox.id == row.id,
                ExportOutbox.state == PENDING,
                ExportOutbox.attempts == row.attempts,
            )
            if outcome.ok:
                values: dict[str, Any] = {
                    "state": DELIVERED,
                    "delivered_at": now,
                    "next_attempt_at": now,
                    "last_error": None,
                }
                report.delivered += 1
                # Delivered even if another worker took the row after this lease ended.
                mine = (ExportOutbox.id == row.id, ExportOutbox.state == PENDING)
            elif outcome is SKIPPED:
                report.deferred += 1
                continue  # released below, with the rest of the sink's rows
            elif row.attempts >= sink.max_attempts:
                values = {"state": DEAD, "next_attempt_at": now, "last_error": outcome.error}
                report.dead += 1
                log.warning(
                    "export to %s: %s is dead after %d attempts: %s",
                    sink.name,
                    row.key,
                    row.attempts,
                    outcome.error,
                )
            else:
                delay = backoff_seconds(
                    row.attempts,
                    base=sink.backoff_base_seconds,
                    cap=sink.backoff_cap_seconds,
                    jitter=jitter(),
                )
                retry_at = now + timedelta(seconds=delay)
                values = {"next_attempt_at": retry_at, "last_error": outcome.error}
                report.retrying += 1
                if outcome.down:
                    hold_until = retry_at if hold_until is None else max(hold_until, retry_at)
            db.execute(
                update(ExportOutbox)
                .where(*mine)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
        skipped = [row for row, outcome in results if outcome is SKIPPED]
        if hold_until is None and skipped:
            hold_until = now  # the probe died: the others may go at once
        for row in skipped:  # claimed but not tried: the attempt does not count
            db.execute(
                update(ExportOutbox)
                .where(
                    ExportOutbox.id == row.id,
                    ExportOutbox.state == PENDING,
                    ExportOutbox.attempts == row.attempts,
                )
                .values(attempts=row.attempts - 1, next_attempt_at=hold_until)
                .execution_options(synchronize_session=False)
            )
        if hold_until is not None and hold_until > now:
            probes = [row.id for row, outcome in results if not outcome.ok]
            db.execute(
                update(ExportOutbox)
                .where(
                    ExportOutbox.sink == sink.name,
                    ExportOutbox.state == PENDING,
                    ExportOutbox.next_attempt_at < hold_until,
                    ExportOutbox.id.not_in(probes),
                )
                .values(next_attempt_at=hold_until)
                .execution_options(synchronize_session=False)
            )
        db.commit()
    return report


def prune(sessions: sessionmaker[Session], *, before: datetime) -> int:
    """Delete rows delivered before `before` (dead rows stay until retried)."""
    with sessions() as db:
        result = db.execute(
            delete(ExportOutbox)
            .where(ExportOutbox.state == DELIVERED, ExportOutbox.delivered_at < before)
            .execution_options(synchronize_session=False)
        )
        db.commit()
        return int(getattr(result, "rowcount", 0) or 0)


# --- the worker ---------------------------------------------------------------------------------


class ExportWorker:
    """One per server process (AppContext.export): binds the sinks to the app's sessions,
    wakes on their commits, and delivers in a background thread once `start()`ed."""

    def __init__(
        self,
        settings: Settings,
        *,
        request_sessions: sessionmaker[Session],
        clock: Callable[[], datetime],
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.settings = settings
        self.sinks: tuple[ExportSink, ...] = tuple(settings.export_sinks)
        self._clock = clock
        self._jitter = jitter
        self._request_sessions = request_sessions
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._senders: dict[str, Sender] = {}
        self._hostname = socket.gethostname() or "-"
        self._last_prune = 0.0
        self._engine: Engine | None = None
        self.sessions: sessionmaker[Session] = request_sessions
        bind_sinks(request_sessions, self.sinks)
        if self.sinks:
            # Its own connection (one on SQLite): a request never waits behind the worker.
            self._engine = make_engine(settings.resolved_database_url(), pool_size=1)
            self.sessions = make_session_factory(self._engine)
            event.listen(request_sessions, "after_commit", self._after_commit)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def sink(self, name: str) -> ExportSink | None:
        return next((s for s in self.sinks if s.name == name), None)

    def start(self) -> None:
        """Start the background thread (when sinks are configured and export_worker is on)."""
        with self._lock:
            if self._thread is not None or self._stop.is_set():
                return
            if not self.sinks or not self.settings.export_worker:
                return
            self._thread = threading.Thread(target=self._run, name="openmtd-export", daemon=True)
            self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def close(self, timeout: float = 15.0) -> None:
        """Stop the thread (it finishes the batch it is sending) and close the connections."""
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                log.warning("the export worker is still sending; it stops after this batch")
        if event.contains(self._request_sessions, "after_commit", self._after_commit):
            event.remove(self._request_sessions, "after_commit", self._after_commit)
        for sender in self._senders.values():
            sender.close()
        self._senders.clear()
        if self._engine is not None and (thread is None or not thread.is_alive()):
            self._engine.dispose()

    def _after_commit(self, session: Session) -> None:
        if session.info.pop(QUEUED_INFO, False):
            self._wake.set()

    def _sender(self, sink: ExportSink) -> Sender:
        with self._lock:
            sender = self._senders.get(sink.name)
            if sender is None:
                sender = make_sender(sink, hostname=self._hostname)
                self._senders[sink.name] = sender
            return sender

    # --- one pass ---------------------------------------------------------------------------

    def deliver_due(self, *, now: datetime | None = None) -> DeliveryReport:
        """Deliver what is due now, every sink in turn, at most a batch per sink. Never
        raises: a failure is counted, logged and retried later."""
        at = now if now is not None else self._clock()
        report = DeliveryReport()
        for sink in self.sinks:
            if self._stop.is_set() and now is None:
                break
            try:
                report.add(self._deliver_sink(sink, now=at))
            except Exception as e:  # a database outage, a bug: the next pass tries again
                log.exception("export to %s failed", sink.name)
                report.errors.append(f"{sink.name}: {_reason(e)}")
        return report

    def _deliver_sink(self, sink: ExportSink, *, now: datetime) -> DeliveryReport:
        report = DeliveryReport()
        budget = self.settings.export_batch_size
        per_claim = budget if sink.kind == "syslog" else 1
        lease = max(self.settings.export_lease_seconds, sink.timeout_seconds * 4)
        while budget > 0:
            rows = claim(
                self.sessions,
                sink=sink.name,
                now=now,
                limit=min(per_claim, budget),
                lease_seconds=lease,
            )
            if not rows:
                return report
            budget -= len(rows)
            report.claimed += len(rows)
            outcomes = self._sender(sink).send(rows)
            if len(outcomes) != len(rows):  # a sender bug: retry the rest later
                outcomes = [*outcomes, *[SKIPPED] * (len(rows) - len(outcomes))][: len(rows)]
            report.add(
                record(
                    self.sessions,
                    sink,
                    list(zip(rows, outcomes, strict=True)),
                    now=now,
                    jitter=self._jitter,
                )
            )
            if any(o.down for o in outcomes):
                return report
        report.busy = True
        return report

    def _run(self) -> None:
        poll = self.settings.export_poll_seconds
        while not self._stop.is_set():
            self._wake.clear()
            report = self.deliver_due()
            self._prune()
            if not report.busy or self._stop.is_set():
                self._wake.wait(poll)

    def _prune(self) -> None:
        if time.monotonic() - self._last_prune < PRUNE_EVERY_SECONDS:
            return
        self._last_prune = time.monotonic()
        before = self._clock() - timedelta(days=self.settings.export_retention_days)
        try:
            prune(self.sessions, before=before)
        except Exception:
            log.exception("pruning delivered export events failed")


def deliver_due(source: AppContext | ExportWorker, *, now: datetime) -> DeliveryReport:
    """One delivery pass, as the worker does it (tests and tools call this directly)."""
    worker = source if isinstance(source, ExportWorker) else source.export
    return worker.deliver_due(now=now)
