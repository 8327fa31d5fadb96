"""DoH throughput: devices resolve through the real server's DNS-over-HTTPS endpoint.

Starts a real server (uvicorn, SQLite in a temporary data dir, N workers) with a few thousand
Block indicators and a fake upstream resolver in its own process (tests/dnsfake.py, every
name resolves), enrolls devices and issues each a DoH token through the API, then drives
RFC 8484 queries from an asynchronous loopback client (httpx, HTTP/1.1 keep-alive, C
connections per client process) with a mix of

* blocked names (subdomains of listed domains: answered by the engine, no upstream; each new
  device and domain also records a detection, at most once a minute),
* cached allowed names (a small popular set, warmed before the timed run),
* uncached names (unique every time: forwarded to the upstream, then cached).

Reports queries/s and p50/p99 latency overall and per kind. Plain HTTP on loopback (no TLS:
a TLS terminator would sit in front in production). The client runs on the same 2 cores as
the server, so the figures are a floor.

    python bench/doh.py                  # 60,000 queries
    python bench/doh.py --quick --json   # 12,000 queries, one JSON object on stdout
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing as mp
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from checkin import free_port, wait_healthy  # the same server helpers as the check-in bench

ROOT = Path(__file__).resolve().parents[1]
KINDS = ("blocked", "cached", "uncached")


# -- the server process -------------------------------------------------------------------


def app_factory() -> Any:
    """uvicorn's factory in each worker."""
    from openmtd.config import Settings
    from openmtd.server.app import create_app

    return create_app(Settings())


def serve(port: int, workers: int) -> None:
    import uvicorn

    uvicorn.run(
        "doh:app_factory",
        factory=True,
        app_dir=str(Path(__file__).parent),
        host="127.0.0.1",
        port=port,
        workers=workers,
        access_log=False,
        log_level="warning",
    )


def seed_store(database_url: str, indicators: list[str]) -> str:
    """Migrate, import the indicators and create an admin API token directly in the store
    (before the server runs); returns the token."""
    from openmtd.domain.enums import Role
    from openmtd.domain.web import IndicatorAction
    from openmtd.intel.web_feeds import FeedFormat
    from openmtd.server.context import utc_now
    from openmtd.server.security import create_api_token
    from openmtd.server.users.service import create_user
    from openmtd.server.web import indicators as custom
    from openmtd.store.db import make_engine, make_session_factory, migrate

    engine = make_engine(database_url)
    migrate(engine)
    with make_session_factory(engine).begin() as db:
        outcome = custom.import_document(
            db,
            text="\n".join(indicators),
            fmt=FeedFormat.DOMAINS,
            defaults=custom.import_defaults(
                action=IndicatorAction.BLOCK, title="bench phishing", category="Phishing"
            ),
            actor="bench",
            now=utc_now(),
        )
        assert outcome.created == len(indicators), outcome
        user = create_user(
            db,
            username="bench",
            password="bench password!",
            role=Role.ADMIN,
            actor="bench",
            now=utc_now(),
        )
        db.flush()
        _row, token = create_api_token(
            db, user, name="bench", role=Role.ADMIN, now=utc_now(), days=1
        )
    engine.dispose()
    return token


def listed_domains(count: int) -> list[str]:
    rng = random.Random(7)
    return [f"phish{i}-{rng.randrange(10**6)}.bench-bad.example" for i in range(count)]


def seed_api(port: int, admin: str, *, devices: int) -> list[str]:
    """Devices through the API, each with a DoH token; returns their DoH paths."""
    import httpx

    headers = {"Authorization": f"Bearer {admin}"}
    paths = []
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=120) as http:
        r = http.post("/api/onboarding/tokens", json={"name": "bench", "max_uses": devices})
        r.raise_for_status()
        onboarding = r.json()["token"]
        for n in range(devices):
            r = http.post(
                "/api/agent/v1/enroll",
                json={
                    "onboarding_token": onboarding,
                    "platform": "ios",
                    "scenario": "ios-supervised",
                    "hardware_id": f"bench-device-{n:06d}",
                    "device": {"model": "iPhone 15", "os_version": "18.3.2"},
                },
                headers={},
            )
            r.raise_for_status()
            device_id = r.json()["device_id"]
            r = http.post(f"/api/devices/{device_id}/dns-profile")
            r.raise_for_status()
            paths.append(r.json()["doh_url"].split("://", 1)[1].split("/", 1)[1])
    return ["/" + p for p in paths]


# -- the client ---------------------------------------------------------------------------


def plan_queries(
    count: int,
    *,
    paths: list[str],
    listed: list[str],
    mix: dict[str, float],
    seed: int,
    popular: list[str],
    blocked_domains: int,
) -> list[tuple[str, str, str]]:
    """(kind, path, name) for every query, shuffled."""
    rng = random.Random(seed)
    hot_listed = listed[:blocked_domains]
    out = []
    for n in range(count):
        roll = rng.random()
        if roll < mix["blocked"]:
            kind, name = "blocked", f"www{rng.randrange(3)}.{rng.choice(hot_listed)}"
        elif roll < mix["blocked"] + mix["cached"]:
            kind, name = "cached", rng.choice(popular)
        else:
            kind, name = "uncached", f"u{seed}-{n}-{rng.randrange(10**9)}.bench-new.example"
        out.append((kind, rng.choice(paths), name))
    return out


def _request(method: str, path: str, name: str) -> tuple[str, bytes | None]:
    import dns.message

    wire = dns.message.make_query(name, "A", id=0).to_wire()
    if method == "get":
        return f"{path}?dns={base64.urlsafe_b64encode(wire).rstrip(b'=').decode()}", None
    return path, wire


Drive = tuple[dict[str, list[float]], int, float, list[str]]


async def _drive(
    port: int, plan: list[tuple[str, str, str]], connections: int, method: str, client: str
) -> Drive:
    requests = [(kind, *_request(method, path, name)) for kind, path, name in plan]
    if client == "httpx":
        return await _drive_httpx(port, requests, connections)
    return await _drive_raw(port, requests, connections)


async def _drive_httpx(
    port: int, requests: list[tuple[str, str, bytes | None]], connections: int
) -> Drive:
    """httpx.AsyncClient, HTTP/1.1 keep-alive: the usual Python client (about 2 ms of CPU per
    request on the CI machine, so it cannot load the server by itself)."""
    import httpx

    latencies: dict[str, list[float]] = {k: [] for k in KINDS}
    errors: list[str] = []
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    headers = {"Accept": "application/dns-message", "Content-Type": "application/dns-message"}
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=30, headers=headers
    ) as client:
        queue = iter(requests)

        async def worker() -> None:
            for kind, url, body in queue:
                t0 = time.perf_counter()
                try:
                    if body is None:
                        r = await client.get(url)
                    else:
                        r = await client.post(url, content=body)
                except httpx.HTTPError as e:
                    errors.append(f"{kind}: {e!r}")
                    continue
                latencies[kind].append(time.perf_counter() - t0)
                if r.status_code != 200:
                    errors.append(f"{kind}: {r.status_code} {r.text[:100]}")

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        wall = time.perf_counter() - started
    return latencies, len(errors), wall, errors[:5]


async def _drive_raw(
    port: int, requests: list[tuple[str, str, bytes | None]], connections: int
) -> Drive:
    """A minimal HTTP/1.1 keep-alive client on asyncio streams: each request is one write of
    prebuilt bytes, each response is read by its Content-Length. It costs the load generator
    a few tens of microseconds per request, so the server, not the client, is measured."""
    latencies: dict[str, list[float]] = {k: [] for k in KINDS}
    errors: list[str] = []
    host = f"127.0.0.1:{port}"
    raw = []
    for kind, url, body in requests:
        head = f"{'GET' if body is None else 'POST'} {url} HTTP/1.1\r\nHost: {host}\r\n"
        head += "Accept: application/dns-message\r\n"
        if body is not None:
            head += f"Content-Type: application/dns-message\r\nContent-Length: {len(body)}\r\n"
        raw.append((kind, head.encode() + b"\r\n" + (body or b"")))
    queue = iter(raw)

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for kind, data in queue:
                t0 = time.perf_counter()
                writer.write(data)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                start = head.lower().index(b"content-length:") + 15
                length = int(head[start : head.index(b"\r\n", start)])
                body = await reader.readexactly(length)
                latencies[kind].append(time.perf_counter() - t0)
                if status != 200:
                    errors.append(f"{kind}: {status} {body[:100]!r}")
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    wall = time.perf_counter() - started
    return latencies, len(errors), wall, errors[:5]


def _client_process(
    port: int,
    plan: list[tuple[str, str, str]],
    connections: int,
    method: str,
    client: str,
    barrier: Any,
    out: Any,
) -> None:
    barrier.wait()
    latencies, errors, wall, samples = asyncio.run(_drive(port, plan, connections, method, client))
    out.put({"latencies": latencies, "errors": errors, "wall": wall, "samples": samples})


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# -- one run ------------------------------------------------------------------------------


def run_once(args: argparse.Namespace, queries: int, seed: int) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT / "tests"))
    from dnsfake import serve_forever

    spawn = mp.get_context("spawn")
    tmp = Path(tempfile.mkdtemp(prefix="openmtd-bench-doh-"))
    ready = spawn.Queue()
    fake = spawn.Process(target=serve_forever, args=({}, 3600, ["192.0.2.80"], ready), daemon=True)
    fake.start()
    upstream = ready.get(timeout=30)
    database_url = f"sqlite:///{tmp / 'openmtd.db'}"
    port = free_port()
    env = {
        **os.environ,
        "OPENMTD_DATA_DIR": str(tmp),
        "OPENMTD_DATABASE_URL": database_url,
        "OPENMTD_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "OPENMTD_DNS_UPSTREAM": upstream,
        "OPENMTD_MIGRATE_ON_START": "false",
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
    }
    listed = listed_domains(args.indicators)
    admin = seed_store(database_url, listed)
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--port", str(port), "--workers", str(args.workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=None if args.verbose else subprocess.DEVNULL,
    )
    try:
        wait_healthy(port, server)
        paths = seed_api(port, admin, devices=args.devices)
        popular = [f"site{i}.bench-ok.example" for i in range(args.popular)]
        mix = dict(zip(KINDS, (float(x) for x in args.mix.split(",")), strict=True))
        # Warm-up (not timed): every worker loads the index and learns the tokens; the popular
        # names enter the answer cache (every worker has its own).
        time.sleep(1.5)
        warm = [("cached", p, n) for p in paths for n in popular]
        warm += plan_queries(
            2000,
            paths=paths,
            listed=listed,
            mix=mix,
            seed=seed + 1000,
            popular=popular,
            blocked_domains=args.blocked_domains,
        )
        for _ in range(2):
            _l, errors, _w, samples = asyncio.run(
                _drive(port, warm, args.connections, args.method, args.client)
            )
            if errors:
                raise RuntimeError(f"warm-up errors: {samples}")
        plan = plan_queries(
            queries,
            paths=paths,
            listed=listed,
            mix=mix,
            seed=seed,
            popular=popular,
            blocked_domains=args.blocked_domains,
        )
        parts = [plan[i :: args.client_procs] for i in range(args.client_procs)]
        barrier = spawn.Barrier(args.client_procs)
        queue = spawn.Queue()
        clients = [
            spawn.Process(
                target=_client_process,
                args=(port, part, args.connections, args.method, args.client, barrier, queue),
            )
            for part in parts
        ]
        for c in clients:
            c.start()
        outs = [queue.get(timeout=3600) for _ in clients]
        for c in clients:
            c.join()
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        fake.terminate()
        fake.join(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)
    latencies: dict[str, list[float]] = {k: [] for k in KINDS}
    for o in outs:
        for k in KINDS:
            latencies[k].extend(o["latencies"][k])
    every = [v for k in KINDS for v in latencies[k]]
    wall = max(o["wall"] for o in outs)
    figures: dict[str, Any] = {
        "queries": len(every),
        "per_second": round(len(every) / wall, 1),
        "p50_ms": round(pct(every, 0.5) * 1000, 2),
        "p99_ms": round(pct(every, 0.99) * 1000, 2),
        "errors": sum(o["errors"] for o in outs),
        "error_samples": [s for o in outs for s in o["samples"]][:5],
    }
    for k in KINDS:
        figures[k] = {
            "count": len(latencies[k]),
            "p50_ms": round(pct(latencies[k], 0.5) * 1000, 2),
            "p99_ms": round(pct(latencies[k], 0.99) * 1000, 2),
        }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--queries", type=int, default=60_000)
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument("--client-procs", type=int, default=1, help="client processes")
    parser.add_argument("--connections", type=int, default=16, help="per client process")
    parser.add_argument("--devices", type=int, default=20)
    parser.add_argument("--indicators", type=int, default=5000)
    parser.add_argument("--popular", type=int, default=200, help="cached allowed names")
    parser.add_argument(
        "--blocked-domains", type=int, default=10, help="listed domains the devices hit"
    )
    parser.add_argument(
        "--mix", default="0.2,0.7,0.1", help="fractions of blocked,cached,uncached queries"
    )
    parser.add_argument("--method", choices=("post", "get"), default="post")
    parser.add_argument(
        "--client",
        choices=("raw", "httpx"),
        default="raw",
        help="load generator: a minimal asyncio HTTP/1.1 client, or httpx.AsyncClient",
    )
    parser.add_argument("--runs", type=int, default=1, help="repeat and report the median run")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="12,000 queries: under a minute")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument("--verbose", action="store_true", help="show the server's log")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.port, args.workers)
        return
    queries = 12_000 if args.quick else args.queries
    runs = [run_once(args, queries, args.seed + i) for i in range(args.runs)]
    runs.sort(key=lambda r: r["per_second"])
    median = runs[len(runs) // 2]
    report: dict[str, Any] = {
        "benchmark": "doh",
        "date": date.today().isoformat(),
        "cpus": os.cpu_count(),
        "server_workers": args.workers,
        "client_processes": args.client_procs,
        "connections_per_client": args.connections,
        "method": args.method,
        "client": args.client,
        "mix": args.mix,
        "devices": args.devices,
        "indicators": args.indicators,
        "runs": len(runs),
        "per_second_all_runs": [r["per_second"] for r in runs],
        **median,
    }
    if args.json:
        print(json.dumps(report))
        return
    print(
        f"DoH {args.method.upper()}: {report['queries']} queries, {args.workers} server workers, "
        f"{args.client_procs}x{args.connections} connections, {args.devices} devices, "
        f"{args.indicators} indicators, errors {report['errors']}"
    )
    print(
        f"  all       {report['per_second']:8.1f} q/s  p50 {report['p50_ms']:6.2f} ms  "
        f"p99 {report['p99_ms']:6.2f} ms"
    )
    for k in KINDS:
        f = report[k]
        print(
            f"  {k:9s} n={f['count']:<7d}        p50 {f['p50_ms']:6.2f} ms  "
            f"p99 {f['p99_ms']:6.2f} ms"
        )
    if report["error_samples"]:
        print("  errors:", *report["error_samples"], sep="\n    ")


if __name__ == "__main__":
    main()
