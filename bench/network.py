"""Network protection throughput on one core: TLS chain checks (and, with --wifi, Wi-Fi checks).

Everything runs in this one process, pinned to one CPU with ``os.sched_setaffinity`` where the
platform has it (the figures are per core). Certificates are generated before a measurement
starts; only checking is timed. Each figure is the median of several runs (5, or 3 with
--quick), each run checking a few hundred to a few thousand chains; garbage collection stays
on, as in a server. The loops take turns, one run each per round, so that the machine's load
touches them alike; each figure is given per wall-clock second and per second of this
thread's CPU time, with the best run beside the median.

``check_tls_chain`` (parse the DER chain, build the path and verify it with cryptography's
web-PKI verifier, check the pins, judge the admin's trusted CA list, summarise the
certificates, make the findings) on chains made here with cryptography:

- trusted: a 3-certificate chain (leaf for canary.test, intermediate, root), EC P-256 and
  RSA-2048, the test root passed as the store; 50 different leaves under one intermediate.
  The engine remembers the parsed, summarised intermediates of verified paths, so this is
  measured steady (the memo warm: every device checks the same canaries) and cold (the memo
  emptied before each check);
- intercepted: a pinned canary (the real root's key pinned) answered by a mitmproxy-like
  interceptor whose root the store trusts (leaf + interceptor root, as mitmproxy sends them);
  findings: one unexpected_issuer (Medium);
- for reference, not goals: the same chain checked against the certifi store (refused) and
  accepted through the admin's trusted CA list (two verifications), and an expired leaf from
  an unknown issuer (the verifier asked twice to name both problems).

Peer: a plain cryptography loop over the same DER chains (``load_der_x509_certificate`` of each
certificate, ``PolicyBuilder().store(...).time(...).build_server_verifier(DNSName)`` and
``verify``), with the same Store object: what our layer adds on top is the difference.

Goal (network protection issue): >= 2,000 chain validations/s on one core, for the trusted
3-certificate chain and for the interception case.

    python bench/network.py              # 5 runs per figure (about 30 s)
    python bench/network.py --quick      # 3 shorter runs
    python bench/network.py --json       # one JSON object on stdout
    python bench/network.py --profile    # also cProfile our checks
    python bench/network.py --wifi       # also Wi-Fi evaluations/s (engines.network.wifi)
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import importlib
import io
import json
import os
import platform
import pstats
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import certifi
import cryptography
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from openmtd.domain.network_certs import CanaryConfig, CertVerdict
from openmtd.engines.network import certs
from openmtd.engines.network.certs import TrustStore, check_tls_chain, platform_store

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
HOST = "canary.test"
GOAL_PER_S = 2000.0
LEAVES = 50

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


# --- measuring ----------------------------------------------------------------------------------


def pin_to_one_cpu() -> int | None:
    """Pin this process to one CPU (the highest-numbered it may use); None where unsupported."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpu = max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


@dataclass(frozen=True)
class Figure:
    """Items per second over several runs: per wall-clock second, and per second of this
    thread's CPU time (what one core does when other work shares it)."""

    items_per_run: int
    rates: tuple[float, ...]
    cpu_rates: tuple[float, ...]

    @property
    def per_s(self) -> float:
        return statistics.median(self.rates)

    @property
    def per_cpu_s(self) -> float:
        return statistics.median(self.cpu_rates)

    def as_dict(self) -> dict[str, Any]:
        return {
            "per_s": round(self.per_s, 1),
            "us_per_item": round(1e6 / self.per_s, 1),
            "per_cpu_s": round(self.per_cpu_s, 1),
            "cpu_us_per_item": round(1e6 / self.per_cpu_s, 1),
            "best_run_per_cpu_s": round(max(self.cpu_rates), 1),
            "items_per_run": self.items_per_run,
            "runs_per_s": [round(r, 1) for r in self.rates],
            "runs_per_cpu_s": [round(r, 1) for r in self.cpu_rates],
        }


def measure_all(loops: dict[str, Callable[[], int]], runs: int) -> dict[str, Figure]:
    """Median throughput of each loop (a loop checks a batch and returns its size); the loops
    take turns, one run each per round, after one warm-up round that is not counted."""
    for loop in loops.values():
        loop()
    rates: dict[str, list[float]] = {name: [] for name in loops}
    cpu_rates: dict[str, list[float]] = {name: [] for name in loops}
    counts = dict.fromkeys(loops, 0)
    for _ in range(runs):
        for name, loop in loops.items():
            start, cpu_start = time.perf_counter(), time.thread_time()
            counts[name] = loop()
            cpu = time.thread_time() - cpu_start
            rates[name].append(counts[name] / (time.perf_counter() - start))
            cpu_rates[name].append(counts[name] / max(cpu, 1e-9))
    return {
        name: Figure(counts[name], tuple(rates[name]), tuple(cpu_rates[name])) for name in loops
    }


def profile(label: str, loop: Callable[[], int], lines: int = 14) -> str:
    """cProfile one batch; the functions that take the most own time."""
    profiler = cProfile.Profile()
    profiler.enable()
    count = loop()
    profiler.disable()
    out = io.StringIO()
    out.write(f"\n--- cProfile: {label} ({count} checks) ---\n")
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(lines)
    return out.getvalue()


# --- certificates -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Issued:
    cert: x509.Certificate
    key: PrivateKey

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def sha1(self) -> str:
        return self.cert.fingerprint(hashes.SHA1()).hex()

    @property
    def spki_sha256_hex(self) -> str:
        spki = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        digest = hashes.Hash(hashes.SHA256())
        digest.update(spki)
        return digest.finalize().hex()


def new_key(kind: str) -> PrivateKey:
    if kind == "rsa":
        return rsa.generate_private_key(65537, 2048)
    return ec.generate_private_key(ec.SECP256R1())


def issue(
    subject: str,
    issuer: Issued | None,
    key: PrivateKey,
    *,
    ca: bool,
    not_after: datetime = NOW + timedelta(days=90),
) -> Issued:
    """A certificate shaped as a public CA's (issuer None: self-signed)."""
    issuer_key = issuer.key if issuer else key
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.cert.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=30))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), False
        )
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )
    if not ca:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False
        ).add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST)]), False)
    return Issued(builder.sign(issuer_key, hashes.SHA256()), key)


@dataclass(frozen=True)
class Pki:
    root: Issued
    intermediate: Issued
    chains: list[list[bytes]]  # leaf, intermediate, root

    @classmethod
    def make(cls, kind: str, leaves: int) -> Pki:
        root = issue(f"Bench {kind.upper()} Root", None, new_key(kind), ca=True)
        intermediate = issue(f"Bench {kind.upper()} Issuing CA", root, new_key(kind), ca=True)
        chains = [
            [issue(HOST, intermediate, new_key(kind), ca=False).der, intermediate.der, root.der]
            for _ in range(leaves)
        ]
        return cls(root, intermediate, chains)


# --- cases --------------------------------------------------------------------------------------


@dataclass
class Case:
    label: str
    chains: list[list[bytes]]
    canary: CanaryConfig
    store: TrustStore
    expected: CertVerdict
    trusted_cas: frozenset[str] = frozenset()
    repeat: int = 1
    cold: bool = False  # empty the engine's memo of CA facts before each check
    goal: bool = False

    def loop(self) -> int:
        canary, store, trusted, cold = self.canary, self.store, self.trusted_cas, self.cold
        memo = certs._CA_MEMO
        for _ in range(self.repeat):
            for chain in self.chains:
                if cold:
                    memo.clear()
                check_tls_chain(chain, canary, now=NOW, trusted_cas=trusted, store=store)
        return self.repeat * len(self.chains)

    def check(self) -> str:
        """The verdict every chain gets (asserted) and the finding codes."""
        codes: set[str] = set()
        for chain in self.chains:
            result = check_tls_chain(
                chain, self.canary, now=NOW, trusted_cas=self.trusted_cas, store=self.store
            )
            assert result.verdict is self.expected, f"{self.label}: {result.reason}"
            codes.update(f.code.value for f in result.findings)
        return ", ".join(sorted(codes)) or "none"


def peer_loop(chains: Sequence[list[bytes]], store: TrustStore, repeat: int) -> Callable[[], int]:
    """cryptography alone: parse each DER, build the verifier, verify (exceptions caught)."""
    subject = x509.DNSName(HOST)
    anchors = store.store

    def loop() -> int:
        for _ in range(repeat):
            for chain in chains:
                parsed = [x509.load_der_x509_certificate(der) for der in chain]
                verifier = (
                    verification.PolicyBuilder()
                    .store(anchors)
                    .time(NOW)
                    .build_server_verifier(subject)
                )
                with contextlib.suppress(verification.VerificationError):
                    verifier.verify(parsed[0], parsed[1:])
        return repeat * len(chains)

    return loop


def tls_cases(scale: float) -> tuple[list[Case], dict[str, Callable[[], int]]]:
    """Our cases and, by case label, the peer's loop over the same chains."""

    def repeat(full: int) -> int:
        return max(1, int(full * scale))

    ec_pki, rsa_pki = Pki.make("ec", LEAVES), Pki.make("rsa", LEAVES)
    interceptor = issue("mitmproxy", None, new_key("ec"), ca=True)
    intercepted = [
        [issue(HOST, interceptor, new_key("ec"), ca=False).der, interceptor.der]
        for _ in range(LEAVES)
    ]
    pinned = CanaryConfig(HOST, 443, (ec_pki.root.spki_sha256_hex,))
    unpinned = CanaryConfig(HOST)
    ec_store, rsa_store = TrustStore([ec_pki.root.cert]), TrustStore([rsa_pki.root.cert])
    mitm_store = TrustStore([ec_pki.root.cert, interceptor.cert])
    expired_unknown = [
        [
            issue(HOST, interceptor, new_key("ec"), ca=False, not_after=NOW - timedelta(1)).der,
            interceptor.der,
        ]
        for _ in range(LEAVES)
    ]
    v = CertVerdict
    cases = [
        Case("trusted, EC P-256, 3 certificates, steady", ec_pki.chains, unpinned, ec_store,
             v.TRUSTED, repeat=repeat(40), goal=True),
        Case("trusted, EC P-256, 3 certificates, cold", ec_pki.chains, unpinned, ec_store,
             v.TRUSTED, repeat=repeat(40), cold=True, goal=True),
        Case("trusted, RSA-2048, 3 certificates, steady", rsa_pki.chains, unpinned, rsa_store,
             v.TRUSTED, repeat=repeat(40), goal=True),
        Case("trusted, EC P-256, pinned canary", ec_pki.chains, pinned, ec_store,
             v.TRUSTED, repeat=repeat(40), goal=True),
        Case("intercepted, pinned canary, interceptor root trusted", intercepted, pinned,
             mitm_store, v.INTERCEPTED, repeat=repeat(40), goal=True),
        Case("allowed by admin list, certifi store refuses", ec_pki.chains, unpinned,
             platform_store(), v.ALLOWED_BY_ADMIN, frozenset({ec_pki.root.sha1}),
             repeat=repeat(10)),
        Case("untrusted: expired leaf, unknown issuer", expired_unknown, unpinned, ec_store,
             v.UNTRUSTED, repeat=repeat(10)),
    ]  # fmt: skip
    peers = {
        cases[0].label: peer_loop(ec_pki.chains, ec_store, repeat(40)),
        cases[2].label: peer_loop(rsa_pki.chains, rsa_store, repeat(40)),
        cases[4].label: peer_loop(intercepted, mitm_store, repeat(40)),
        cases[5].label: peer_loop(ec_pki.chains, platform_store(), repeat(10)),
        cases[6].label: peer_loop(expired_unknown, ec_store, repeat(10)),
    }
    peers[cases[1].label] = peers[cases[0].label]
    peers[cases[3].label] = peers[cases[0].label]
    return cases, peers


# --- Wi-Fi --------------------------------------------------------------------------------------


def wifi_loops(scale: float) -> dict[str, Callable[[], int]] | str:
    """Loops over engines.network.wifi (read a check-in's observations, evaluate them against a
    policy with a corporate profile and a known-bad SSID), or why they cannot run."""
    try:
        wifi = importlib.import_module("openmtd.engines.network.wifi")
        network = importlib.import_module("openmtd.domain.network")
    except ImportError as e:
        return f"skipped: openmtd.engines.network.wifi cannot be imported ({e})"
    try:
        return _wifi_loops(wifi, network, scale)
    except (AttributeError, TypeError, ValueError) as e:  # the module's API is not the one known
        return f"skipped: openmtd.engines.network.wifi has another API ({type(e).__name__}: {e})"


def _wifi_loops(wifi: Any, network: Any, scale: float) -> dict[str, Callable[[], int]]:
    from openmtd.domain.device import NetworkObservation
    from openmtd.domain.enums import Platform

    policy = network.WifiPolicy(
        corporate_profiles=(
            network.CorporateNetworkProfile(
                ssid="CorpNet", allowed_bssids=frozenset({"0a:1b:2c:3d:4e:5f"})
            ),
        ),
        indicators=(network.WifiIndicator(network.WifiIndicatorType("ssid"), "FreeAirportWiFi"),),
    )
    when = NOW.isoformat()
    kinds = {
        "WPA2 home network": {"ssid": "Home", "bssid": "12:34:56:78:9a:bc", "security": "2"},
        "open network": {"ssid": "Cafe", "bssid": "12:34:56:78:9a:bd", "security": "0"},
        "evil twin of a corporate SSID": {
            "ssid": "CorpNet",
            "bssid": "66:77:88:99:aa:bb",
            "security": "2",
        },
    }
    repeat = max(50, int(1000 * scale))
    loops: dict[str, Callable[[], int]] = {}
    for label, attrs in kinds.items():
        observation = NetworkObservation(
            "wifi", tuple({**attrs, "observed_at": when, "gateway_ip": "10.0.0.1"}.items())
        )
        history = network.WifiHistory()

        def loop(observation: Any = observation, history: Any = history) -> int:
            for _ in range(repeat):
                seen, _problems = wifi.wifi_observations(
                    Platform.ANDROID, [observation], default_time=NOW
                )
                wifi.evaluate_wifi(seen, policy, history, NOW)
            return repeat

        loop()  # fail here, not in the measurement, if the API differs
        loops[f"wifi: {label}"] = loop
    return loops


# --- the run ------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from cryptography.hazmat.backends.openssl.backend import backend

    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        "cryptography": cryptography.__version__,
        "openssl": str(backend.openssl_version_text()),
        "certifi": certifi.__version__,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    runs = 3 if args.quick else 5
    scale = 0.3 if args.quick else 1.0
    cpu = pin_to_one_cpu()
    host = machine()  # the load average at the start
    start = time.perf_counter()
    platform_store.cache_clear()
    store = platform_store()
    load_ms = (time.perf_counter() - start) * 1e3

    cases, peers = tls_cases(scale)
    findings = {case.label: case.check() for case in cases}
    loops: dict[str, Callable[[], int]] = {case.label: case.loop for case in cases}
    for label, peer in peers.items():
        loops.setdefault(f"peer: {label}", peer)
    wifi: dict[str, Callable[[], int]] | str = "not asked (--wifi)"
    if args.wifi:
        wifi = wifi_loops(scale)
        if not isinstance(wifi, str):
            loops.update(wifi)
    figures = measure_all(loops, runs)

    rows = [
        {
            "case": case.label,
            "findings": findings[case.label],
            "openmtd": figures[case.label].as_dict(),
            "peer": figures[f"peer: {case.label}"].as_dict(),
            "goal": case.goal,
        }
        for case in cases
    ]
    goals = {}
    for kind, key in (("wall clock", "per_s"), ("CPU time", "per_cpu_s")):
        worst = min(r["openmtd"][key] for r in rows if r["goal"])
        goals[f">= 2,000 chain validations/s, trusted and intercepted cases ({kind})"] = (
            worst >= GOAL_PER_S
        )
    result: dict[str, Any] = {
        "quick": args.quick,
        "runs": runs,
        "pinned_cpu": cpu,
        "machine": host,
        "now": NOW.isoformat(),
        "certifi_store": {"roots": len(store), "load_ms": round(load_ms, 1)},
        "tls": rows,
        "peer": "cryptography alone: load_der_x509_certificate, PolicyBuilder, verify",
        "goals": goals,
    }
    if isinstance(wifi, str):
        result["wifi"] = wifi
    else:
        result["wifi"] = {label: figures[label].as_dict() for label in wifi}
    result["profiles"] = [profile(c.label, c.loop) for c in cases] if args.profile else []
    result["load_average_at_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    return result


HEAD = (
    f"{'case':<54}{'wall/s':>8}{'us':>6}{'CPU/s':>8}{'best':>8}{'x goal':>7}"
    f"{'peer CPU/s':>11}{'ours/peer':>10}"
)


def print_report(r: dict[str, Any]) -> None:
    m = r["machine"]
    pinned = f"pinned to CPU {r['pinned_cpu']}" if r["pinned_cpu"] is not None else "not pinned"
    print(
        f"{m['cpu']}, {m['cpus']} CPUs, {pinned}; Python {m['python']}, cryptography "
        f"{m['cryptography']} ({m['openssl']}), certifi {m['certifi']}"
    )
    load = ", ".join(f"{x:.2f}" for x in m["load_average"] or [])
    print(f"medians of {r['runs']} runs; load average at start {load}")
    s = r["certifi_store"]
    print(f"certifi store: {s['roots']} roots, loaded in {s['load_ms']} ms (once per process)")
    print(
        "wall/s, us: median per wall-clock second; CPU/s: per second of this thread's CPU "
        "time; best: the best run's CPU/s;\nx goal: CPU median over 2,000/s; ours/peer: CPU "
        "medians"
    )
    print()
    print(f"check_tls_chain (now {r['now']}):")
    print(HEAD)
    for row in r["tls"]:
        o, p = row["openmtd"], row["peer"]
        mark = "" if row["goal"] else " *"
        print(
            f"{row['case'] + mark:<54}{o['per_s']:>8,.0f}{o['us_per_item']:>6.0f}"
            f"{o['per_cpu_s']:>8,.0f}{o['best_run_per_cpu_s']:>8,.0f}"
            f"{o['per_cpu_s'] / GOAL_PER_S:>7.2f}{p['per_cpu_s']:>11,.0f}"
            f"{o['per_cpu_s'] / p['per_cpu_s']:>10.2f}"
        )
    print("  * not a goal; peer: " + r["peer"])
    for row in r["tls"]:
        print(f"  findings, {row['case']}: {row['findings']}")
    print()
    if isinstance(r["wifi"], str):
        print(f"Wi-Fi: {r['wifi']}")
    else:
        print("Wi-Fi, one check-in's observation read and evaluated (evaluations/s):")
        for label, o in r["wifi"].items():
            print(f"  {label:<52}{o['per_s']:>8,.0f}/s wall{o['per_cpu_s']:>9,.0f}/s CPU")
    print()
    end_load = ", ".join(f"{x:.2f}" for x in r["load_average_at_end"] or [])
    print(f"load average at the end {end_load}")
    for goal, met in r["goals"].items():
        print(f"  {'met    ' if met else 'NOT MET'}  {goal}")
    for text in r["profiles"]:
        print(text)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="3 shorter runs per figure")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument("--profile", action="store_true", help="cProfile our checks")
    parser.add_argument("--wifi", action="store_true", help="also Wi-Fi evaluations/s")
    args = parser.parse_args()
    gc.collect()
    result = run(args)
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    print_report(result)


if __name__ == "__main__":
    main()
