"""Vulnerability matching at fleet scale: 100,000 simulated devices x 80 apps against >= 50,000
records.

The feed is generated deterministically (``random.Random(seed)``) in the real formats and goes
through the real parsers (`openmtd.intel.vuln_feeds`), so the records have exactly the shapes
the server will import. Every id is new (``CVE-2099-…``, ``ASB-A-99…``); the shapes are
replicated and perturbed from the real records in shared/data:

- Android Security Bulletin records in OSV (``"<major>:<patch level>"`` ranges, majors 12, 12L,
  13 … 16, 15-next and 16-qpr2, fixes on the 1st or 5th of a month 2022 … 2026, one range per
  major, a few ``last_affected`` ends and kernel entries), and Android CVE JSON 5 records
  (CNA google_android: majors and a bulletin reference, as CVE-2024-43093);
- a SOFA v2 iOS feed with trains 15, 16, 17, 18 and 26 (the real 17/18/26 release lists, 15 and
  16 made up), each release fixing a block of CVEs, some backported to the train before;
  Apple CVE JSON 5 records (``lessThan`` = the train, the fix in the description, as
  CVE-2023-42824) and NVD iphone_os/ipados ranges;
- app records keyed by the product identifiers of the mapping: NVD CPE ranges (some with a
  ``target_sw`` of android or iphone_os, some in a "runs on" AND configuration) and OSV records
  of the Maven and SwiftURL ecosystems, their bounds drawn from the versions the fleet really
  runs, so that app matching is exercised (the simulated apps are not in `DEFAULT_MAPPING`:
  the bench maps every app identifier of the fleet to a CPE made from it, keeps the default
  rows, and maps a quarter of the apps to an OSV package as well).

The fleet: ``simulate_fleet(N, apps_per_device=80)`` over every enrollment profile, "today"
2026-11-26 (the collector fills up the catalog with generated in-house apps to reach 80).

Measured, each phase on its own (VmHWM is reset through /proc/self/clear_refs before each, so
a phase's peak is its own):

- generating the fleet (time, and the RSS the devices hold: the delta over the devices alone);
- generating and parsing the feed; building the `VulnIndex` (time, RSS);
- the full re-match: every device through one fresh `Matcher` (what `match_fleet` does), with
  the number of findings; median of several runs, each with an empty memo;
- incremental re-match of one changed device (one app moved to another version): median and
  p99 over 1,000 devices, with the warm `Matcher` a server keeps (the version the app moved to
  is one the fleet already runs, so usually remembered), warm but with a version nobody runs
  (the app lookup is new), and cold (a fresh `Matcher` for each device: nothing remembered);
  the three give the same findings, which is checked;
- the whole process's peak RSS (VmHWM, what ru_maxrss reports).

There is no Python peer for matching mobile OS patch levels and app versions against these
feeds (OSV's scanner and vanir scan source trees and lock files, not device inventories), so
there is no same-run comparison.

Goals (issue 6): the full re-match of 100,000 devices x 80 apps against >= 50,000 records in
<= 60 s and <= 2 GB on this machine; incremental re-match of one device <= 10 ms.

    python bench/vuln_match.py                 # 100,000 devices, 55,000 records, 3 full runs
    python bench/vuln_match.py --quick --json  # 10,000 devices, the same feed, 1 full run
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import resource
import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

from openmtd.agent.collectors.simulated import simulate_fleet
from openmtd.domain.device import DeviceFacts
from openmtd.domain.enums import Platform
from openmtd.domain.vulns import ImportResult, Product, VulnRecord
from openmtd.engines.vulns.index import VulnIndex
from openmtd.engines.vulns.mapping import DEFAULT_MAPPING, AppMapping, package_key
from openmtd.engines.vulns.match import Matcher
from openmtd.engines.vulns.versions import parse_version
from openmtd.intel.vuln_feeds import parse_cve5, parse_nvd, parse_osv, parse_sofa

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
TODAY = date(2026, 11, 26)
MB = 1024 * 1024

ANDROID_MAJORS = ("12", "12L", "13", "14", "15", "16")
#: When each major reached the first devices (as in the simulated collector).
ANDROID_RELEASED = {
    "12": "2021-10-01",
    "13": "2022-08-01",
    "14": "2023-10-01",
    "15": "2024-10-01",
    "16": "2025-06-01",
}
ANDROID_COMPONENTS = (
    "platform/frameworks/base",
    "platform/frameworks/av",
    "platform/system/core",
    "platform/packages/modules/Bluetooth",
    "platform/packages/modules/Wifi",
    "platform/packages/providers/MediaProvider",
    "platform/external/libavc",
    "platform/packages/apps/Settings",
)
#: Record counts by kind (55,000 in all).
FEED_SHAPE = {
    "android_osv": 16_000,
    "android_cve5": 4_000,
    "sofa_cves": 9_000,
    "apple_cve5": 3_000,
    "apple_nvd": 3_000,
    "app_nvd": 15_000,
    "app_osv": 5_000,
}


# --- memory -----------------------------------------------------------------------------------


def _status(field: str) -> int:
    """A /proc/self/status memory field in bytes (0 where there is no /proc)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def rss() -> int:
    return _status("VmRSS")


def peak() -> int:
    return _status("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def reset_peak() -> bool:
    """Start a new VmHWM from the current RSS (Linux: "5" to /proc/self/clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
        return True
    except OSError:
        return False


class Phase:
    """Wall time, RSS growth and peak of one phase (gc collected on both sides)."""

    def __init__(self) -> None:
        gc.collect()
        self.peak_reset = reset_peak()
        self.rss_before = rss()
        self.started = time.perf_counter()
        self.seconds = 0.0
        self.rss_delta = 0
        self.peak_delta = 0

    def done(self) -> Phase:
        self.seconds = time.perf_counter() - self.started
        self.peak_delta = peak() - self.rss_before
        gc.collect()
        self.rss_delta = rss() - self.rss_before
        return self

    def figures(self) -> dict[str, float]:
        return {
            "seconds": round(self.seconds, 3),
            "rss_delta_mb": round(self.rss_delta / MB, 1),
            "peak_delta_mb": round(self.peak_delta / MB, 1),
        }


# --- the fleet --------------------------------------------------------------------------------


def make_fleet(count: int, seed: int) -> list[DeviceFacts]:
    return [d.facts for d in simulate_fleet(count, seed=seed, today=TODAY, apps_per_device=80)]


def _order(version: str) -> Any:
    key = parse_version(version)
    return key.order if key is not None else ((), 0, ())


def fleet_versions(fleet: Iterable[DeviceFacts]) -> dict[tuple[Platform, str], list[str]]:
    """(platform, app identifier) -> the versions the fleet runs, oldest first."""
    seen: dict[tuple[Platform, str], set[str]] = {}
    for facts in fleet:
        for app in facts.apps:
            seen.setdefault((facts.platform, app.identifier), set()).add(app.version)
    return {key: sorted(versions, key=_order) for key, versions in sorted(seen.items())}


def _cpe_name(text: str) -> str:
    return "".join(c if c.isalnum() or c in "_.-" else "_" for c in text.lower()) or "x"


def app_products(
    apps: dict[tuple[Platform, str], list[str]], rnd: random.Random
) -> tuple[AppMapping, dict[str, tuple[Platform, list[str]]]]:
    """A mapping for every app of the fleet and, per product, the platform and versions it has.

    Each app identifier maps to ``cpe:2.3:a:<second label>:<the rest>``; the DEFAULT_MAPPING
    rows stay (Teams, Chrome, WhatsApp, Telegram … keep their real CPEs), and a quarter of the
    apps also map to an OSV package (Maven on Android, SwiftURL on iOS).
    """
    rows: list[tuple[str, str]] = []
    products: dict[str, tuple[Platform, list[str]]] = {}
    for (platform_, identifier), versions in apps.items():
        known = DEFAULT_MAPPING.products_for(identifier)
        labels = identifier.split(".")
        vendor = _cpe_name(labels[1] if len(labels) > 1 else labels[0])
        product = _cpe_name("_".join(labels[2:]) or labels[0])
        names = list(known) or [f"cpe:2.3:a:{vendor}:{product}"]
        if rnd.random() < 0.25:
            ecosystem = "Maven" if platform_ is Platform.ANDROID else "SwiftURL"
            names.append(f"{ecosystem}:{identifier}")
        for name in names:
            rows.append((identifier, name))
            key = package_key(name)
            assert key is not None, name
            _, have = products.setdefault(key.key, (platform_, []))
            have.extend(v for v in versions if v not in have)
    mapping = DEFAULT_MAPPING.merged(AppMapping.from_rows(rows))
    for _platform, versions in products.values():
        versions.sort(key=_order)
    return mapping, products


# --- the feed ---------------------------------------------------------------------------------


class Ids:
    def __init__(self) -> None:
        self.next = 100_000

    def cve(self) -> str:
        self.next += 1
        return f"CVE-2099-{self.next}"


def _spl(rnd: random.Random) -> str:
    """A patch level on the 1st or 5th of a month from 2022-01 to the month of TODAY."""
    months = rnd.randrange((TODAY.year - 2022) * 12 + TODAY.month)
    return f"{2022 + months // 12}-{months % 12 + 1:02d}-{rnd.choice(('01', '01', '01', '05'))}"


def _supported_majors(rnd: random.Random, spl: str) -> list[str]:
    """A bulletin fixes the majors still supported on its date: the newest four released,
    a record names the newest few of them (12L beside 12 while 12 is supported)."""
    released = [m for m, day in ANDROID_RELEASED.items() if day <= spl]
    supported = released[-4:]
    majors = supported[-rnd.randint(1, len(supported)) :]
    return [*(["12", "12L"] if "12" in majors else []), *(m for m in majors if m != "12")]


def _stamp(rnd: random.Random) -> str:
    return f"{_spl(rnd)}T{rnd.randint(0, 23):02d}:{rnd.randint(0, 59):02d}:00Z"


def android_osv(rnd: random.Random, ids: Ids, count: int) -> bytes:
    """ASB records in OSV, shaped like vanir's ASB-A-202768292."""
    records = []
    for n in range(count):
        cve = ids.cve()
        spl = _spl(rnd)
        majors = _supported_majors(rnd, spl)
        if "15" in majors and rnd.random() < 0.3:
            majors.append("15-next")
        if "16" in majors and rnd.random() < 0.3:
            majors.append("16-qpr2")
        end = "last_affected" if rnd.random() < 0.05 else "fixed"
        events = []
        for major in majors:
            events += [{"introduced": f"{major}:0"}, {end: f"{major}:{spl}"}]
        component = rnd.choice(ANDROID_COMPONENTS)
        fix = f"https://android.googlesource.com/{component}/+/{rnd.getrandbits(160):040x}"
        affected: list[dict[str, Any]] = [
            {
                "package": {"ecosystem": "Android", "name": component},
                "versions": majors,
                "ecosystem_specific": {
                    "type": rnd.choice(("EoP", "RCE", "ID", "DoS")),
                    "severity": rnd.choice(("Critical", "High", "High", "Moderate")),
                    "spl": spl,
                    "fixes": [fix],
                },
                "ranges": [{"type": "ECOSYSTEM", "events": events}],
            }
        ]
        if rnd.random() < 0.05:
            affected.append(
                {
                    "package": {"ecosystem": "Android", "name": ":linux_kernel:"},
                    "versions": ["Kernel"],
                    "ranges": [
                        {
                            "type": "ECOSYSTEM",
                            "events": [{"introduced": ":0"}, {"fixed": f":{spl}"}],
                        }
                    ],
                }
            )
        records.append(
            {
                "id": f"ASB-A-99{n:07d}",
                "modified": _stamp(rnd),
                "published": f"{spl}T00:00:00Z",
                "aliases": [cve],
                "summary": f"Generated bulletin record {n} in {component}",
                "references": [
                    {
                        "type": "ADVISORY",
                        "url": f"https://source.android.com/security/bulletin/{spl}",
                    },
                    {"type": "FIX", "url": fix},
                ],
                "affected": affected,
            }
        )
    return json.dumps(records).encode()


def _cve5(cve: str, cna: dict[str, Any], assigner: str, rnd: random.Random) -> dict[str, Any]:
    return {
        "dataType": "CVE_RECORD",
        "dataVersion": "5.1",
        "cveMetadata": {
            "cveId": cve,
            "assignerShortName": assigner,
            "state": "PUBLISHED",
            "dateUpdated": _stamp(rnd).rstrip("Z"),
        },
        "containers": {"cna": cna},
    }


def android_cve5(rnd: random.Random, ids: Ids, count: int) -> bytes:
    """CNA google_android records: majors, a bulletin reference (as CVE-2024-43093)."""
    records = []
    for _ in range(count):
        cve = ids.cve()
        bulletin = _spl(rnd)[:8] + "01"
        majors = _supported_majors(rnd, bulletin)
        component = rnd.choice(ANDROID_COMPONENTS)
        cna = {
            "affected": [
                {
                    "vendor": "Google",
                    "product": "Android",
                    "versions": [{"version": m, "status": "affected"} for m in reversed(majors)],
                    "defaultStatus": "unaffected",
                }
            ],
            "descriptions": [{"lang": "en", "value": f"Generated Android record in {component}."}],
            "references": [
                {
                    "url": f"https://android.googlesource.com/{component}/+/{rnd.getrandbits(160):040x}"
                },
                {"url": f"https://source.android.com/security/bulletin/{bulletin}"},
            ],
        }
        records.append(_cve5(cve, cna, "google_android", rnd))
    return json.dumps(records).encode()


def apple_releases(real_sofa: dict[str, Any]) -> dict[int, list[str]]:
    """Release versions per train: the real feed's for 17, 18 and 26; 15 and 16 made up."""
    trains: dict[int, list[str]] = {}
    for train in real_sofa["OSVersions"]:
        real = {r["ProductVersion"] for r in train["SecurityReleases"]}
        trains[int(train["OSVersion"])] = sorted(real, key=_order)
    for major, last in ((15, (8, 5)), (16, (7, 12))):
        made_up = [f"{major}.0"]
        for minor in range(last[0] + 1):
            top = last[1] if minor == last[0] else 2
            made_up += [f"{major}.{minor}.{patch}" for patch in range(1, top + 1)]
            if minor < last[0]:
                made_up.append(f"{major}.{minor + 1}")
        trains[major] = sorted(set(made_up), key=_order)
    return dict(sorted(trains.items()))


def sofa_feed(rnd: random.Random, ids: Ids, count: int, trains: dict[int, list[str]]) -> bytes:
    """A SOFA v2 feed: each release fixes a block of CVEs; 30% backported to the train before."""
    fixes: dict[tuple[int, str], dict[str, dict[str, Any]]] = {}
    train_list = list(trains)
    for _ in range(count):
        cve = ids.cve()
        train = rnd.choice(train_list)
        releases = trains[train]
        details = {
            "ActivelyExploited": rnd.random() < 0.03,
            "Severity": rnd.choice(("Critical", "High", "Medium")),
        }
        fixes.setdefault((train, rnd.choice(releases[1:])), {})[cve] = details
        older = train_list.index(train) - 1
        if older >= 0 and rnd.random() < 0.3:
            back = trains[train_list[older]]
            fixes.setdefault((train_list[older], rnd.choice(back[len(back) // 2 :])), {})[cve] = (
                details
            )
    os_versions = []
    for train in sorted(trains, reverse=True):
        listed: list[dict[str, Any]] = []
        for version in reversed(trains[train]):
            cves = fixes.get((train, version), {})
            listed.append(
                {
                    "UpdateName": f"iOS {version} and iPadOS {version}",
                    "ProductName": "iOS and iPadOS",
                    "ProductVersion": version,
                    "ReleaseDate": f"{_spl(rnd)}T00:00:00Z",
                    "SecurityInfo": f"https://support.apple.com/en-us/{rnd.randint(10**5, 10**6)}",
                    "CVEs": cves,
                    "ActivelyExploitedCVEs": [c for c, d in cves.items() if d["ActivelyExploited"]],
                    "UniqueCVEsCount": len(cves),
                }
            )
        os_versions.append({"OSVersion": str(train), "SecurityReleases": listed})
    return json.dumps({"SchemaVersion": "2.0", "OSVersions": os_versions}).encode()


def _apple_fix(rnd: random.Random, trains: dict[int, list[str]]) -> tuple[int, str]:
    train = rnd.choice(list(trains))
    return train, rnd.choice(trains[train][1:])


def apple_cve5(rnd: random.Random, ids: Ids, count: int, trains: dict[int, list[str]]) -> bytes:
    """Apple CNA records: lessThan = major.minor, the fix in the description (CVE-2023-42824)."""
    records = []
    for _ in range(count):
        cve = ids.cve()
        fixed = sorted({_apple_fix(rnd, trains) for _ in range(rnd.randint(1, 2))})
        affected = [
            {
                "vendor": "Apple",
                "product": "iOS and iPadOS",
                "versions": [
                    {
                        "version": "unspecified",
                        "status": "affected",
                        "lessThan": ".".join(version.split(".")[:2]),
                        "versionType": "custom",
                    }
                ],
            }
            for _train, version in fixed
        ]
        affected.append(
            {
                "vendor": "Apple",
                "product": "macOS",
                "versions": [{"version": "unspecified", "status": "affected", "lessThan": "15.6"}],
            }
        )
        text = ", ".join(f"iOS {v} and iPadOS {v}" for _t, v in fixed)
        cna = {
            "affected": affected,
            "descriptions": [
                {"lang": "en", "value": f"Generated. This issue is fixed in macOS 15.6.1, {text}."}
            ],
            "references": [{"url": "https://support.apple.com/en-us/125000"}],
        }
        records.append(_cve5(cve, cna, "apple", rnd))
    return json.dumps(records).encode()


def _nvd(cve: str, rnd: random.Random, nodes: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "cve": {
            "id": cve,
            "sourceIdentifier": "generated@openmtd.invalid",
            "published": f"{_spl(rnd)}T10:15:00.000",
            "lastModified": f"{_spl(rnd)}T12:00:00.000",
            "vulnStatus": "Analyzed",
            "descriptions": [{"lang": "en", "value": "Generated record."}],
            "metrics": {},
            "configurations": [{"nodes": nodes}],
            "references": [],
        }
    }


def _cpe_match(criteria: str, start: str | None, end: str, inclusive: bool) -> dict[str, Any]:
    match: dict[str, Any] = {"vulnerable": True, "criteria": criteria}
    if start is not None:
        match["versionStartIncluding"] = start
    match["versionEndIncluding" if inclusive else "versionEndExcluding"] = end
    return match


def apple_nvd(rnd: random.Random, ids: Ids, count: int, trains: dict[int, list[str]]) -> bytes:
    """NVD iphone_os / ipados ranges, one per train fixed (as CVE-2023-32434)."""
    items = []
    for _ in range(count):
        fixed = sorted({_apple_fix(rnd, trains) for _ in range(rnd.randint(1, 2))})
        matches = []
        for index, (train, version) in enumerate(fixed):
            start = None if index == 0 else f"{train}.0"
            for product in ("iphone_os", "ipados"):
                criteria = f"cpe:2.3:o:apple:{product}:*:*:*:*:*:*:*:*"
                matches.append(_cpe_match(criteria, start, version, False))
        items.append(
            _nvd(ids.cve(), rnd, [{"operator": "OR", "negate": False, "cpeMatch": matches}])
        )
    return json.dumps({"vulnerabilities": items}).encode()


def _bump(version: str) -> str:
    head, _, last = version.rpartition(".")
    digits = "".join(c for c in last if c.isdigit())
    if not digits or not last.startswith(digits):
        return version + ".1"
    bumped = str(int(digits) + 1) + last[len(digits) :]
    return f"{head}.{bumped}" if head else bumped


def _app_bounds(rnd: random.Random, versions: Sequence[str]) -> tuple[str | None, str]:
    """A range over the fleet's versions of one app: most are fixed before any of them."""
    u = rnd.random()
    if u < 0.97 or len(versions) == 0:  # an old record: fixed long before what the fleet runs
        return None, f"0.{rnd.randint(1, 9)}"
    end = rnd.choice(versions[1:]) if len(versions) > 1 and u < 0.995 else _bump(versions[-1])
    start = rnd.choice(versions[: versions.index(end)]) if end in versions and u < 0.99 else None
    return start, end


def app_nvd(
    rnd: random.Random, ids: Ids, count: int, products: dict[str, tuple[Platform, list[str]]]
) -> bytes:
    cpes = [(p, v) for p, v in products.items() if p.startswith("cpe:2.3:a:")]
    items = []
    for _ in range(count):
        product, (platform_, versions) = rnd.choice(cpes)
        start, end = _app_bounds(rnd, versions)
        inclusive = rnd.random() < 0.15 and end in versions
        target = "*"
        if rnd.random() < 0.3:
            target = "android" if platform_ is Platform.ANDROID else "iphone_os"
        criteria = f"{product}:*:*:*:*:*:{target}:*:*"
        node = {
            "operator": "OR",
            "negate": False,
            "cpeMatch": [_cpe_match(criteria, start, end, inclusive)],
        }
        nodes = [node]
        if rnd.random() < 0.2:  # "runs on": the platform, not vulnerable itself
            runs_on = "cpe:2.3:o:google:android:-:*:*:*:*:*:*:*"
            nodes.append(
                {
                    "operator": "OR",
                    "negate": False,
                    "cpeMatch": [{"vulnerable": False, "criteria": runs_on}],
                }
            )
        items.append(_nvd(ids.cve(), rnd, nodes))
    return json.dumps({"vulnerabilities": items}).encode()


def app_osv(
    rnd: random.Random, ids: Ids, count: int, products: dict[str, tuple[Platform, list[str]]]
) -> bytes:
    packages = [(p, v) for p, v in products.items() if not p.startswith(("cpe:", "pkg:"))]
    records = []
    for n in range(count):
        package, (_platform, versions) = rnd.choice(packages)
        ecosystem, _, name = package.partition(":")
        start, end = _app_bounds(rnd, versions)
        ending = "last_affected" if rnd.random() < 0.1 else "fixed"
        events = [{"introduced": start or "0"}, {ending: end}]
        records.append(
            {
                "id": f"GHSA-gen-{n:06d}",
                "modified": _stamp(rnd),
                "aliases": [ids.cve()],
                "summary": "Generated app record",
                "affected": [
                    {
                        "package": {
                            "ecosystem": "Maven" if ecosystem == "maven" else "SwiftURL",
                            "name": name,
                        },
                        "ranges": [{"type": "ECOSYSTEM", "events": events}],
                    }
                ],
            }
        )
    return json.dumps(records).encode()


def make_feed(
    seed: int, products: dict[str, tuple[Platform, list[str]]]
) -> dict[str, tuple[Any, bytes]]:
    """Every generated document with its parser, by kind."""
    rnd = random.Random(seed)
    ids = Ids()
    trains = apple_releases(json.loads((SHARED / "sofa" / "v2_ios_data_feed.json").read_bytes()))
    shape = FEED_SHAPE
    return {
        "android_osv": (parse_osv, android_osv(rnd, ids, shape["android_osv"])),
        "android_cve5": (parse_cve5, android_cve5(rnd, ids, shape["android_cve5"])),
        "sofa": (parse_sofa, sofa_feed(rnd, ids, shape["sofa_cves"], trains)),
        "apple_cve5": (parse_cve5, apple_cve5(rnd, ids, shape["apple_cve5"], trains)),
        "apple_nvd": (parse_nvd, apple_nvd(rnd, ids, shape["apple_nvd"], trains)),
        "app_nvd": (parse_nvd, app_nvd(rnd, ids, shape["app_nvd"], products)),
        "app_osv": (parse_osv, app_osv(rnd, ids, shape["app_osv"], products)),
    }


def real_records() -> list[VulnRecord]:
    """The real records of shared/data, added to the generated ones as they are."""
    found: list[VulnRecord] = []
    found += parse_sofa((SHARED / "sofa" / "v2_ios_data_feed.json").read_bytes()).records
    for path in sorted((SHARED / "cve-records" / "cve5").glob("CVE-*.json")):
        found += parse_cve5(path.read_bytes()).records
    for path in sorted((SHARED / "cve-records" / "nvd-api-2.0").glob("CVE-*.json")):
        found += parse_nvd(path.read_bytes()).records
    for path in sorted((SHARED / "osv-android").glob("*.json")):
        found += parse_osv(path.read_bytes()).records
    return found


# --- matching ---------------------------------------------------------------------------------


def full_match(
    index: VulnIndex, mapping: AppMapping, fleet: Sequence[DeviceFacts]
) -> dict[str, Any]:
    """One full re-match with a fresh Matcher (what match_fleet does), findings counted."""
    matcher = Matcher(index, mapping)
    findings = vulnerable = problems = 0
    started = time.perf_counter()
    for facts in fleet:
        result = matcher.match(facts)
        if result.findings:
            vulnerable += 1
            findings += len(result.findings)
        problems += len(result.problems)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "matcher": matcher,
        "findings": findings,
        "devices_with_findings": vulnerable,
        "problems": problems,
    }


def finding_split(matcher: Matcher, fleet: Sequence[DeviceFacts]) -> dict[str, float]:
    """Mean OS and app findings a device, over a sample of the fleet (not timed)."""
    sample = fleet[:: max(1, len(fleet) // 5_000)]
    os_count = app_count = with_apps = 0
    for facts in sample:
        found = matcher.match(facts).findings
        apps = sum(1 for f in found if f.product is Product.APP)
        app_count += apps
        os_count += len(found) - apps
        with_apps += apps > 0
    return {
        "sample": len(sample),
        "mean_os_findings": round(os_count / len(sample), 1),
        "mean_app_findings": round(app_count / len(sample), 1),
        "share_with_app_findings": round(with_apps / len(sample), 3),
    }


def changed_devices(
    fleet: Sequence[DeviceFacts],
    versions: dict[tuple[Platform, str], list[str]],
    count: int,
    seed: int,
    *,
    unseen: bool,
) -> list[DeviceFacts]:
    """`count` devices spread over the fleet, each with one app moved to another version: the
    next version the fleet runs (or a bumped one), or, with `unseen`, one nobody runs."""
    rnd = random.Random(seed)
    step = max(1, len(fleet) // count)
    out = []
    for position in range(0, step * count, step):
        facts = fleet[position % len(fleet)]
        apps = list(facts.apps)
        which = rnd.randrange(len(apps))
        app = apps[which]
        known = versions.get((facts.platform, app.identifier), [])
        newer = known[known.index(app.version) + 1 :] if app.version in known else []
        version = f"{_bump(app.version)}.{rnd.randint(1000, 9999)}" if unseen else None
        apps[which] = replace(app, version=version or (newer[0] if newer else _bump(app.version)))
        out.append(replace(facts, apps=tuple(apps)))
    return out


def timings(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 3),
        "p99_ms": round(p99 * 1000, 3),
        "max_ms": round(ordered[-1] * 1000, 3),
    }


def incremental(
    index: VulnIndex, mapping: AppMapping, warm: Matcher, devices: Sequence[DeviceFacts]
) -> tuple[dict[str, float], dict[str, float], list[frozenset[tuple[str, str, str]]]]:
    """Per-device times with the warm Matcher and with a fresh one; and the findings."""
    warm_times, cold_times, seen = [], [], []
    for facts in devices:
        started = time.perf_counter()
        cold = Matcher(index, mapping).match(facts)
        cold_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        hot = warm.match(facts)
        warm_times.append(time.perf_counter() - started)
        mine = frozenset((f.vuln_id, f.app_identifier, f.installed_version) for f in hot.findings)
        assert mine == frozenset(
            (f.vuln_id, f.app_identifier, f.installed_version) for f in cold.findings
        ), "warm and cold Matcher disagree"
        seen.append(mine)
    return timings(warm_times), timings(cold_times), seen


# --- the run ----------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    devices = 10_000 if args.quick else args.devices
    full_runs = 1 if args.quick else args.runs
    result: dict[str, Any] = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "devices": devices,
        "apps_per_device": 80,
        "today": TODAY.isoformat(),
        "seed": args.seed,
    }
    baseline = rss()

    phase = Phase()
    fleet = make_fleet(devices, args.seed)
    result["fleet"] = phase.done().figures()
    result["fleet"]["per_device_kb"] = round(phase.rss_delta / devices / 1024, 2)
    versions = fleet_versions(fleet)
    result["fleet"]["distinct_apps"] = len(versions)
    result["fleet"]["distinct_app_versions"] = sum(len(v) for v in versions.values())
    result["fleet"]["distinct_os"] = len(
        {
            (f.platform, f.os_version, f.security_patch_level, "ipad" in f.model.lower())
            for f in fleet
        }
    )
    result["fleet"]["platforms"] = dict(Counter(f.platform.value for f in fleet))

    phase = Phase()
    mapping, products = app_products(versions, random.Random(args.seed + 1))
    documents = make_feed(args.seed, products)
    result["feed_generation"] = phase.done().figures()
    result["feed_generation"]["json_mb"] = round(
        sum(len(d) for _p, d in documents.values()) / MB, 1
    )
    result["mapping_rows"] = len(mapping)
    result["mapped_products"] = len(products)

    phase = Phase()
    records: list[VulnRecord] = real_records()
    real = len(records)
    per_kind: dict[str, int] = {}
    skipped: Counter[str] = Counter()
    import_problems = 0
    for kind, (parse, document) in documents.items():
        imported: ImportResult = parse(document)
        per_kind[kind] = len(imported.records)
        records += imported.records
        skipped.update(dict(imported.skipped))
        import_problems += len(imported.problems)
    del documents
    result["parse"] = phase.done().figures()
    result["records"] = {
        "total": len(records),
        "real": real,
        "generated": per_kind,
        "import_problems": import_problems,
        "skipped": dict(skipped),
    }

    phase = Phase()
    index = VulnIndex.build(records)
    result["index_build"] = phase.done().figures()
    result["index"] = {
        "records": len(index),
        "ranges": index.range_count(),
        "problems": len(index.problems),
        "android_majors": sorted(index.android),
        "app_products": len(index.apps),
    }
    del records

    phase = Phase()
    runs = [full_match(index, mapping, fleet) for _ in range(full_runs)]
    result["full_rematch"] = phase.done().figures()
    seconds = [r["seconds"] for r in runs]
    last = runs[-1]
    result["full_rematch"].update(
        {
            "runs_s": [round(s, 2) for s in seconds],
            "median_s": round(statistics.median(seconds), 2),
            "devices_per_s": round(devices / statistics.median(seconds)),
            "findings": last["findings"],
            "devices_with_findings": last["devices_with_findings"],
            "problems": last["problems"],
        }
    )
    warm: Matcher = last["matcher"]
    del runs
    result["full_rematch"]["split"] = finding_split(warm, fleet)

    count = min(1_000, devices)
    known = changed_devices(fleet, versions, count, args.seed + 2, unseen=False)
    fresh = changed_devices(fleet, versions, count, args.seed + 3, unseen=True)
    warm_known, cold_known, found = incremental(index, mapping, warm, known)
    warm_fresh, cold_fresh, _ = incremental(index, mapping, warm, fresh)
    result["incremental"] = {
        "devices": count,
        "warm_known_version": warm_known,
        "warm_unseen_version": warm_fresh,
        "cold": cold_known,
        "cold_unseen_version": cold_fresh,
        "mean_findings": round(statistics.mean(len(f) for f in found), 1),
    }
    result["memory"] = {
        "baseline_mb": round(baseline / MB, 1),
        "process_peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "final_rss_mb": round(rss() / MB, 1),
        "devices_mb": result["fleet"]["rss_delta_mb"],
        "index_mb": result["index_build"]["rss_delta_mb"],
    }
    result["load_average_at_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    median = result["full_rematch"]["median_s"]
    result["goals"] = {
        f"full re-match <= 60 s ({median} s)": median <= 60,
        f"process peak <= 2 GB ({result['memory']['process_peak_mb']} MB)": (
            result["memory"]["process_peak_mb"] <= 2048
        ),
        f"incremental one device <= 10 ms, warm p99 ({warm_fresh['p99_ms']} ms unseen version)": (
            max(warm_known["p99_ms"], warm_fresh["p99_ms"]) <= 10
        ),
        f"incremental one device <= 10 ms, cold p99 ({cold_known['p99_ms']} ms)": (
            cold_known["p99_ms"] <= 10
        ),
    }
    return result


def print_report(r: dict[str, Any]) -> None:
    records = r["records"]
    print(
        f"{r['devices']:,} devices x {r['apps_per_device']} apps against {records['total']:,} "
        f"records ({records['real']:,} real + generated {records['generated']})"
    )
    f = r["fleet"]
    print(
        f"fleet: {f['seconds']:.1f} s to simulate, {f['rss_delta_mb']} MB "
        f"({f['per_device_kb']} KB a device); {f['distinct_apps']} apps, "
        f"{f['distinct_app_versions']} app versions, {f['distinct_os']} OS versions; "
        f"{f['platforms']}"
    )
    g = r["feed_generation"]
    p = r["parse"]
    print(
        f"feed: generated in {g['seconds']:.1f} s ({g['json_mb']} MB JSON, peak +"
        f"{g['peak_delta_mb']} MB), parsed in {p['seconds']:.1f} s (peak +{p['peak_delta_mb']} MB)"
    )
    print(f"  import problems {records['import_problems']}, skipped {records['skipped']}")
    i, b = r["index"], r["index_build"]
    print(
        f"index: {b['seconds']:.2f} s, {b['rss_delta_mb']} MB (peak +{b['peak_delta_mb']} MB); "
        f"{i['ranges']:,} ranges, "
        f"{i['app_products']} app products, {i['problems']} problems"
    )
    m = r["full_rematch"]
    print(
        f"full re-match: median {m['median_s']} s (runs {m['runs_s']}), {m['devices_per_s']:,} "
        f"devices/s, peak +{m['peak_delta_mb']} MB; {m['findings']:,} findings, "
        f"{m['devices_with_findings']:,} devices with findings"
    )
    split = m["split"]
    print(
        f"  a device has {split['mean_os_findings']} OS and {split['mean_app_findings']} app "
        f"findings on average ({split['share_with_app_findings']:.0%} of devices have app "
        f"findings; sample of {split['sample']:,})"
    )
    inc = r["incremental"]
    print(f"incremental, {inc['devices']} devices with one app version changed:")
    for key, label in (
        ("warm_known_version", "warm, a version the fleet runs"),
        ("warm_unseen_version", "warm, a version nobody runs"),
        ("cold", "cold (fresh Matcher)"),
        ("cold_unseen_version", "cold, a version nobody runs"),
    ):
        t = inc[key]
        print(
            f"  {label:34} median {t['median_ms']:.3f} ms  p99 {t['p99_ms']:.3f} ms  "
            f"max {t['max_ms']:.3f} ms"
        )
    mem = r["memory"]
    print(
        f"memory: process peak {mem['process_peak_mb']} MB (baseline {mem['baseline_mb']} MB), "
        f"devices {mem['devices_mb']} MB, index {mem['index_mb']} MB"
    )
    load = ", ".join(f"{x:.2f}" for x in r["load_average_at_end"] or [])
    print(f"load average at the end {load}")
    for goal, met in r["goals"].items():
        print(f"  {'met    ' if met else 'NOT MET'}  {goal}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="10,000 devices, one full run")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument("--devices", type=int, default=100_000, help="fleet size (full run)")
    parser.add_argument("--runs", type=int, default=3, help="full re-match runs (median)")
    parser.add_argument("--seed", type=int, default=6)
    args = parser.parse_args()
    result = run(args)
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    print_report(result)


if __name__ == "__main__":
    main()
