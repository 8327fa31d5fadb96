"""The SOFA iOS data feed (macadmins/sofa, ``v1/ios_data_feed.json`` and
``v2/ios_data_feed.json``) -> one `VulnRecord` per CVE.

SOFA lists, per OS train (``OSVersions[].OSVersion``: "26", "18", "17"), Apple's security
releases and the CVEs each one fixed. A CVE listed under release P of train T was fixed in P for
devices on T, so it affects T from its first release up to P: ``VersionRange("<T>.0", True, P,
False)``. One record per CVE gathers every train that fixed it — CVE-2025-43300 is fixed in
18.6.2 and 17.7.10, so it gets ["18.0", "18.6.2") and ["17.0", "17.7.10") — for IOS and for
IPADOS when the release's ProductName is "iOS and iPadOS" (every release in the real feeds).
SOFA writes that ProductName on iPad-only releases too ("iPadOS 17.7.10"); the IOS range it
gives is still right, since an iPhone on 17.x has no 17.7.10 to install and stays vulnerable.

Rules:
* a CVE listed under several releases of one train keeps the earliest: that is where Apple
  fixed it. Later pages name already fixed CVEs in other entries' text — Apple's notes for iOS
  26.3 say CVE-2025-14174 and CVE-2025-43529 "were also issued in response to this report"
  under CVE-2026-20700, and SOFA collects every CVE id on a page, so both show up under 26.2
  (their fix, the same day as 18.7.3) and again under 26.3. Keeping the later release would
  flag every 26.2.x device for two exploited CVEs it is patched against;
* a release that is its train's first (P "26.0" or "26") fixed the CVE before any device ran the
  train: there is nothing to match on that train, counted "fixed in a train's first release";
* exploited: the CVE is in the release's ActivelyExploitedCVEs, or its CVEs value is ``true``
  (v1) or ``{"ActivelyExploited": true}`` (v2); severity: v2's per-CVE "Severity";
* the feed says nothing of a CVE's own modification time, so ``modified`` is "" and
  `merge.revision` compares such records by content;
* published: the earliest release that fixed it; references: the releases' SecurityInfo pages.

Limits of the data (not of the parser): a train SOFA no longer lists (16 and older) is never
flagged, and a CVE a train never got a fix for is not flagged on that train.

`ImportResult.skipped` counts releases of another product ("other product") and train/CVE pairs
fixed in a train's first release. A malformed release is one problem, named by its UpdateName
(or "OSVersions[i].SecurityReleases[j]"); a malformed CVE id one problem named by the id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from openmtd.domain.vulns import (
    Affected,
    ImportResult,
    Product,
    VersionRange,
    VulnRecord,
    VulnSource,
)
from openmtd.intel.vuln_feeds._common import (
    CVE_ID,
    Collector,
    RecordError,
    array,
    iso_date,
    kind,
    load_json,
    obj,
    shown,
    text,
    urls,
    version,
)

_PRODUCTS = {
    "ios and ipados": (Product.IOS, Product.IPADOS),
    "ios": (Product.IOS,),
    "ipados": (Product.IPADOS,),
}
MAX_CVES_PER_RELEASE = 10_000
_IOS_VERSION = re.compile(r"[0-9]{1,4}(?:\.[0-9]{1,4}){0,3}")


@dataclass(slots=True)
class _Fixes:
    """What the feed says of one CVE, gathered over every release that lists it."""

    ends: dict[tuple[Product, int], str] = field(default_factory=dict)  # (product, train) -> P
    exploited: bool = False
    severity: str = ""
    published: date | None = None
    references: list[str] = field(default_factory=list)


def parse_sofa(data: bytes) -> ImportResult:
    """Parse a SOFA iOS feed, v1 or v2 (see the module docstring). Raises ValueError only when
    the input is not JSON, too large, or has no OSVersions array."""
    document = load_json(data)
    if not isinstance(document, dict):
        raise ValueError(f"expected a SOFA feed object, found {kind(document)}")
    trains = document.get("OSVersions")
    if not isinstance(trains, list):
        raise ValueError(f"OSVersions is {kind(trains)}, not an array: not a SOFA feed")
    out = Collector()
    fixes: dict[str, _Fixes] = {}
    for i, train in enumerate(trains):
        if not isinstance(train, dict):
            out.problem(f"OSVersions[{i}]", f"is {kind(train)}, not an object")
            continue
        releases = train.get("SecurityReleases")
        if not isinstance(releases, list):
            out.problem(f"OSVersions[{i}]", f"SecurityReleases is {kind(releases)}, not an array")
            continue
        for j, release in enumerate(releases):
            label = _release_label(release, i, j)
            try:
                _release(release, fixes, out)
            except RecordError as e:
                out.problem(label, str(e))
    out.records.extend(_record(cve, fix) for cve, fix in fixes.items())
    return out.result()


def _release_label(release: object, i: int, j: int) -> str:
    if isinstance(release, dict):
        name = release.get("UpdateName")
        if isinstance(name, str) and name.strip():
            return name.strip()[:200]
    return f"OSVersions[{i}].SecurityReleases[{j}]"


def _release(raw: object, fixes: dict[str, _Fixes], out: Collector) -> None:
    release = obj(raw, "the release")
    product_name = text(release.get("ProductName"), "ProductName", 200)
    products = _PRODUCTS.get(product_name.lower())
    if products is None:
        out.skip("other product")
        return
    fixed_in = version(release.get("ProductVersion"), "ProductVersion")
    if not _IOS_VERSION.fullmatch(fixed_in):
        raise RecordError(f"ProductVersion {shown(fixed_in)} is not an iOS version")
    parts = fixed_in.split(".")
    train = int(parts[0])
    first_release = all(int(p) == 0 for p in parts[1:])
    released = iso_date(release.get("ReleaseDate"), "ReleaseDate")
    info = release.get("SecurityInfo")
    cves = release.get("CVEs")
    if cves is None:
        cves = {}
    if not isinstance(cves, dict):
        raise RecordError(f"CVEs is {kind(cves)}, not an object")
    if len(cves) > MAX_CVES_PER_RELEASE:
        raise RecordError(f"{len(cves)} CVEs, more than the {MAX_CVES_PER_RELEASE} allowed")
    listed_exploited = {
        c
        for c in array(release.get("ActivelyExploitedCVEs"), "ActivelyExploitedCVEs")
        if isinstance(c, str)
    }
    for cve, details in cves.items():
        if not CVE_ID.fullmatch(cve):
            out.problem(cve[:200] or "#?", f"{_release_name(release)}: not a CVE id")
            continue
        fix = fixes.setdefault(cve, _Fixes())
        exploited, severity = _details(details)
        fix.exploited = fix.exploited or exploited or cve in listed_exploited
        fix.severity = fix.severity or severity
        if released is not None and (fix.published is None or released < fix.published):
            fix.published = released
        if isinstance(info, str):
            fix.references.append(info)
        if first_release:
            out.skip("fixed in a train's first release")
            continue
        for product in products:
            _keep_earliest(fix.ends, (product, train), fixed_in)


def _release_name(release: dict[str, Any]) -> str:
    name = release.get("UpdateName")
    return name.strip()[:80] if isinstance(name, str) else "a release"


def _details(details: object) -> tuple[bool, str]:
    """v1: ``true``/``false``; v2: ``{"ActivelyExploited": true, "Severity": "Critical", …}``."""
    if isinstance(details, bool):
        return details, ""
    if isinstance(details, dict):
        severity = details.get("Severity")
        return (
            details.get("ActivelyExploited") is True,
            severity.strip()[:40] if isinstance(severity, str) else "",
        )
    return False, ""


def _version_key(value: str) -> tuple[int, ...]:
    return tuple(int(p) for p in value.split("."))


def _keep_earliest(
    ends: dict[tuple[Product, int], str], key: tuple[Product, int], fixed: str
) -> None:
    known = ends.get(key)
    if known is None or _version_key(fixed) < _version_key(known):
        ends[key] = fixed


def _record(cve: str, fix: _Fixes) -> VulnRecord:
    affected = []
    for product in (Product.IOS, Product.IPADOS):
        ranges = tuple(
            VersionRange(f"{train}.0", True, end, False)
            for (p, train), end in sorted(fix.ends.items(), key=lambda kv: kv[0][1])
            if p is product
        )
        if ranges:
            affected.append(Affected(product, ranges))
    return VulnRecord(
        id=cve,
        source=VulnSource.SOFA,
        published=fix.published,
        severity=fix.severity,
        affected=tuple(affected),
        references=urls(fix.references),
        exploited=fix.exploited,
    )
