"""Vulnerability matching inside the server: the background re-match after a feed import, and
what the API and check-ins feel meanwhile.

Starts a real server (`openmtd serve`, SQLite in a temporary data dir or PostgreSQL in a fresh
schema), enrolls N simulated devices (80 apps each) and checks each in once, then:

1. **idle**: check-ins (unchanged facts) and device-vulnerability reads, for a baseline;
2. **during**: the feeds go in through `POST /api/vulns/imports` (the real SOFA v2 feed, CISA
   KEV, the real CVE JSON 5 / NVD / OSV records of shared/data, and a generated Android Security
   Bulletin OSV document in the real format), each answered at once, while the same requests
   go on and the server rebuilds its state and re-matches the fleet in the background;
3. **full_rematch**: `POST /api/vulns/rematch?all=true` matches every device again, timed by
   itself (`GET /api/vulns/rematch` gives the server's own figures), under the same load;
4. **changed**: check-ins where one app moved to another version (an incremental re-match of
   the device inside the check-in) against check-ins where nothing changed.

    python bench/vuln_rematch.py --devices 2000 --json
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent))

from checkin import (  # noqa: E402
    _checkin_body,
    _send,
    admin_token,
    device_bodies,
    make_token,
    openmtd_server,
    pct,
)
from vuln_match import Ids, android_osv  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def feed_documents(android_records: int, seed: int) -> list[tuple[str, bytes]]:
    docs = [
        ("sofa v2", (SHARED / "sofa" / "v2_ios_data_feed.json").read_bytes()),
        ("cisa kev", (SHARED / "cisa-kev" / "known_exploited_vulnerabilities.json").read_bytes()),
    ]
    for folder in ("cve-records/cve5", "cve-records/nvd-api-2.0", "osv-android"):
        docs.extend((p.name, p.read_bytes()) for p in sorted((SHARED / folder).glob("*.json")))
    generated = android_osv(random.Random(seed), Ids(), android_records)
    docs.append((f"generated ASB OSV ({android_records} records)", generated))
    return docs


class Load:
    """One client thread: check-ins of random devices and reads of their vulnerabilities."""

    def __init__(self, port: int, devices: list[dict[str, Any]], admin: str, seed: int) -> None:
        self.port = port
        self.devices = devices
        self.admin = {"Authorization": f"Bearer {admin}"}
        self.rnd = random.Random(seed)
        self.phase = "idle"
        self.latency: dict[str, dict[str, list[float]]] = {}
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        while not self._stop.is_set():
            d = self.rnd.choice(self.devices)
            auth = {"Authorization": f"Bearer {d['credential']}",
                    "Content-Type": "application/json"}  # fmt: skip
            status, body, dt = _send(
                conn, "POST", f"/api/agent/v1/devices/{d['id']}/checkins", _checkin_body(d), auth
            )
            self._record("checkin", status, body, dt)
            status, body, dt = _send(
                conn, "GET", f"/api/devices/{d['id']}/vulnerabilities", None, self.admin
            )
            self._record("device_vulns", status, body, dt)

    def _record(self, kind: str, status: int, body: bytes, dt: float) -> None:
        if status != 200:
            self.errors.append(f"{kind} {status}: {body[:200]!r}")
            return
        self.latency.setdefault(self.phase, {}).setdefault(kind, []).append(dt)


def _ms(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50_ms": round(statistics.median(values) * 1000, 2),
        "p99_ms": round(pct(values, 0.99) * 1000, 2),
    }


def run_backend(
    backend: str, *, devices: int, apps: int, records: int, seed: int
) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix=f"openmtd-vulnbench-{backend}-"))
    with openmtd_server(backend, 1, tmp) as server:
        port, env = server.port, server.env
        token = make_token(env)
        admin = admin_token(env)
        bodies = device_bodies(devices, apps, seed)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        json_h = {"Content-Type": "application/json"}
        t0 = time.perf_counter()
        for d in bodies:
            enroll = {"onboarding_token": token, "platform": d["platform"],
                      "scenario": d["scenario"], "hardware_id": d["hardware_id"],
                      "device": d["device"]}  # fmt: skip
            status, data, _ = _send(
                conn, "POST", "/api/agent/v1/enroll", json.dumps(enroll).encode(), json_h
            )
            assert status == 201, data
            enrolled = json.loads(data)
            d["id"], d["credential"] = enrolled["device_id"], enrolled["device_credential"]
            auth = {**json_h, "Authorization": f"Bearer {d['credential']}"}
            status, data, _ = _send(
                conn, "POST", f"/api/agent/v1/devices/{d['id']}/checkins", _checkin_body(d), auth
            )
            assert status == 200, data
        setup = time.perf_counter() - t0

        load = Load(port, bodies, admin, seed)
        load.start()
        time.sleep(10)  # idle baseline

        admin_h = {"Authorization": f"Bearer {admin}", "Content-Type": "application/octet-stream"}
        imports = []
        load.phase = "during"
        started = time.perf_counter()
        for name, data in feed_documents(records, seed):
            status, body, dt = _send(conn, "POST", "/api/vulns/imports?name=" + quote(name[:60]),
                                     data, admin_h)  # fmt: skip
            assert status == 201, body
            imports.append(dt)
        imported = time.perf_counter() - started
        status_doc: dict[str, Any] = {}
        while True:
            _, body, _ = _send(conn, "GET", "/api/vulns/rematch", None, admin_h)
            status_doc = json.loads(body)
            if status_doc["state"] in {"idle", "failed"} and status_doc["finished_at"]:
                behind = _send(conn, "GET", "/api/vulns/summary", None, admin_h)[1]
                if json.loads(behind)["rematch"]["state"] == "idle":
                    break
            time.sleep(0.5)
        rematched = time.perf_counter() - started

        # A full re-match of every device, timed by itself (what a changed mapping costs).
        # Devices that check in meanwhile match themselves: the job's `done` counts the rest.
        load.phase = "full_rematch"
        before = json.loads(_send(conn, "GET", "/api/vulns/rematch", None, admin_h)[1])
        _send(conn, "POST", "/api/vulns/rematch?all=true", None, admin_h)
        while True:
            time.sleep(0.5)
            full = json.loads(_send(conn, "GET", "/api/vulns/rematch", None, admin_h)[1])
            fresh = full["started_at"] != before["started_at"]
            if fresh and full["state"] in {"idle", "failed"} and full["finished_at"]:
                break
        load.phase = "after"
        time.sleep(5)
        load.stop()

        # Incremental: one app's version changes in the check-in.
        changed: list[float] = []
        same: list[float] = []
        rnd = random.Random(seed + 1)
        for d in rnd.sample(bodies, min(300, len(bodies))):
            auth = {**json_h, "Authorization": f"Bearer {d['credential']}"}
            path = f"/api/agent/v1/devices/{d['id']}/checkins"
            same.append(_send(conn, "POST", path, _checkin_body(d), auth)[2])
            if d["apps"]:
                app = d["apps"][rnd.randrange(len(d["apps"]))]
                app["version"] = app["version"] + ".1"
            changed.append(_send(conn, "POST", path, _checkin_body(d), auth)[2])

        summary = json.loads(_send(conn, "GET", "/api/vulns/summary", None, admin_h)[1])
        return {
            "backend": backend,
            "devices": devices,
            "apps_per_device": apps,
            "setup_seconds": round(setup, 1),
            "feed_documents": len(imports),
            "feed_records": summary["feed_records"],
            "import_seconds_total": round(imported, 2),
            "import_answer_p50_ms": round(statistics.median(imports) * 1000, 1),
            "import_answer_max_ms": round(max(imports) * 1000, 1),
            "import_to_fleet_matched_seconds": round(rematched, 2),
            "full_rematch": full,
            "full_rematch_devices_per_second": round(full["done"] / full["match_seconds"], 1),
            "vulnerabilities": summary["vulnerabilities"],
            "organisation_exposure": summary["exposure"],
            "latency": {
                phase: {kind: _ms(v) for kind, v in kinds.items()}
                for phase, kinds in load.latency.items()
            },
            "checkin_unchanged": _ms(same),
            "checkin_one_app_changed": _ms(changed),
            "errors": load.errors[:5],
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--apps", type=int, default=80)
    parser.add_argument("--android-records", type=int, default=4000)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    results = [
        run_backend(
            b, devices=args.devices, apps=args.apps, records=args.android_records, seed=args.seed
        )  # fmt: skip
        for b in backends
    ]
    print(json.dumps(results, indent=None if args.json else 2, default=str))


if __name__ == "__main__":
    main()
