"""CVE JSON 5.x records (cvelistV5) -> `VulnRecord`s for Apple's iOS/iPadOS and Google's Android.

Input: one CVE record (``{"dataType": "CVE_RECORD", "cveMetadata": …, "containers": …}``) or a
JSON array of them. Only the CNA container's ``affected`` list makes ranges; the CISA-ADP
container adds CVSS vectors and exploitation hints, and its CPE-based ``affected`` is not used
(it is derived from the CNA's data and would only repeat it).

Apple (vendor "Apple"): product "iOS and iPadOS" gives an IOS and an IPADOS `Affected`, "iOS"
and "iPadOS" one each; every other Apple product (macOS, watchOS, tvOS, Safari, …) is counted as
"other product" and left out. Each version entry with status "affected" is one branch.

**Apple's lessThan rule.** Apple writes ``{"version": "unspecified", "lessThan": "16.7"}`` where
the fix shipped in 16.7.1: ``lessThan`` is the *train* (the fixed version cut to major.minor),
and the precise fixed version is only in the description ("This issue is fixed in iOS 16.7.1
and iPadOS 16.7.1, …"). Read literally, "lessThan 16.7" says 16.7.0 is safe, but it is not —
on the real records every iOS/iPadOS lessThan is a strict prefix of, or equal to, a version in
the text (CVE-2023-42824: 16.7 -> 16.7.1; CVE-2025-43300: 18.6 -> 18.6.2 and, for iPadOS,
17.7 -> 17.7.10; CVE-2023-32435: 16.4 -> 16.4), and those are exactly the releases the SOFA
feed lists as fixing them. So:

1. the description's "fixed in …" sentences are read for "iOS <v>" and "iPadOS <v>";
2. a branch's exclusive end is the version of its product from the text that equals the
   lessThan or starts with it plus "." (the highest, if several do);
3. no such version: the lessThan is kept as written (the record says no more);
4. ``version`` "unspecified" (or "0", "*") leaves the start open — but with several branches
   of one product that would make the newer branch swallow the older train's fixed releases
   (15.7.7 lies below 16.5.1), so every branch but the lowest starts at its train,
   "<major>.0": CVE-2023-32434 gives IOS (None, 15.7.7) and ["16.0", 16.5.1).

Google (CNA "google_android", vendor "Google", product "Android"): versions name Android
majors ("12", "12L", "13"), with no patch level. The fix is the Android Security Bulletin the
record references (https://source.android.com/…/security/bulletin/2024-11-01): each major
becomes ["<major>:0", "<major>:2024-11-01"); with several bulletins the latest is used (a
record re-listed in a later bulletin is only surely fixed there). Without a bulletin reference
the major is skipped ("android without patch level"); "kernel"/"SoC" versions are "kernel"/"soc".

`ImportResult.skipped` counts affected entries or versions left out ("other product", "kernel",
"soc", "android without patch level", "unaffected", "no version bound") and records ("rejected").
Records are returned even when nothing in them matches (their text, CVSS and exploitation
still describe the CVE).
"""

from __future__ import annotations

import re
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
    check_range_count,
    cvss_ordered,
    ident,
    iso_date,
    kind,
    load_json,
    obj,
    shown,
    text,
    timestamp,
    urls,
    version,
)

_APPLE_PRODUCTS = {
    "ios and ipados": (Product.IOS, Product.IPADOS),
    "ios": (Product.IOS,),
    "ipados": (Product.IPADOS,),
    "iphone os": (Product.IOS,),
}
_APPLE_KEYS = tuple(("apple", name) for name in _APPLE_PRODUCTS)
_OPEN_START = frozenset({"", "0", "*", "unspecified", "n/a"})
_FIXED_SENTENCE = re.compile(r"\bfixed in (.+?)(?:\.(?=\s)|\.?$)", re.DOTALL)
_OS_VERSION = re.compile(r"\b(iOS|iPadOS) (\d{1,3}(?:\.\d{1,4}){0,3})\b", re.ASCII)
_APPLE_VERSION = re.compile(r"\d{1,3}(?:\.\d{1,4}){0,3}", re.ASCII)
_APPLE_EXPLOITED = re.compile(r"may have been (?:actively )?exploited", re.IGNORECASE)
_ANDROID_MAJOR = re.compile(r"\d{1,2}(?:\.\d)?L?(?:-[a-z0-9]{1,16})?", re.IGNORECASE | re.ASCII)
_BULLETIN = re.compile(
    r"https?://source\.android\.com/(?:docs/)?security/bulletin/(\d{4}-\d{2}-\d{2})(?:[#?/]|$)",
    re.ASCII,
)
_GOOGLESOURCE = re.compile(r"https?://android\.googlesource\.com/(.+?)/\+/[0-9a-f]{7,40}")
_CVSS_KEYS = ("cvssV4_0", "cvssV3_1", "cvssV3_0")


def parse_cve5(data: bytes) -> ImportResult:
    """Parse one CVE JSON 5 record or an array of them (see the module docstring). Raises
    ValueError only when the input is not JSON, too large, or not a record or an array."""
    document = load_json(data)
    if isinstance(document, list):
        items = document
    elif isinstance(document, dict):
        items = [document]
    else:
        raise ValueError(f"expected a CVE record or an array of records, found {kind(document)}")
    out = Collector()
    for index, item in enumerate(items):
        try:
            _record(item, out)
        except RecordError as e:
            out.problem(_label(item, index), str(e))
    return out.result()


def _label(item: object, index: int) -> str:
    if isinstance(item, dict) and isinstance(item.get("cveMetadata"), dict):
        cve = item["cveMetadata"].get("cveId")
        if isinstance(cve, str) and CVE_ID.fullmatch(cve.strip()):
            return cve.strip()
    return f"#{index}"


def _record(item: object, out: Collector) -> None:
    rec = obj(item, "the record")
    data_type = rec.get("dataType")
    if data_type is not None and data_type != "CVE_RECORD":
        raise RecordError(f"dataType {shown(str(data_type))} is not CVE_RECORD")
    meta = obj(rec.get("cveMetadata"), "cveMetadata")
    cve_id = ident(meta.get("cveId"), "cveMetadata.cveId", 40)
    if not CVE_ID.fullmatch(cve_id):
        raise RecordError(f"cveMetadata.cveId {shown(cve_id)} is not a CVE id")
    if meta.get("state") == "REJECTED":
        out.skip("rejected")
        return
    containers = obj(rec.get("containers"), "containers")
    cna = obj(containers.get("cna"), "containers.cna")
    adps = [
        obj(a, f"containers.adp[{i}]")
        for i, a in enumerate(array(containers.get("adp"), "containers.adp"))
    ]
    summary = _description(cna)
    references = _references(cna, "containers.cna") + [
        url for i, adp in enumerate(adps) for url in _references(adp, f"containers.adp[{i}]")
    ]
    skips: list[str] = []
    affected: list[Affected] = []
    for i, raw in enumerate(array(cna.get("affected"), "containers.cna.affected")):
        path = f"containers.cna.affected[{i}]"
        affected += _affected(obj(raw, path), path, summary, references, skips)
    affected = _apple_trains(affected)
    check_range_count(sum(len(a.ranges) for a in affected))
    metrics = [
        (m, "containers.cna.metrics") for m in array(cna.get("metrics"), "containers.cna.metrics")
    ]
    for i, adp in enumerate(adps):
        path = f"containers.adp[{i}].metrics"
        metrics += [(m, path) for m in array(adp.get("metrics"), path)]
    cvss, adp_exploited = _metrics(metrics)
    record = VulnRecord(
        id=cve_id,
        source=VulnSource.CVE5,
        summary=summary,
        published=iso_date(meta.get("datePublished"), "cveMetadata.datePublished"),
        modified=timestamp(
            meta.get("dateUpdated") or meta.get("datePublished"), "cveMetadata.dateUpdated"
        ),
        severity=_cna_severity(cna),
        cvss=cvss_ordered(cvss),
        affected=tuple(affected),
        references=urls(references),
        exploited=adp_exploited or bool(_APPLE_EXPLOITED.search(summary)),
    )
    for reason in skips:
        out.skip(reason)
    out.records.append(record)


def _description(cna: dict[str, Any]) -> str:
    for i, raw in enumerate(array(cna.get("descriptions"), "containers.cna.descriptions")):
        item = obj(raw, f"containers.cna.descriptions[{i}]")
        lang = item.get("lang")
        if isinstance(lang, str) and lang.lower().startswith("en"):
            return text(item.get("value"), f"containers.cna.descriptions[{i}].value")
    return ""


def _references(container: dict[str, Any], path: str) -> list[str]:
    found = []
    for i, raw in enumerate(array(container.get("references"), f"{path}.references")):
        url = obj(raw, f"{path}.references[{i}]").get("url")
        if isinstance(url, str):
            found.append(url)
    return found


def _affected(
    entry: dict[str, Any], path: str, summary: str, references: list[str], skips: list[str]
) -> list[Affected]:
    vendor = text(entry.get("vendor"), f"{path}.vendor", 200).lower()
    product = text(entry.get("product"), f"{path}.product", 200).lower()
    versions = [
        obj(v, f"{path}.versions[{j}]")
        for j, v in enumerate(array(entry.get("versions"), f"{path}.versions"))
    ]
    check_range_count(len(versions))
    if not versions and (vendor, product) in (("google", "android"), *_APPLE_KEYS):
        skips.append("no version bound")
        return []
    if vendor == "apple" and product in _APPLE_PRODUCTS:
        return _apple(_APPLE_PRODUCTS[product], versions, path, summary, skips)
    if vendor == "google" and product == "android":
        return _android(versions, path, references, skips)
    skips.append("other product")
    return []


# --- Apple ------------------------------------------------------------------------------------


def _apple(
    products: tuple[Product, ...],
    versions: list[dict[str, Any]],
    path: str,
    summary: str,
    skips: list[str],
) -> list[Affected]:
    fixed = _fixed_versions(summary)
    ranges: dict[Product, list[VersionRange]] = {p: [] for p in products}
    for j, item in enumerate(versions):
        vpath = f"{path}.versions[{j}]"
        if item.get("status") != "affected":
            skips.append("unaffected")
            continue
        raw_start = version(item.get("version", "unspecified"), f"{vpath}.version")
        start = None if raw_start.lower() in _OPEN_START else _apple_version(raw_start, vpath)
        less_than = item.get("lessThan")
        less_equal = item.get("lessThanOrEqual")
        for product in products:
            if less_than is not None:
                bound = _apple_version(version(less_than, f"{vpath}.lessThan"), vpath)
                end = _precise_fix(bound, fixed.get(product, []))
                ranges[product].append(VersionRange(start, True, end, False))
            elif less_equal is not None:
                bound = _apple_version(version(less_equal, f"{vpath}.lessThanOrEqual"), vpath)
                ranges[product].append(VersionRange(start, True, bound, True))
            elif start is not None:
                ranges[product].append(VersionRange.exactly(start))
            else:
                skips.append("no version bound")
    return [Affected(p, tuple(r)) for p, r in ranges.items() if r]


def _apple_version(value: str, path: str) -> str:
    if not _APPLE_VERSION.fullmatch(value):
        raise RecordError(f"{path}: {shown(value)} is not an iOS version")
    return value


def _apple_key(value: str) -> tuple[int, ...]:
    return tuple(int(part) for part in value.split("."))


def _fixed_versions(summary: str) -> dict[Product, list[str]]:
    """Versions each product is "fixed in" according to the description."""
    found: dict[Product, list[str]] = {Product.IOS: [], Product.IPADOS: []}
    for sentence in _FIXED_SENTENCE.finditer(summary):
        for name, number in _OS_VERSION.findall(sentence[1]):
            found[Product.IOS if name == "iOS" else Product.IPADOS].append(number)
    return found


def _precise_fix(less_than: str, fixed: list[str]) -> str:
    """The fixed version of the train `less_than` names (see the module docstring)."""
    candidates = [f for f in fixed if f == less_than or f.startswith(less_than + ".")]
    return max(candidates, key=_apple_key) if candidates else less_than


def _apple_trains(affected: list[Affected]) -> list[Affected]:
    """Merge each Apple product's branches into one Affected; every branch but the lowest that
    has an open start starts at its train ("<major>.0")."""
    merged: dict[Product, list[VersionRange]] = {}
    others: list[Affected] = []
    for item in affected:
        if item.product in (Product.IOS, Product.IPADOS):
            merged.setdefault(item.product, []).extend(item.ranges)
        else:
            others.append(item)
    apple: list[Affected] = []
    for product, ranges in merged.items():
        ordered = sorted(dict.fromkeys(ranges), key=lambda r: _apple_key(r.end or r.start or "0"))
        trains = [
            r
            if index == 0 or r.start is not None or r.end is None
            else VersionRange(f"{r.end.split('.')[0]}.0", True, r.end, r.end_inclusive)
            for index, r in enumerate(ordered)
        ]
        apple.append(Affected(product, tuple(trains)))
    return apple + others


# --- Android ----------------------------------------------------------------------------------


def _android(
    versions: list[dict[str, Any]], path: str, references: list[str], skips: list[str]
) -> list[Affected]:
    bulletins = [m[1] for url in references if (m := _BULLETIN.match(url.strip()))]
    patch_level = max(bulletins) if bulletins else ""
    component = next((m[1] for url in references if (m := _GOOGLESOURCE.match(url.strip()))), "")
    ranges: list[VersionRange] = []
    for j, item in enumerate(versions):
        vpath = f"{path}.versions[{j}]"
        if item.get("status") != "affected":
            skips.append("unaffected")
            continue
        major = version(item.get("version"), f"{vpath}.version")
        lowered = major.lower()
        if "kernel" in lowered:
            skips.append("kernel")
        elif "soc" in lowered.replace("-", " ").split():
            skips.append("soc")
        elif not _ANDROID_MAJOR.fullmatch(major):
            raise RecordError(f"{vpath}.version {shown(major)} is not an Android version")
        elif not patch_level:
            skips.append("android without patch level")
        else:
            ranges.append(VersionRange(f"{major}:0", True, f"{major}:{patch_level}", False))
    return [Affected(Product.ANDROID, tuple(ranges), component=component[:200])] if ranges else []


# --- metrics ----------------------------------------------------------------------------------


def _metrics(metrics: list[tuple[object, str]]) -> tuple[list[str], bool]:
    """CVSS vectors of every container, and whether CISA's KEV or SSVC entry says exploited."""
    vectors: list[str] = []
    exploited = False
    for i, (raw, path) in enumerate(metrics):
        metric = obj(raw, f"{path}[{i}]")
        for key in _CVSS_KEYS:
            block = metric.get(key)
            if isinstance(block, dict) and isinstance(block.get("vectorString"), str):
                vectors.append(block["vectorString"].strip())
        other = metric.get("other")
        if isinstance(other, dict):
            exploited = exploited or _other_says_exploited(other)
    return vectors, exploited


def _other_says_exploited(other: dict[str, Any]) -> bool:
    kind_ = other.get("type")
    content = other.get("content")
    if kind_ == "kev":
        return True
    if kind_ == "ssvc" and isinstance(content, dict):
        options = content.get("options")
        if isinstance(options, list):
            return any(
                isinstance(o, dict) and str(o.get("Exploitation", "")).lower() == "active"
                for o in options
            )
    return False


def _cna_severity(cna: dict[str, Any]) -> str:
    for raw in array(cna.get("metrics"), "containers.cna.metrics"):
        if not isinstance(raw, dict):
            continue
        for key in _CVSS_KEYS:
            block = raw.get(key)
            severity = block.get("baseSeverity") if isinstance(block, dict) else None
            if isinstance(severity, str):
                return severity.strip().capitalize()[:40]
    return ""
