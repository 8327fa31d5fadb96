"""Alert export to syslog receivers on loopback: UDP, TCP and TLS, carrying CEF or OCSF.

The receivers parse what arrives with the test's own RFC 5424 / RFC 6587 / CEF parsers.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from conftest import Api, FakeClock
from exportwire import StreamReceiver, UdpReceiver, free_port, parse_cef, parse_rfc5424
from openmtd import __version__
from openmtd.config import Settings
from openmtd.export_settings import ExportSink
from openmtd.server.app import create_app
from openmtd.server.export.delivery import deliver_due
from openmtd.store.models import ExportOutbox
from tlscanary import make_pki

TLS_NAME = "canary.test"  # the name tlscanary's leaf certificate carries


def malware(key: str, severity: str = "High") -> dict[str, Any]:
    return {
        "category": "Malware",
        "title": f"Malicious app {key}",
        "severity": severity,
        "key": key,
        "evidence": {"package": key, "note": "a=b|c\\d\nnext"},
    }


@pytest.fixture
def run(settings: Settings, clock: FakeClock) -> Iterator[Any]:
    started: list[tuple[Any, TestClient]] = []

    def start(*sinks: ExportSink) -> Api:
        configured = settings.model_copy(
            update={"export_sinks": list(sinks), "export_worker": False}
        )
        app = create_app(configured, clock=clock)
        client = TestClient(app)
        client.__enter__()
        started.append((app, client))
        return Api(app, client, clock)

    yield start
    for app, client in started:
        client.__exit__(None, None, None)
        app.state.ctx.close()


def raise_alerts(api: Api, *keys: str) -> dict[str, Any]:
    device = api.enroll(device={"model": "Pixel 8", "os_version": "14", "name": "Bob | phone"})
    device["_scenario"] = "android-work-profile"
    api.checkin(device, detections=[malware(k) for k in keys])
    return device


def check_cef_frame(frame: bytes, device: dict[str, Any], key: str) -> dict[str, str]:
    message = parse_rfc5424(frame)
    assert (message.facility, message.severity) == (13, 3)  # log audit; High -> error
    assert message.app_name == "openmtd" and message.msgid == "alert.raised"
    assert message.hostname == "mtd-test"
    assert message.timestamp == "2026-11-26T12:00:00.000000Z"
    assert message.sd == [("origin", {"software": "openmtd", "swVersion": __version__})]
    header, ext = parse_cef(message.message)
    assert header == [
        "openmtd",
        "openmtd",
        __version__,
        "openmtd:Malware",
        f"Malicious app {key}",
        "8",
    ]
    assert ext["cs1"] == device["device_id"] and ext["shost"] == "Bob | phone"
    assert json.loads(ext["cs6"]) == {"note": "a=b|c\\d\nnext", "package": key}
    assert ext["act"] == "raised" and ext["flexString2"].startswith("alert:")
    return ext


def syslog_sink(port: int, **extra: Any) -> ExportSink:
    return ExportSink(
        name="siem", kind="syslog", host="127.0.0.1", port=port, hostname="mtd-test", **extra
    )


def test_cef_over_udp(run: Any) -> None:
    receiver = UdpReceiver()
    try:
        api = run(syslog_sink(receiver.port))
        device = raise_alerts(api, "com.a", "com.b")
        report = deliver_due(api.app.state.ctx, now=api.clock())
        assert report.delivered == 2
        frames = receiver.receive(2)
    finally:
        receiver.close()
    keys = sorted(parse_cef(parse_rfc5424(f).message)[0][4] for f in frames)
    assert keys == ["Malicious app com.a", "Malicious app com.b"]
    for frame in frames:
        assert not frame[:1].isdigit()  # one datagram, one message: no framing
        key = parse_cef(parse_rfc5424(frame).message)[0][4].removeprefix("Malicious app ")
        check_cef_frame(frame, device, key)


def test_cef_over_tcp_is_octet_counted(run: Any) -> None:
    receiver = StreamReceiver()
    try:
        api = run(syslog_sink(receiver.port, transport="tcp"))
        device = raise_alerts(api, "com.a", "com.b", "com.c")
        assert deliver_due(api.app.state.ctx, now=api.clock()).delivered == 3
        frames = receiver.wait_for(3)
    finally:
        receiver.close()
    assert receiver.errors == []
    assert receiver.connections == 1  # one connection for the batch
    titles = [parse_cef(parse_rfc5424(f).message)[0][4] for f in frames]
    assert titles == ["Malicious app com.a", "Malicious app com.b", "Malicious app com.c"]
    for frame, key in zip(frames, ("com.a", "com.b", "com.c"), strict=True):
        check_cef_frame(frame, device, key)


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[ssl.SSLContext, Path]:
    pki = make_pki()
    chain = tmp_path / "chain.pem"
    key = tmp_path / "key.pem"
    from cryptography.hazmat.primitives import serialization

    chain.write_bytes(pki.leaf.pem + pki.intermediate.pem)
    key.write_bytes(
        pki.leaf.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain, key)
    ca = tmp_path / "ca.pem"
    ca.write_bytes(pki.root.pem)
    return context, ca


def test_ocsf_over_tls_with_the_receivers_ca(run: Any, tls_files: Any) -> None:
    context, ca = tls_files
    receiver = StreamReceiver(context)
    try:
        api = run(
            syslog_sink(
                receiver.port, transport="tls", format="ocsf", ca_file=ca, server_name=TLS_NAME
            )
        )
        device = raise_alerts(api, "com.a")
        assert deliver_due(api.app.state.ctx, now=api.clock()).delivered == 1
        [frame] = receiver.wait_for(1)
    finally:
        receiver.close()
    message = parse_rfc5424(frame)
    finding = json.loads(message.message)
    assert finding["class_uid"] == 2004 and finding["activity_id"] == 1
    assert finding["type_uid"] == 200401
    assert finding["severity_id"] == 4 and finding["status_id"] == 1
    assert finding["device"]["uid"] == device["device_id"]
    assert finding["finding_info"]["title"] == "Malicious app com.a"
    assert finding["metadata"]["product"]["version"] == __version__
    assert finding["time"] == 1795694400000


def test_tls_refuses_a_receiver_it_cannot_verify(run: Any, tls_files: Any) -> None:
    context, _ca = tls_files
    receiver = StreamReceiver(context)
    try:
        api = run(syslog_sink(receiver.port, transport="tls", server_name=TLS_NAME))
        raise_alerts(api, "com.a")
        report = deliver_due(api.app.state.ctx, now=api.clock())
    finally:
        receiver.close()
    assert (report.delivered, report.retrying) == (0, 1)
    assert receiver.frames == []
    with api.app.state.ctx.sessions() as db:
        [row] = db.scalars(select(ExportOutbox))
    assert row.state == "pending" and "CERTIFICATE_VERIFY_FAILED" in (row.last_error or "")


def test_a_closed_tcp_port_is_retried(run: Any) -> None:
    api = run(syslog_sink(free_port(), transport="tcp"))
    raise_alerts(api, "com.a", "com.b")
    report = deliver_due(api.app.state.ctx, now=api.clock())
    assert (report.claimed, report.retrying, report.deferred) == (2, 1, 1)
    with api.app.state.ctx.sessions() as db:
        rows = list(db.scalars(select(ExportOutbox).order_by(ExportOutbox.id)))
    assert [r.attempts for r in rows] == [1, 0]  # the second was not tried: not counted
    assert "ConnectionRefusedError" in (rows[0].last_error or "")
    assert rows[0].next_attempt_at == rows[1].next_attempt_at > api.clock()
