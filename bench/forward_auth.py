"""Conditional access through a real nginx: decision latency at a fixed request rate, and the
time from a High alert to the first 403.

Starts openmtd (`openmtd serve`, N worker processes, SQLite in a temporary data dir or
PostgreSQL), enrolls a device and gets its access token, and puts a real nginx in front of a
static upstream (nginx itself), twice: one site asks openmtd at every request (`auth_request`,
the block `openmtd access nginx-config` prints), the peer site is the same proxy without the
check. A loopback client sends requests at a fixed rate (open loop: latency counts from the
planned send time, so a stall is not hidden) through both sites in the same run and reports
p50/p99 of each and the difference (what the decision costs). The client is a minimal
keep-alive HTTP/1.1 client (pre-encoded request, status and Content-Length read): it shares the
machine with nginx and openmtd, and http.client's header parsing alone added about 1 ms to
nginx's own p99 here.

Revocation: while a client polls through nginx as fast as it can, the device reports a High
detection (a check-in to openmtd, served by any worker); the time from sending that check-in
to the first 403 is the revocation time (the check-in's own processing included), and the time
until every answer is 403 (no 200 after it for 0.3 s) is reported too. Resolving the
alert and the time to the first 200 again is measured too. With several workers the decision
and the check-in usually land in different processes, so this includes the cross-process
invalidation (each process polls the access counter every 0.1 s).

Goals (issue 8): p99 <= 5 ms at 500 requests/s, revocation <= 1 s.

    python bench/forward_auth.py                  # 3 runs of 20 s at 500 req/s, 5 revocations
    python bench/forward_auth.py --quick --json   # 1 run of 6 s, 3 revocations, JSON on stdout
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from checkin import admin_token, free_port, openmtd_server, pct  # noqa: E402  (bench helpers)
from nginxrun import nginx, wait_listening  # noqa: E402  (the same nginx runner as the e2e test)
from openmtd.server.access.nginx import NginxSite, render_server  # noqa: E402


def call(
    port: int, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    data = None if body is None else json.dumps(body).encode()
    conn.request(
        method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})}
    )
    r = conn.getresponse()
    raw = r.read()
    conn.close()
    return r.status, json.loads(raw) if raw else None


class Device:
    def __init__(self, port: int, admin: str) -> None:
        self.port = port
        self.admin = {"Authorization": f"Bearer {admin}"}
        status, token = call(port, "POST", "/api/onboarding/tokens", {"name": "bench"}, self.admin)
        assert status == 201, token
        status, enrolled = call(
            port,
            "POST",
            "/api/agent/v1/enroll",
            {
                "onboarding_token": token["token"],
                "platform": "android",
                "scenario": "android-work-profile",
                "hardware_id": uuid.uuid4().hex,
                "device": {"model": "Pixel 8", "os_version": "14"},
            },
        )
        assert status == 201, enrolled
        self.id = enrolled["device_id"]
        self.auth = {"Authorization": f"Bearer {enrolled['device_credential']}"}
        self.checkin()
        status, issued = call(
            port, "POST", f"/api/agent/v1/devices/{self.id}/access-token", None, self.auth
        )
        assert status == 201, issued
        self.token = issued["token"]

    def checkin(self, detections: list[dict[str, Any]] | None = None) -> None:
        body = {
            "report_id": uuid.uuid4().hex,
            "collected_at": datetime.now(UTC).isoformat(),
            "facts": {
                "platform": "android",
                "scenario": "android-work-profile",
                "os_version": "14",
                "model": "Pixel 8",
            },
            "detections": detections or [],
        }
        status, answer = call(
            self.port, "POST", f"/api/agent/v1/devices/{self.id}/checkins", body, self.auth
        )
        assert status == 200, answer

    def raise_high(self, key: str) -> None:
        self.checkin(
            [{"category": "Jailbreak", "title": "Jailbroken", "severity": "High", "key": key}]
        )

    def resolve_all(self) -> None:
        status, page = call(
            self.port, "GET", f"/api/alerts?device_id={self.id}&active=true", None, self.admin
        )
        assert status == 200, page
        for alert in page["items"]:
            if alert["status"] == "Resolved":
                continue
            status, answer = call(
                self.port, "PATCH", f"/api/alerts/{alert['id']}", {"status": "Resolved"}, self.admin
            )
            assert status == 200, answer


# --- load -------------------------------------------------------------------------------------


class KeepAliveClient:
    """One keep-alive HTTP/1.1 connection that sends a fixed, pre-encoded GET and reads the
    answer's status line, headers and Content-Length body: a load generator's share of the
    machine (two cores here, shared with nginx and openmtd) should be as small as it can be,
    and http.client parses every answer's headers with the email package."""

    def __init__(self, port: int, path: str, headers: dict[str, str]) -> None:
        lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        self.request = ("\r\n".join(lines) + "\r\n\r\n").encode()
        self.port = port
        self.sock = self._connect()
        self.buffer = b""

    def _connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def get(self) -> tuple[int, bytes]:
        """Send the request; the answer's status and its header block. Reconnects where the
        server ends a connection (nginx does after keepalive_requests, 1,000 by default)."""
        self.sock.sendall(self.request)
        while (end := self.buffer.find(b"\r\n\r\n")) < 0:
            self._fill()
        head, self.buffer = self.buffer[:end], self.buffer[end + 4 :]
        status = int(head[9:12])
        match = _CONTENT_LENGTH.search(head)
        if match is None:
            raise RuntimeError(f"an answer without Content-Length: {head[:200]!r}")
        length = int(match.group(1))
        while len(self.buffer) < length:
            self._fill()
        self.buffer = self.buffer[length:]
        if _CLOSE.search(head):
            self.sock.close()
            self.sock, self.buffer = self._connect(), b""
        return status, head

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise RuntimeError("the server closed the connection in the middle of an answer")
        self.buffer += chunk

    def close(self) -> None:
        self.sock.close()


_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)
_CLOSE = re.compile(rb"\r\nconnection:\s*close", re.IGNORECASE)


def open_loop(
    port: int,
    token: str,
    *,
    rate: float,
    seconds: float,
    threads: int,
    path: str = "/index.html",
) -> dict[str, Any]:
    """Requests at `rate` per second for `seconds`, spread over `threads` keep-alive
    connections; latency from each request's planned time. Returns the figures."""
    per_thread = rate / threads
    latencies: list[list[float]] = [[] for _ in range(threads)]
    statuses: list[dict[int, int]] = [{} for _ in range(threads)]
    start = time.perf_counter() + 0.2

    def worker(i: int) -> None:
        client = KeepAliveClient(port, path, {"X-OpenMTD-Device-Token": token})
        n = int(per_thread * seconds)
        for k in range(n):
            planned = start + (k + i / threads) / per_thread
            delay = planned - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            status, _head = client.get()
            latencies[i].append(time.perf_counter() - planned)
            statuses[i][status] = statuses[i].get(status, 0) + 1
        client.close()

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    values = [v * 1000 for part in latencies for v in part]
    merged: dict[int, int] = {}
    for part in statuses:
        for k, v in part.items():
            merged[k] = merged.get(k, 0) + v
    elapsed = seconds
    return {
        "requests": len(values),
        "rate": round(len(values) / elapsed, 1),
        "p50_ms": round(pct(values, 0.50), 3),
        "p99_ms": round(pct(values, 0.99), 3),
        "max_ms": round(max(values), 3),
        "statuses": {str(k): v for k, v in sorted(merged.items())},
    }


class Poller:
    """Polls through nginx as fast as one connection can, recording (time, status)."""

    def __init__(self, port: int, token: str) -> None:
        self.port, self.token = port, token
        self.seen: list[tuple[float, int]] = []
        self.reason = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Poller:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        headers = {"X-OpenMTD-Device-Token": self.token}
        while not self._stop.is_set():
            conn.request("GET", "/index.html", headers=headers)
            r = conn.getresponse()
            r.read()
            self.seen.append((time.perf_counter(), r.status))
            self.reason = r.getheader("X-OpenMTD-Reason") or ""

    def first(self, status: int, after: float, timeout: float = 10) -> float:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            for at, code in list(self.seen):
                if at >= after and code == status:
                    return at
            time.sleep(0.001)
        recent = sorted({code for _at, code in self.seen[-200:]})
        raise RuntimeError(f"no {status} within {timeout} s (recently {recent}: {self.reason})")

    def settled(self, status: int, after: float, quiet: float = 0.3, timeout: float = 10) -> float:
        """When every answer became `status`: the start of the unbroken run of `status`
        answers after `after` that has lasted `quiet` seconds (with several workers the first
        answer may come from the process that made the change, and another one may still
        answer the old way until its next counter poll)."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            seen = [(at, code) for at, code in list(self.seen) if at >= after]
            start: float | None = None
            for at, code in seen:
                start = (start if start is not None else at) if code == status else None
            if start is not None and seen[-1][0] - start >= quiet:
                return start
            time.sleep(0.005)
        raise RuntimeError(f"answers did not settle on {status} within {timeout} s")


def revocations(device: Device, nginx_port: int, count: int) -> dict[str, Any]:
    """Each round starts from settled 200s: a High alert, then resolving it. Measured from
    sending the change: the first answer that follows it, and when every answer does."""
    times: dict[str, list[float]] = {
        k: [] for k in ("revoke", "revoke_all", "revoke_after_commit", "restore", "restore_all")
    }
    with Poller(nginx_port, device.token) as poller:
        for i in range(count):
            poller.settled(200, time.perf_counter())
            sent = time.perf_counter()
            device.raise_high(f"jb-{i}")
            committed = time.perf_counter()
            denied = poller.first(403, sent)
            times["revoke"].append(denied - sent)
            times["revoke_after_commit"].append(max(0.0, denied - committed))
            times["revoke_all"].append(poller.settled(403, sent) - sent)
            sent = time.perf_counter()
            device.resolve_all()
            times["restore"].append(poller.first(200, sent) - sent)
            times["restore_all"].append(poller.settled(200, sent) - sent)
    figures: dict[str, Any] = {"revocations": count}
    for name, values in times.items():
        figures[f"{name}_ms_median"] = round(statistics.median(values) * 1000, 1)
        figures[f"{name}_ms_max"] = round(max(values) * 1000, 1)
    return figures


def nginx_sites(folder: Path, openmtd_port: int, static_port: int, auth: int, peer: int) -> str:
    site = folder / "www"
    site.mkdir(parents=True, exist_ok=True)
    (site / "index.html").write_text("<!doctype html><title>app</title>ok\n")
    upstream = f"http://127.0.0.1:{static_port}"
    via = "http://openmtd_keepalive"  # an upstream block with keepalive, as docs advise
    protected = render_server(NginxSite(f"127.0.0.1:{auth}", via, upstream))
    return f"""
upstream openmtd_keepalive {{ server 127.0.0.1:{openmtd_port}; keepalive 32; }}
server {{ listen 127.0.0.1:{static_port}; root {site}; }}
server {{
    listen 127.0.0.1:{peer};
    location / {{ proxy_pass {upstream}; }}
}}
{protected}"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one 6 s run, 3 revocations")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--workers", type=int, default=2, help="openmtd worker processes")
    parser.add_argument("--rate", type=float, default=500.0, help="requests per second")
    parser.add_argument("--threads", type=int, default=8, help="client connections")
    args = parser.parse_args()
    runs, seconds, count = (1, 6.0, 3) if args.quick else (3, 20.0, 5)

    folder = Path(tempfile.mkdtemp(prefix="openmtd-bench-access-"))
    folder.chmod(0o755)  # nginx's workers (user nobody) serve the static upstream from here
    with openmtd_server(args.backend, args.workers, folder / "data") as server:
        port = server.port
        device = Device(port, admin_token(server.env))
        static, auth, peer = free_port(), free_port(), free_port()
        with nginx(folder / "nginx", nginx_sites(folder, port, static, auth, peer), workers=1):
            for p in (static, auth, peer):
                wait_listening(p)
            # Warm both paths (the first decision reads the database, later ones the cache).
            open_loop(auth, device.token, rate=200, seconds=1, threads=2)
            open_loop(peer, device.token, rate=200, seconds=1, threads=2)
            checked, baseline = [], []
            for _ in range(runs):
                checked.append(
                    open_loop(
                        auth, device.token, rate=args.rate, seconds=seconds, threads=args.threads
                    )
                )
                baseline.append(
                    open_loop(
                        peer, device.token, rate=args.rate, seconds=seconds, threads=args.threads
                    )
                )
            revoked = revocations(device, auth, count)

    def median(rows: list[dict[str, Any]], key: str) -> float:
        return round(statistics.median(r[key] for r in rows), 3)

    figures = {
        "backend": args.backend,
        "workers": args.workers,
        "rate": args.rate,
        "seconds": seconds,
        "runs": runs,
        "with_check": {
            "p50_ms": median(checked, "p50_ms"),
            "p99_ms": median(checked, "p99_ms"),
            "max_ms": max(r["max_ms"] for r in checked),
            "achieved_rate": median(checked, "rate"),
            "statuses": checked[-1]["statuses"],
        },
        "peer_nginx_without_check": {
            "p50_ms": median(baseline, "p50_ms"),
            "p99_ms": median(baseline, "p99_ms"),
            "max_ms": max(r["max_ms"] for r in baseline),
            "achieved_rate": median(baseline, "rate"),
        },
        **revoked,
        "goals": {"p99_ms": 5.0, "revoke_ms": 1000.0},
    }
    figures["check_adds_p50_ms"] = round(
        figures["with_check"]["p50_ms"] - figures["peer_nginx_without_check"]["p50_ms"], 3
    )
    figures["p99_ratio_to_peer"] = round(
        figures["with_check"]["p99_ms"] / max(figures["peer_nginx_without_check"]["p99_ms"], 1e-6),
        2,
    )
    if args.json:
        print(json.dumps(figures))
        return
    w, b = figures["with_check"], figures["peer_nginx_without_check"]
    f = figures
    print(
        f"forward-auth through nginx ({args.backend}, {args.workers} workers, "
        f"{args.rate:.0f} req/s, {runs}x{seconds:.0f} s)"
    )
    print(
        f"  with the check      p50 {w['p50_ms']:.2f} ms  p99 {w['p99_ms']:.2f} ms  "
        f"max {w['max_ms']:.1f} ms  ({w['achieved_rate']:.0f} req/s)"
    )
    print(
        f"  nginx without it    p50 {b['p50_ms']:.2f} ms  p99 {b['p99_ms']:.2f} ms  "
        f"max {b['max_ms']:.1f} ms"
    )
    print(
        f"  the check adds      p50 {f['check_adds_p50_ms']:.2f} ms; "
        f"p99 ratio {f['p99_ratio_to_peer']}x"
    )
    print(
        f"  High alert -> 403   first: median {f['revoke_ms_median']:.0f} ms, "
        f"max {f['revoke_ms_max']:.0f} ms (after the check-in answered: "
        f"median {f['revoke_after_commit_ms_median']:.0f} ms); every answer: median "
        f"{f['revoke_all_ms_median']:.0f} ms, max {f['revoke_all_ms_max']:.0f} ms"
    )
    print(
        f"  resolved -> 200     first: median {f['restore_ms_median']:.0f} ms, "
        f"max {f['restore_ms_max']:.0f} ms; every answer: median "
        f"{f['restore_all_ms_median']:.0f} ms, max {f['restore_all_ms_max']:.0f} ms"
    )


if __name__ == "__main__":
    main()
