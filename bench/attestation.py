"""Attestation verification throughput on one core: Android Key Attestation and Apple App Attest.

Everything runs in this one process, pinned to one CPU with ``os.sched_setaffinity`` where the
platform has it (the figures are per core). Evidence is generated before a measurement starts;
only verification is timed. Each figure is the median of several runs, each run verifying a
few hundred to a few thousand items; garbage collection stays on, as in a server. The loops
of a section take turns, one run each per round, so that the machine's load touches them
alike; each figure is given per wall-clock second and per second of this thread's CPU time,
with the best run's rate beside the median (on a shared machine the spread is wide).

The engine remembers CA signatures it has already verified (``x509chain._VERIFIED_PAIRS``:
a fleet's chains share a few intermediates and roots; per-device leaves are never kept), so
every verification is measured twice: cold (the memo emptied before each verification, every
signature checked: a server's first device under new intermediates) and steady (the memo
warm: what a server verifying many devices under the same intermediates sees). The goal is
judged on steady; cold is reported beside it.

Android Key Attestation, the full ``verify_key_attestation`` (parse the chain, walk it to a
pinned root, look every certificate up in the revocation list, decode the leaf's KeyDescription,
compare the challenge, judge the findings, build the outcome):

- Google's real sample TEE chains (EC and RSA leaves, 4 certificates each, from
  shared/data/android-key-attestation) against the bundled Google roots, at 2026-11-26 UTC,
  with Google's real status.json as the revocation list and the challenge read from the
  leaf's own KeyDescription; the app allow-lists are filled from that KeyDescription too, so
  the package and signer checks run. Every chain is checked to be accepted before timing.
  The parts of a verification (parse, walk, revocation, KeyDescription) are timed alone too;
- the same with a 10,005-entry revocation list (10,000 random serials plus the real five):
  the list is a dict keyed by the serial as an integer, so the cost must not grow;
- chains from the software test keystore (``AttestationCA``, an EC and an RSA-2048 CA), one
  fresh key and challenge per chain, anchored in the test CA's root.

Apple App Attest:

- ``verify_attestation`` on attestation objects from ``SoftwareAppAttest`` (a TEST CA shaped
  like Apple's: P-384 root and intermediate, P-256 credential certificates), each with its own
  key and challenge; cold checks the intermediate's P-384 signature every time;
- ``verify_assertion`` with a counter that rises on every assertion (the stored key's counter
  is updated after each accepted one, as a server does).

Peers, in the same run and on the same evidence:

- pyattest (``AppleConfig(key_id, app_id, production=True, root_ca=<test CA root>)``): its
  App Attest attestation verification (CBOR, chain validated by pyhanko-certvalidator, nonce,
  key id, App ID, counter, aaguid) and its assertion verification (signature only);
- for Android there is no maintained Python key attestation verifier on PyPI (pyattest's
  "google" verifier is SafetyNet's JWS), so the reference point is cryptography's RFC 5280
  verifier (``x509.verification``, CA extensions as in web PKI, leaf extensions permitted):
  chain only, no extension, no revocation. It checks the anchor's own validity, and Google's
  2016 root expired on 2026-05-24, so on the real chains it runs at 2026-01-01.

Goal (issue 5): >= 500 full Android key attestation verifications/s and >= 500 App Attest
(attestation) verifications/s on one core.

    python bench/attestation.py              # 7 runs per figure (under 2 minutes)
    python bench/attestation.py --quick      # 3 shorter runs (about 20 s)
    python bench/attestation.py --json       # one JSON object on stdout
    python bench/attestation.py --profile    # also cProfile each of our verifications
    python bench/attestation.py --no-peer    # without pyattest
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import hashlib
import io
import json
import os
import platform
import pstats
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import cryptography
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import verification

from openmtd.agent.attest.android_keystore import TEST_SIGNER_SHA256, AttestationCA
from openmtd.agent.attest.apple_app_attest import AppAttestCA, SoftwareAppAttest
from openmtd.engines.integrity import app_attest, x509chain
from openmtd.engines.integrity.app_attest import (
    AppAttestPolicy,
    AttestedKey,
    verify_assertion,
    verify_attestation,
)
from openmtd.engines.integrity.key_attestation import (
    KeyAttestationPolicy,
    verify_key_attestation,
)
from openmtd.engines.integrity.key_description import (
    KEY_DESCRIPTION_OID,
    KeyDescription,
    decode_key_description,
)
from openmtd.engines.integrity.revocation import RevocationList, parse_status_json
from openmtd.engines.integrity.roots import anchors_from_pem, google_key_attestation_anchors
from openmtd.engines.integrity.x509chain import load_der_chain, verify_chain

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "android-key-attestation"
if not DATA.is_dir():
    DATA = Path("/work/shared/data/android-key-attestation")
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)  # the 2016 root expired, the intermediates not
PEER_NOW_REAL_CHAINS = datetime(2026, 1, 1, tzinfo=UTC)  # while Google's 2016 root was valid
APP_ID = "ABCDE12345.com.openmtd.agent"
GOAL_PER_S = 500.0
EXTRA_REVOKED = 10_000
PYATTEST_OBJECTS = 100  # it takes about 30 ms per verification


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
    """Verifications per second over several runs: per wall-clock second, and per second of
    this thread's CPU time (what one core does when other work shares it)."""

    items_per_run: int
    rates: tuple[float, ...]
    cpu_rates: tuple[float, ...]

    @property
    def per_s(self) -> float:
        return statistics.median(self.rates)

    @property
    def per_cpu_s(self) -> float:
        return statistics.median(self.cpu_rates)

    @property
    def best_cpu_s(self) -> float:
        return max(self.cpu_rates)

    @property
    def us(self) -> float:
        return 1e6 / self.per_s

    def as_dict(self) -> dict[str, Any]:
        return {
            "per_s": round(self.per_s, 1),
            "us_per_verification": round(self.us, 1),
            "per_cpu_s": round(self.per_cpu_s, 1),
            "cpu_us_per_verification": round(1e6 / self.per_cpu_s, 1),
            "best_run_per_cpu_s": round(self.best_cpu_s, 1),
            "items_per_run": self.items_per_run,
            "runs_per_s": [round(r, 1) for r in self.rates],
            "runs_per_cpu_s": [round(r, 1) for r in self.cpu_rates],
        }


def measure_all(loops: dict[str, Callable[[], int]], runs: int) -> dict[str, Figure]:
    """Median throughput of each loop (a loop verifies a batch and returns its size).

    The loops take turns, one run each per round, so that a change in the machine's load
    during the measurement touches all of them alike. One warm-up round is not counted.
    """
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
    out.write(f"\n--- cProfile: {label} ({count} verifications) ---\n")
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(lines)
    return out.getvalue()


ENGINE_MEMOS = (
    (x509chain, "_VERIFIED_PAIRS"),  # CA signatures already verified (Android and Apple)
    (app_attest, "_KNOWN_UPPER_CHAINS"),  # App Attest intermediates (an earlier engine)
)


def engine_memos() -> list[str]:
    """The engine's private memos of verified signatures that this engine version has."""
    return [f"{m.__name__}.{name}" for m, name in ENGINE_MEMOS if hasattr(m, name)]


def clear_engine_memos() -> None:
    """Empty the engine's memos: the next verification is cold (every signature checked)."""
    for module, name in ENGINE_MEMOS:
        memo = getattr(module, name, None)
        if memo is not None:
            memo.clear()


# --- Android Key Attestation ---------------------------------------------------------------------


def real_chain(algorithm: str) -> list[bytes]:
    folder = DATA / "chains" / "der" / f"algorithm_{algorithm}_SecurityLevel_TEE"
    return [(folder / f"cert{i}.der").read_bytes() for i in range(4)]


def leaf_key_description(leaf_der: bytes) -> KeyDescription:
    leaf = x509.load_der_x509_certificate(leaf_der)
    extension = leaf.extensions.get_extension_for_oid(x509.ObjectIdentifier(KEY_DESCRIPTION_OID))
    value = extension.value
    assert isinstance(value, x509.UnrecognizedExtension)
    return decode_key_description(value.value)


def big_status_json(real: bytes, extra: int, seed: int = 5) -> bytes:
    """The real list plus ``extra`` random serials (hex, 8 to 16 bytes, as Google's are)."""
    document = json.loads(real)
    rnd = random.Random(seed)
    reasons = ["KEY_COMPROMISE", "SOFTWARE_FLAW", "UNSPECIFIED", "CA_COMPROMISE", "SUPERSEDED"]
    while len(document["entries"]) < 5 + extra:
        serial = rnd.getrandbits(8 * rnd.choice((8, 16))).to_bytes(16, "big").hex().lstrip("0")
        document["entries"].setdefault(
            serial, {"status": rnd.choice(["REVOKED", "SUSPENDED"]), "reason": rnd.choice(reasons)}
        )
    return json.dumps(document).encode()


@dataclass(frozen=True)
class AndroidCase:
    label: str
    chains: list[tuple[list[bytes], bytes]]  # (DER chain leaf first, challenge)
    policy: KeyAttestationPolicy
    repeat: int  # passes over ``chains`` per run
    cold: bool = False  # empty the engine's memo of verified CA signatures before each one

    def loop(self) -> int:
        policy, cold = self.policy, self.cold
        for _ in range(self.repeat):
            for chain, challenge in self.chains:
                if cold:
                    clear_engine_memos()
                verify_key_attestation(chain, challenge=challenge, policy=policy, now=NOW)
        return self.repeat * len(self.chains)

    def check_accepted(self) -> str:
        codes: set[str] = set()
        for chain, challenge in self.chains:
            outcome = verify_key_attestation(
                chain, challenge=challenge, policy=self.policy, now=NOW
            )
            assert outcome.accepted, f"{self.label}: {outcome.code}: {outcome.reason}"
            codes.update(f.rule_id for f in outcome.findings)
        return ", ".join(sorted(codes)) or "none"


def real_chain_case(algorithm: str, revocations: RevocationList, per_run: int) -> AndroidCase:
    chain = real_chain(algorithm)
    description = leaf_key_description(chain[0])
    policy = KeyAttestationPolicy(
        anchors=google_key_attestation_anchors(),
        revocations=revocations,
        allowed_packages=frozenset(name for name, _ in description.packages),
        allowed_signer_sha256=frozenset(description.signature_digests),
    )
    label = f"real Google TEE chain, {algorithm} ({len(revocations):,} revoked serials)"
    return AndroidCase(label, [(chain, description.challenge)], policy, per_run)


def software_chain_case(
    ec: bool, revocations: RevocationList, count: int, repeat: int
) -> AndroidCase:
    ca = AttestationCA.generate(ec=ec)
    chains = []
    for _ in range(count):
        challenge = os.urandom(32)
        chains.append((ca.attest(challenge, now=NOW), challenge))
    policy = KeyAttestationPolicy(
        anchors=anchors_from_pem(ca.root_pem()),
        revocations=revocations,
        allowed_packages=frozenset({"com.openmtd.agent"}),
        allowed_signer_sha256=frozenset({TEST_SIGNER_SHA256}),
    )
    kind = "EC P-256" if ec else "RSA-2048"
    return AndroidCase(f"software keystore, {kind} CA", chains, policy, repeat)


def peer_chain_only(
    chains: Sequence[list[bytes]], anchors: Sequence[x509.Certificate], when: datetime, repeat: int
) -> Callable[[], int]:
    """cryptography's RFC 5280 verifier over the same DER chains: parse, build and verify the
    path to the anchors. Chain only: no KeyDescription, no revocation, no challenge."""
    verifier = (
        verification.PolicyBuilder()
        .store(verification.Store(list(anchors)))
        .time(when)
        .extension_policies(
            ca_policy=verification.ExtensionPolicy.webpki_defaults_ca(),
            ee_policy=verification.ExtensionPolicy.permit_all(),
        )
        .build_client_verifier()
    )

    def verify_one(chain: list[bytes]) -> None:
        certs = [x509.load_der_x509_certificate(der) for der in chain]
        verifier.verify(certs[0], certs[1:])

    for chain in chains:
        verify_one(chain)  # raises if the peer does not accept it

    def loop() -> int:
        for _ in range(repeat):
            for chain in chains:
                verify_one(chain)
        return repeat * len(chains)

    return loop


def component_loops(case: AndroidCase) -> dict[str, Callable[[], int]]:
    """Parts of one verification, timed alone (where the time goes); each starts from the DER
    bytes like the full verification, so that certificate and key parsing are counted."""
    chain_der, _challenge = case.chains[0]
    anchors, revocations = case.policy.anchors, case.policy.revocations
    repeat = case.repeat
    serials = [c.serial_number for c in load_der_chain(chain_der)]
    leaf_der = chain_der[0]
    leaf_value = leaf_key_description_value(x509.load_der_x509_certificate(leaf_der))

    def parse() -> int:
        for _ in range(repeat):
            load_der_chain(chain_der)
        return repeat

    def parse_and_walk_cold() -> int:
        for _ in range(repeat):
            clear_engine_memos()
            verify_chain(load_der_chain(chain_der), anchors, NOW)
        return repeat

    def parse_and_walk_steady() -> int:
        for _ in range(repeat):
            verify_chain(load_der_chain(chain_der), anchors, NOW)
        return repeat

    def revocation() -> int:
        for _ in range(repeat):
            for serial in serials:
                revocations.lookup(serial)
        return repeat

    def decode() -> int:
        for _ in range(repeat):
            decode_key_description(leaf_value)
        return repeat

    return {
        "parse": parse,
        "parse + walk, cold": parse_and_walk_cold,
        "parse + walk, steady": parse_and_walk_steady,
        "revocation lookups": revocation,
        "decode KeyDescription": decode,
    }


def leaf_key_description_value(leaf: x509.Certificate) -> bytes:
    value = leaf.extensions.get_extension_for_oid(x509.ObjectIdentifier(KEY_DESCRIPTION_OID)).value
    assert isinstance(value, x509.UnrecognizedExtension)
    return value.value


def breakdown(full: Figure, parts: dict[str, Figure], state: str) -> dict[str, float]:
    """CPU microseconds per verification, from each loop's best run (the least disturbed by
    other work): parse, walk (signatures and validity), revocation, KeyDescription, and the
    rest of the full verification (extension scan, findings, facts, outcome)."""

    def us(f: Figure) -> float:
        return 1e6 / f.best_cpu_s

    parse, parse_walk = us(parts["parse"]), us(parts[f"parse + walk, {state}"])
    out = {
        "parse": parse,
        "walk": parse_walk - parse,
        "revocation": us(parts["revocation lookups"]),
        "KeyDescription": us(parts["decode KeyDescription"]),
    }
    out["rest"] = us(full) - sum(out.values())
    return {k: round(v, 1) for k, v in out.items()}


# --- Apple App Attest ----------------------------------------------------------------------------


@dataclass(frozen=True)
class AppAttestEvidence:
    ca: AppAttestCA
    now: datetime
    attestations: list[tuple[bytes, bytes, bytes]]  # (object, key id, challenge)
    keys: list[AttestedKey]
    assertions: list[tuple[int, bytes, bytes, bytes]]  # (key index, assertion, client data, chal.)
    policy: AppAttestPolicy


def app_attest_evidence(count: int, assertion_keys: int, per_key: int) -> AppAttestEvidence:
    now = datetime.now(UTC)  # pyattest validates at the wall clock, so the chain must be current
    ca = AppAttestCA.generate(now=now)
    device = SoftwareAppAttest(ca, APP_ID)
    attestations = []
    for _ in range(count):
        key_id = device.generate_key()
        challenge = os.urandom(32)
        attestations.append((device.attest_key(key_id, challenge, now=now), key_id, challenge))
    policy = AppAttestPolicy(anchors=ca.anchors(), app_ids=frozenset({APP_ID}))
    keys = []
    for obj, key_id, challenge in attestations[:assertion_keys]:
        outcome, key = verify_attestation(
            obj, key_id=key_id, challenge=challenge, policy=policy, now=now
        )
        assert outcome.accepted and key is not None, outcome.reason
        keys.append(key)
    assertions = []
    for _ in range(per_key):  # interleaved: every key's counter rises by one per round
        for index, key in enumerate(keys):
            challenge = os.urandom(16)
            assertion, client_data = device.assert_request(
                key.key_id, challenge, extra={"path": "/v1/checkin"}
            )
            assertions.append((index, assertion, client_data, challenge))
    return AppAttestEvidence(ca, now, attestations, keys, assertions, policy)


def attestation_loop(ev: AppAttestEvidence, *, cold: bool) -> Callable[[], int]:
    def loop() -> int:
        policy, now = ev.policy, ev.now
        for obj, key_id, challenge in ev.attestations:
            if cold:
                clear_engine_memos()
            verify_attestation(obj, key_id=key_id, challenge=challenge, policy=policy, now=now)
        return len(ev.attestations)

    return loop


def check_attestations(ev: AppAttestEvidence) -> None:
    for obj, key_id, challenge in ev.attestations:
        outcome, _ = verify_attestation(
            obj, key_id=key_id, challenge=challenge, policy=ev.policy, now=ev.now
        )
        assert outcome.accepted, outcome.reason


def first_attestation_us(ev: AppAttestEvidence) -> float:
    """One verification with the cache empty, as a server's first device sees it."""
    clear_engine_memos()
    obj, key_id, challenge = ev.attestations[0]
    start = time.perf_counter()
    outcome, _ = verify_attestation(
        obj, key_id=key_id, challenge=challenge, policy=ev.policy, now=ev.now
    )
    elapsed = time.perf_counter() - start
    assert outcome.accepted, outcome.reason
    return elapsed * 1e6


class AssertionRun:
    """Verifies every assertion in order, storing each accepted counter like a server."""

    def __init__(self, ev: AppAttestEvidence) -> None:
        self.ev = ev
        self.keys = list(ev.keys)

    def reset(self) -> None:
        self.keys = [replace(k, counter=0) for k in self.ev.keys]

    def loop(self) -> int:
        self.reset()
        keys = self.keys
        for index, assertion, client_data, challenge in self.ev.assertions:
            outcome, counter = verify_assertion(
                assertion, client_data=client_data, challenge=challenge, key=keys[index]
            )
            if counter is None:
                raise AssertionError(outcome.reason)
            keys[index] = replace(keys[index], counter=counter)
        return len(self.ev.assertions)


def pyattest_loops(
    ev: AppAttestEvidence,
) -> tuple[Callable[[], int], Callable[[], int]] | str:
    """pyattest's attestation and assertion verification on the same evidence, or why not."""
    try:
        from pyattest.assertion import Assertion  # type: ignore[import-untyped, import-not-found, unused-ignore]
        from pyattest.attestation import Attestation  # type: ignore[import-untyped, import-not-found, unused-ignore]
        from pyattest.configs.apple import AppleConfig  # type: ignore[import-untyped, import-not-found, unused-ignore]
    except ImportError as e:
        return f"pyattest is not installed ({e})"
    root_pem = ev.ca.root_pem()
    event_loop = asyncio.new_event_loop()

    async def attest_all() -> int:
        for obj, key_id, challenge in ev.attestations:
            config = AppleConfig(key_id=key_id, app_id=APP_ID, production=True, root_ca=root_pem)
            attestation = Attestation(obj, challenge, config)
            await attestation.verify()
        return len(ev.attestations)

    public_keys = [serialization.load_der_public_key(k.public_key_der) for k in ev.keys]
    assertion_config = AppleConfig(key_id=b"", app_id=APP_ID, production=True, root_ca=root_pem)

    def assert_all() -> int:
        for index, raw, client_data, _challenge in ev.assertions:
            expected_hash = hashlib.sha256(client_data).digest()
            Assertion(raw, expected_hash, public_keys[index], assertion_config).verify()
        return len(ev.assertions)

    def attest_loop() -> int:
        return event_loop.run_until_complete(attest_all())

    try:
        attest_loop()
        assert_all()
    except Exception as e:  # noqa: BLE001 - report why the peer refuses our evidence
        return f"pyattest rejected the evidence: {type(e).__name__}: {e}"
    return attest_loop, assert_all


# --- the run -------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass

    def version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        "cryptography": cryptography.__version__,
        "openssl": _openssl_version(),
        "asn1crypto": version("asn1crypto"),
        "cbor2": version("cbor2"),
        "pyattest": version("pyattest"),
        "pyhanko-certvalidator": version("pyhanko-certvalidator"),
    }


def _openssl_version() -> str:
    from cryptography.hazmat.backends.openssl.backend import backend

    return str(backend.openssl_version_text())


def run(args: argparse.Namespace) -> dict[str, Any]:
    runs = 3 if args.quick else 7
    scale = 0.4 if args.quick else 1.0

    def n(full: int) -> int:
        return max(50, int(full * scale))

    cpu = pin_to_one_cpu()
    real_status = (DATA / "status.json").read_bytes()
    revocations = parse_status_json(real_status)
    big_json = big_status_json(real_status, EXTRA_REVOKED)
    start = time.perf_counter()
    big_revocations = parse_status_json(big_json)
    big_parse_ms = (time.perf_counter() - start) * 1e3

    result: dict[str, Any] = {
        "quick": args.quick,
        "engine_memos": engine_memos(),
        "runs": runs,
        "pinned_cpu": cpu,
        "machine": machine(),
        "now_android": NOW.isoformat(),
        "revocation_list": {
            "real_entries": len(revocations),
            "big_entries": len(big_revocations),
            "big_json_bytes": len(big_json),
            "big_parse_ms": round(big_parse_ms, 1),
        },
    }
    profiles: list[str] = []

    # Android: the real chains, cold and steady, with the real and the big revocation list
    android: list[dict[str, Any]] = []
    google_anchor_certs = google_key_attestation_anchors().certificates
    loops: dict[str, Callable[[], int]] = {}
    rows: list[tuple[str, AndroidCase, str]] = []  # (label, case, peer loop's name)
    for algorithm in ("EC", "RSA"):
        case = real_chain_case(algorithm, revocations, n(300))
        big = real_chain_case(algorithm, big_revocations, n(300))
        name = f"real Google TEE chain, {algorithm}"
        peer_name = f"peer {algorithm}"
        rows += [
            (f"{name}, cold", replace(case, cold=True), peer_name),
            (f"{name}, steady", case, peer_name),
            (f"{name}, steady, {len(big_revocations):,} revoked", big, ""),
        ]
        loops[peer_name] = peer_chain_only(
            [case.chains[0][0]], google_anchor_certs, PEER_NOW_REAL_CHAINS, n(300)
        )
    # software keystore chains (generation not timed): a fresh leaf and challenge each
    for ec in (True, False):
        case = software_chain_case(ec, revocations, n(300), 1)
        name = f"software keystore, {'EC P-256' if ec else 'RSA-2048'} CA"
        peer_name = f"peer {name}"
        rows += [
            (f"{name}, cold", replace(case, cold=True), peer_name),
            (f"{name}, steady", case, peer_name),
        ]
        loops[peer_name] = peer_chain_only(
            [c for c, _ in case.chains], case.policy.anchors.certificates, NOW, 1
        )
    for label, case, _ in rows:
        loops[label] = case.loop
    # the parts of a verification, in the same rounds so that the same load touches them
    for algorithm in ("EC", "RSA"):
        label = f"real Google TEE chain, {algorithm}, steady"
        case = next(c for name, c, _ in rows if name == label)
        for part, loop in component_loops(case).items():
            loops[f"part {algorithm}: {part}"] = loop
    figures = measure_all(loops, runs)
    for label, case, peer_name in rows:
        row: dict[str, Any] = {"case": label, "findings": case.check_accepted()}
        row["openmtd"] = figures[label].as_dict()
        if peer_name:
            row["peer"] = figures[peer_name].as_dict()
        android.append(row)
    result["android"] = android
    result["android_peer"] = (
        "cryptography x509.verification, chain only (no extension, no revocation); "
        "on the real chains at 2026-01-01"
    )
    breakdowns: dict[str, dict[str, float]] = {}
    for algorithm in ("EC", "RSA"):
        prefix = f"part {algorithm}: "
        parts = {k.removeprefix(prefix): f for k, f in figures.items() if k.startswith(prefix)}
        for state in ("cold", "steady"):
            label = f"real Google TEE chain, {algorithm}, {state}"
            breakdowns[label] = breakdown(figures[label], parts, state)
    result["android_breakdown_cpu_us"] = breakdowns
    if args.profile:
        for label, case, _ in rows:
            if "revoked" not in label:
                profiles.append(profile(label, case.loop))

    # Apple App Attest, and pyattest on the first PYATTEST_OBJECTS objects
    ev = app_attest_evidence(n(300), assertion_keys=10, per_key=n(150))
    check_attestations(ev)
    apple: dict[str, Any] = {
        "attestations": len(ev.attestations),
        "assertions": len(ev.assertions),
        "first_verification_us": round(first_attestation_us(ev), 1),
    }
    assertions = AssertionRun(ev)
    loops = {
        "attestation_cold": attestation_loop(ev, cold=True),
        "attestation_steady": attestation_loop(ev, cold=False),
        "assertion": assertions.loop,
    }
    peer_loops: tuple[Callable[[], int], Callable[[], int]] | str = "skipped (--no-peer)"
    if not args.no_peer:
        peer_ev = replace(ev, attestations=ev.attestations[: n(PYATTEST_OBJECTS)])
        peer_loops = pyattest_loops(peer_ev)
        apple["pyattest_attestations"] = len(peer_ev.attestations)
    if isinstance(peer_loops, str):
        apple["pyattest"] = peer_loops
    else:
        loops["pyattest attestation"], loops["pyattest assertion"] = peer_loops
    figures = measure_all(loops, runs)
    for key in ("attestation_cold", "attestation_steady", "assertion"):
        apple[key] = figures[key].as_dict()
    if not isinstance(peer_loops, str):
        apple["pyattest"] = {
            "attestation": figures["pyattest attestation"].as_dict(),
            "assertion": figures["pyattest assertion"].as_dict(),
        }
    if args.profile:
        for key, label in (
            ("attestation_cold", "App Attest attestation, cold"),
            ("attestation_steady", "App Attest attestation, steady state"),
            ("assertion", "App Attest assertion"),
        ):
            profiles.append(profile(label, loops[key]))
    result["app_attest"] = apple

    goals: dict[str, bool] = {}
    for state in ("steady", "cold"):
        for kind, key in (("wall clock", "per_s"), ("CPU time", "per_cpu_s")):
            worst = min(r["openmtd"][key] for r in android if r["case"].endswith(state))
            goal = f">= 500 full Android verifications/s, every case, {state} ({kind})"
            goals[goal] = worst >= GOAL_PER_S
    for key_name, state in (("attestation_steady", "steady"), ("attestation_cold", "cold")):
        for kind, key in (("wall clock", "per_s"), ("CPU time", "per_cpu_s")):
            goal = f">= 500 App Attest attestation verifications/s, {state} ({kind})"
            goals[goal] = apple[key_name][key] >= GOAL_PER_S
    result["goals"] = goals
    result["profiles"] = profiles
    result["load_average_at_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    return result


def _ratio(ours: float, peer: float | None) -> str:
    return f"{ours / peer:.2f}x" if peer else "-"


HEAD = (
    f"{'case':<56}{'wall/s':>8}{'us':>7}{'CPU/s':>7}{'best':>7}{'x goal':>9}"
    f"{'peer CPU/s':>11}{'ours/peer':>10}"
)


def _line(label: str, o: dict[str, Any], peer: dict[str, Any] | None) -> str:
    line = f"{label:<56}{o['per_s']:>8,.0f}{o['us_per_verification']:>7.0f}"
    line += f"{o['per_cpu_s']:>7,.0f}{o['best_run_per_cpu_s']:>7,.0f}"
    line += f"{o['per_s'] / GOAL_PER_S:>6.2f}/{o['per_cpu_s'] / GOAL_PER_S:.2f}"
    if peer:
        line += f"{peer['per_cpu_s']:>11,.0f}{_ratio(o['per_cpu_s'], peer['per_cpu_s']):>10}"
    return line


def print_report(r: dict[str, Any]) -> None:
    m = r["machine"]
    pinned = f"pinned to CPU {r['pinned_cpu']}" if r["pinned_cpu"] is not None else "not pinned"
    print(
        f"{m['cpu']}, {m['cpus']} CPUs, {pinned}; Python {m['python']}, cryptography "
        f"{m['cryptography']} ({m['openssl']}), pyattest {m['pyattest']}"
    )
    load = ", ".join(f"{x:.2f}" for x in m["load_average"] or [])
    print(f"medians of {r['runs']} runs; load average at start {load}")
    memos = ", ".join(r["engine_memos"]) or "none"
    print(f"engine memos of verified signatures: {memos} (cold: emptied before each verification)")
    rl = r["revocation_list"]
    print(
        f"revocation lists: real {rl['real_entries']} entries; big {rl['big_entries']:,} "
        f"entries ({rl['big_json_bytes'] / 1024:.0f} KiB, parsed in {rl['big_parse_ms']} ms)"
    )
    print(
        "wall/s, us: median per wall-clock second; CPU/s: median per second of this thread's "
        "CPU time; best: the best run's CPU/s;\nx goal: wall / CPU medians over 500/s; "
        "ours/peer: CPU medians"
    )
    print()
    print("Android Key Attestation, full verify_key_attestation (now 2026-11-26):")
    print(HEAD)
    for row in r["android"]:
        print(_line(row["case"], row["openmtd"], row.get("peer")))
    print(f"  peer: {r['android_peer']}")
    for label, parts in r["android_breakdown_cpu_us"].items():
        text = ", ".join(f"{k} {v:.0f}" for k, v in parts.items())
        print(f"  {label}, best-run CPU us: {text}")
    for row in r["android"]:
        if row["case"].endswith("steady"):
            print(f"  findings, {row['case'].removesuffix(', steady')}: {row['findings']}")
    a = r["app_attest"]
    print()
    print(
        f"Apple App Attest ({a['attestations']} attestation objects, {a['assertions']} "
        "assertions over 10 keys):"
    )
    peer = a["pyattest"] if isinstance(a["pyattest"], dict) else None
    print(HEAD)
    for key, label, peer_key in (
        ("attestation_cold", "attestation, cold", "attestation"),
        ("attestation_steady", "attestation, steady", "attestation"),
        ("assertion", "assertion, rising counter", "assertion"),
    ):
        print(_line(label, a[key], peer[peer_key] if peer else None))
    print(f"  first verification in this process (memos empty): {a['first_verification_us']} us")
    if peer is None:
        print(f"  pyattest: {a['pyattest']}")
    else:
        p = peer["attestation"]
        print(
            f"  pyattest attestation ({a['pyattest_attestations']} of the objects, no memo): "
            f"{p['per_s']:,.1f}/s wall, {p['per_cpu_s']:,.1f}/s CPU; its assertion checks the "
            "signature only (no counter, App ID or challenge)"
        )
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
    parser.add_argument("--no-peer", action="store_true", help="skip pyattest")
    parser.add_argument("--profile", action="store_true", help="cProfile our verifications")
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
