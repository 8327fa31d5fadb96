"""Check-in throughput: N simulated devices enroll and check in over HTTP against `openmtd serve`.

Starts a real server (SQLite in a temporary data dir; PostgreSQL in a fresh schema of the local
server), creates an onboarding token, then drives the agent protocol from client processes:

1. enroll every device;
2. first check-in of every device with its full app inventory (80 apps by default);
3. steady-state check-ins (same inventory again: the common case, when nothing changed);
4. policy sync with the ETag of the last check-in (unchanged: answered 304).

Reports requests/s, p50/p99 latency per phase and the database size, for each backend.
The load generator runs on the same 2 cores as the server, so the figures are a floor.

    python bench/checkin.py                 # 10,000 devices, both backends
    python bench/checkin.py --quick --json  # 1,000 devices, one JSON object on stdout
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

PHASES = ("enroll", "first", "steady", "sync")
POSTGRES_BASE = os.environ.get(
    "OPENMTD_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(port: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("server did not become healthy")


@dataclass(frozen=True)
class Server:
    port: int
    env: dict[str, str]  # the server's OPENMTD_* environment (data dir, database URL)
    schema: str | None  # PostgreSQL: the schema made for this run


@contextmanager
def openmtd_server(backend: str, workers: int, folder: Path) -> Iterator[Server]:
    """`openmtd serve` with `workers` processes on a free loopback port, its data in `folder`
    (SQLite) or in a fresh PostgreSQL schema that is dropped afterwards; feeds not scheduled."""
    env = {**os.environ, "OPENMTD_DATA_DIR": str(folder), "OPENMTD_FEED_SCHEDULER": "false"}
    schema = None
    admin_engine = None
    if backend == "postgresql":
        from sqlalchemy import text

        from openmtd.store.db import make_engine

        schema = f"bench_{uuid.uuid4().hex[:8]}"
        admin_engine = make_engine(POSTGRES_BASE)
        with admin_engine.begin() as c:
            c.execute(text(f"CREATE SCHEMA {schema}"))
        env["OPENMTD_DATABASE_URL"] = f"{POSTGRES_BASE}?options=-csearch_path%3D{schema}"
    else:
        env.pop("OPENMTD_DATABASE_URL", None)
    port = free_port()
    command = [sys.executable, "-m", "openmtd.cli.main", "serve", "--host", "127.0.0.1",
               "--port", str(port), "--workers", str(workers), "--no-access-log"]  # fmt: skip
    server = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_healthy(port, server)
        yield Server(port, env, schema)
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        if admin_engine is not None:
            from sqlalchemy import text

            with admin_engine.begin() as c:
                c.execute(text(f"DROP SCHEMA {schema} CASCADE"))
            admin_engine.dispose()


def admin_token(env: dict[str, str]) -> str:
    """An admin API token, made directly in the store (as `users create-admin` would)."""
    from openmtd.config import Settings
    from openmtd.domain.enums import Role
    from openmtd.server.security import create_api_token
    from openmtd.server.users.service import create_user
    from openmtd.store.db import make_engine, make_session_factory, transaction

    settings = Settings(
        data_dir=Path(env["OPENMTD_DATA_DIR"]), database_url=env.get("OPENMTD_DATABASE_URL", "")
    )
    engine = make_engine(settings.resolved_database_url())
    now = datetime.now(UTC)
    try:
        with transaction(make_session_factory(engine)) as db:
            user = create_user(db, username="bench-admin", password="bench password 123",
                               role=Role.ADMIN, actor="bench", now=now)  # fmt: skip
            db.flush()
            _row, token = create_api_token(
                db, user, name="bench", role=Role.ADMIN, now=now, days=None
            )
    finally:
        engine.dispose()
    return token


def device_bodies(count: int, apps: int, seed: int) -> list[dict[str, Any]]:
    from openmtd.agent.collectors.simulated import simulate_fleet

    out = []
    for sim in simulate_fleet(
        count,
        seed=seed,
        today=date.today(),
        apps_per_device=apps,
        profiles=[
            "android-work-profile",
            "android-cobo",
            "ios-supervised",
            "ios-device-enrollment",
            "android-cope",
        ],
    ):
        f = sim.facts
        out.append(
            {
                "hardware_id": sim.hardware_id,
                "platform": f.platform.value,
                "scenario": f.scenario.value,
                "device": {
                    "model": f.model,
                    "manufacturer": f.manufacturer,
                    "os_version": f.os_version,
                    "security_patch_level": f.security_patch_level.isoformat()
                    if f.security_patch_level
                    else None,
                    "build": f.build,
                    "name": sim.name,
                },
                "facts": {
                    "platform": f.platform.value,
                    "scenario": f.scenario.value,
                    "os_version": f.os_version,
                    "model": f.model,
                    "manufacturer": f.manufacturer,
                    "build": f.build,
                    "security_patch_level": f.security_patch_level.isoformat()
                    if f.security_patch_level
                    else None,
                    "tags": list(f.tags),
                },
                "apps": [
                    {
                        "identifier": a.identifier,
                        "version": a.version,
                        "name": a.name,
                        "install_source": a.install_source.value,
                        "sha256": a.sha256,
                        "signer_sha256": a.signer_sha256,
                    }
                    for a in f.apps
                ],
            }
        )
    return out


def _send(
    conn: http.client.HTTPConnection,
    method: str,
    path: str,
    body: bytes | None,
    headers: dict[str, str],
) -> tuple[int, bytes, float]:
    """One request on a keep-alive connection; reconnects once if the server closed it."""
    t0 = time.perf_counter()
    for attempt in (1, 2):
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            break
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            conn.close()
            if attempt == 2:
                raise
            t0 = time.perf_counter()
    return resp.status, data, time.perf_counter() - t0


def _checkin_body(d: dict[str, Any]) -> bytes:
    return json.dumps(
        {
            "report_id": uuid.uuid4().hex,
            "collected_at": datetime.now(UTC).isoformat(),
            "facts": d["facts"],
            "apps": d["apps"],
        }
    ).encode()


def _worker(
    port: int,
    token: str,
    devices: list[dict[str, Any]],
    threads: int,
    per_connection: int,
    barrier: Any,
    out: Any,
) -> None:
    """One client process: enroll its devices, then check each in twice (first, steady).

    Every phase starts on a barrier shared by all client threads of all processes, and request
    bodies are serialized before it, so the timed loop only sends and receives.
    """
    results: dict[str, list[float]] = {p: [] for p in PHASES}
    errors: list[str] = []
    lock = threading.Lock()
    phase_ends: dict[str, list[float]] = {p: [] for p in PHASES}
    phase_starts: dict[str, float] = {}

    def run(chunk: list[dict[str, Any]]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        json_h = {"Content-Type": "application/json"}
        mine: list[tuple[str, str, dict[str, Any]]] = []
        etags: dict[str, str] = {}
        for phase in PHASES:
            requests: list[tuple[str, str, bytes | None, dict[str, str]]]
            if phase == "enroll":
                requests = [
                    (
                        "POST",
                        "/api/agent/v1/enroll",
                        json.dumps(
                            {
                                "onboarding_token": token,
                                "platform": d["platform"],
                                "scenario": d["scenario"],
                                "hardware_id": d["hardware_id"],
                                "device": d["device"],
                            }
                        ).encode(),
                        json_h,
                    )
                    for d in chunk
                ]
            elif phase == "sync":
                requests = [
                    (
                        "GET",
                        f"/api/agent/v1/devices/{device_id}/sync",
                        None,
                        {"Authorization": f"Bearer {cred}", "If-None-Match": etags[device_id]},
                    )
                    for device_id, cred, _d in mine
                ]
            else:
                requests = [
                    (
                        "POST",
                        f"/api/agent/v1/devices/{device_id}/checkins",
                        _checkin_body(d),
                        {**json_h, "Authorization": f"Bearer {cred}"},
                    )
                    for device_id, cred, d in mine
                ]
            barrier.wait()
            with lock:
                phase_starts.setdefault(phase, time.perf_counter())
            lat = []
            for n, ((method, path, body, headers), d) in enumerate(
                zip(requests, chunk, strict=False)
            ):
                if n % per_connection == 0:
                    # Devices do not share connections: a fresh one every few requests also
                    # lets the kernel spread connections over the server's workers.
                    conn.close()
                status, data, dt = _send(conn, method, path, body, headers)
                lat.append(dt)
                if phase == "enroll" and status == 201:
                    r = json.loads(data)
                    mine.append((r["device_id"], r["device_credential"], d))
                elif phase == "steady" and status == 200:
                    etags[path.split("/")[-2]] = json.loads(data)["sync_etag"]
                elif not (phase == "first" and status == 200 or phase == "sync" and status == 304):
                    errors.append(f"{phase} {status} {data[:200]!r}")
            with lock:
                results[phase].extend(lat)
                phase_ends[phase].append(time.perf_counter())

    chunks = [devices[i::threads] for i in range(threads)]
    ts = [threading.Thread(target=run, args=(c,)) for c in chunks]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    out.put(
        {
            "latencies": results,
            "errors": errors[:5],
            "error_count": len(errors),
            "wall": {k: max(v) - phase_starts[k] for k, v in phase_ends.items()},
        }
    )


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_backend(
    backend: str,
    *,
    devices: int,
    apps: int,
    procs: int,
    threads: int,
    workers: int,
    seed: int,
    per_connection: int,
) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix=f"openmtd-bench-{backend}-"))
    try:
        with openmtd_server(backend, workers, tmp) as server:
            port, env, schema = server.port, server.env, server.schema
            token = make_token(env)
            bodies = device_bodies(devices, apps, seed)
            parts = [bodies[i::procs] for i in range(procs)]
            spawn = mp.get_context("spawn")
            barrier = spawn.Barrier(procs * threads)
            queue = spawn.Queue()
            clients = [
                spawn.Process(
                    target=_worker, args=(port, token, p, threads, per_connection, barrier, queue)
                )
                for p in parts
            ]
            for c in clients:
                c.start()
            outs = [queue.get(timeout=3600) for _ in clients]
            for c in clients:
                c.join()
            lat: dict[str, list[float]] = {p: [] for p in PHASES}
            for o in outs:
                for k in lat:
                    lat[k].extend(o["latencies"][k])
            wall = {k: max(o["wall"][k] for o in outs) for k in lat}
            figures: dict[str, Any] = {
                "backend": backend,
                "devices": devices,
                "apps_per_device": apps,
                "server_workers": workers,
                "client_processes": procs,
                "client_threads": threads,
                "requests_per_connection": per_connection,
                "errors": sum(o["error_count"] for o in outs),
                "error_samples": [e for o in outs for e in o["errors"]][:5],
            }
            for phase, values in lat.items():
                figures[phase] = {
                    "per_second": round(len(values) / wall[phase], 1) if wall[phase] else 0,
                    "p50_ms": round(pct(values, 0.50) * 1000, 2),
                    "p99_ms": round(pct(values, 0.99) * 1000, 2),
                    "count": len(values),
                }
            figures["database_mb"] = round(database_bytes(backend, tmp, schema) / 1e6, 1)
            return figures
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def make_token(env: dict[str, str]) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "openmtd.cli.main", "tokens", "create", "--name", "bench", "--json"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return str(json.loads(out.stdout)["token"])


def database_bytes(backend: str, data_dir: Path, schema: str | None) -> int:
    if backend == "sqlite":
        return sum(p.stat().st_size for p in data_dir.glob("openmtd.db*"))
    from sqlalchemy import text

    from openmtd.store.db import make_engine

    with make_engine(POSTGRES_BASE).connect() as c:
        value = c.execute(
            text(
                "SELECT coalesce(sum(pg_total_relation_size(quote_ident(schemaname) || '.' || "
                "quote_ident(tablename))), 0) FROM pg_tables WHERE schemaname = :s"
            ),
            {"s": schema},
        ).scalar()
    return int(value or 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--apps", type=int, default=80)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument("--procs", type=int, default=2, help="client processes")
    parser.add_argument("--threads", type=int, default=4, help="connections per client process")
    parser.add_argument(
        "--per-connection",
        type=int,
        default=10,
        help="requests per keep-alive connection before a client opens a new one",
    )
    parser.add_argument("--runs", type=int, default=1, help="repeat and report the median run")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="1,000 devices: under a minute")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args()
    devices = 1000 if args.quick else args.devices
    report: dict[str, Any] = {
        "benchmark": "checkin",
        "date": date.today().isoformat(),
        "cpus": os.cpu_count(),
        "results": {},
    }
    for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
        runs = [
            run_backend(
                backend,
                devices=devices,
                apps=args.apps,
                procs=args.procs,
                threads=args.threads,
                workers=args.workers,
                seed=args.seed + i,
                per_connection=args.per_connection,
            )
            for i in range(args.runs)
        ]
        runs.sort(key=lambda r: r["steady"]["per_second"])
        median = runs[len(runs) // 2]
        median["runs"] = len(runs)
        median["steady_per_second_all_runs"] = [r["steady"]["per_second"] for r in runs]
        report["results"][backend] = median
        if not args.json:
            print_backend(median)
    res = report["results"]
    if "sqlite" in res and "postgresql" in res and res["postgresql"]["steady"]["per_second"]:
        report["sqlite_vs_postgresql_steady_ratio"] = round(
            res["sqlite"]["steady"]["per_second"] / res["postgresql"]["steady"]["per_second"], 2
        )
    if args.json:
        print(json.dumps(report))


def print_backend(r: dict[str, Any]) -> None:
    print(
        f"\n{r['backend']}: {r['devices']} devices x {r['apps_per_device']} apps, "
        f"{r['server_workers']} server workers, {r['client_processes']}x"
        f"{r['client_threads']} client connections, errors {r['errors']}"
    )
    for phase in PHASES:
        p = r[phase]
        print(
            f"  {phase:7s} {p['per_second']:8.1f}/s  p50 {p['p50_ms']:7.2f} ms  "
            f"p99 {p['p99_ms']:7.2f} ms  (n={p['count']})"
        )
    print(f"  database {r['database_mb']} MB")
    if r["error_samples"]:
        print("  errors:", *r["error_samples"], sep="\n    ")


if __name__ == "__main__":
    main()
