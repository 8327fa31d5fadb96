"""OSV records (https://ossf.github.io/osv-schema/) -> `VulnRecord`s, the Android Security
Bulletin's "Android" ecosystem first.

Input: one OSV record, a JSON array of records, or an OSV API answer ``{"vulns": [...]}``.

Android (ecosystem "Android"): ECOSYSTEM ranges whose versions are
``"<android version>:<security patch level>"`` — ``{"introduced": "14:0"}``,
``{"fixed": "14:2024-02-01"}`` — become ``Affected(ANDROID, VersionRange("14:0", True,
"14:2024-02-01", False), component=<package name>)``. The Android version is kept as written,
suffix and all ("12L", "15-next", "16-qpr2"). ``last_affected`` is an inclusive end. The entry's
``versions`` list names the majors ("12", "12L") the ranges already cover; a version of the full
``"<major>:<date>"`` form becomes an exact version, and a bare major that no range covers is
skipped ("android without patch level": matching on the major alone would flag every device of
that version for ever).

Kernel and SoC entries are not about the OS version a device reports, so they are never turned
into ranges:

* "kernel": package ":linux_kernel:" or "kernel/…", or a range version with an empty Android
  version (":0", ":2022-06-05"), or a ``versions`` entry "Kernel";
* "soc": a vendor's component — ":linux_kernel:<Vendor>" or a package named after a chip or GPU
  vendor ("Qualcomm", "MediaTek", "Arm", "Imagination", "Unisoc", …).

Other ecosystems (Maven, npm, PyPI, Go, Pub, …) become ``Affected(APP, package="<ecosystem>:
<name>", component=<purl or "">)`` with their SEMVER/ECOSYSTEM ranges; their ``versions`` list is
used only when the entry has no such range (it repeats the ranges otherwise). GIT ranges hold
commits, not versions, and are skipped.

`ImportResult.skipped` counts, by reason:
* affected entries not turned into ranges: "kernel", "soc", "android without patch level",
  "git range", "no affected versions";
* whole records: "withdrawn", and "record with nothing to match" — every affected entry was
  skipped (an ASB kernel-only record), so the record is not returned at all.

A record is all or nothing: a malformed field anywhere in it makes it an `ImportProblem` naming
the field ("affected[0].ranges[0].events[1]: …").
"""

from __future__ import annotations

import re
from collections.abc import Callable
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
    Collector,
    RecordError,
    aliases_cve_first,
    array,
    check_range_count,
    cvss_ordered,
    ident,
    idents,
    iso_date,
    kind,
    load_json,
    obj,
    opt_ident,
    record_label,
    shown,
    text,
    timestamp,
    urls,
    version,
)

ANDROID = "Android"
KERNEL_PACKAGE = ":linux_kernel:"
# Chip, GPU and modem vendors whose components the bulletin lists (their own kernel drivers
# and closed-source blobs): matched on the package name's first word, case-insensitively.
SOC_VENDORS = frozenset(
    {
        "qualcomm",
        "mediatek",
        "arm",
        "imagination",
        "unisoc",
        "nvidia",
        "broadcom",
        "marvell",
        "synaptics",
        "amlogic",
        "exynos",
        "hisilicon",
        "samsung",
    }
)
_ANDROID_VERSION = re.compile(
    r"(?P<major>[0-9][0-9A-Za-z.\-]{0,31})?:(?P<spl>0|\d{4}-\d{2}-\d{2})", re.ASCII
)
_EVENTS = ("introduced", "fixed", "last_affected", "limit")


class _Skip(Exception):
    """An affected entry deliberately not imported; the message is the reason counted."""


def parse_osv(data: bytes) -> ImportResult:
    """Parse OSV JSON (see the module docstring). Raises ValueError only when the input is not
    JSON, too large, or neither a record, an array of records nor ``{"vulns": [...]}``."""
    document = load_json(data)
    if isinstance(document, list):
        items = document
    elif isinstance(document, dict):
        vulns = document.get("vulns")
        if "vulns" in document and "id" not in document:
            if not isinstance(vulns, list):
                raise ValueError(f'"vulns" is {kind(vulns)}, not an array of OSV records')
            items = vulns
        else:
            items = [document]
    else:
        raise ValueError(f"expected an OSV record or an array of records, found {kind(document)}")
    out = Collector()
    for index, item in enumerate(items):
        label = record_label(item, index)
        try:
            _record(item, out)
        except RecordError as e:
            out.problem(label, str(e))
    return out.result()


def _record(item: object, out: Collector) -> None:
    rec = obj(item, "the record")
    if rec.get("withdrawn") is not None:
        out.skip("withdrawn")
        return
    if "id" not in rec:
        raise RecordError("no id")
    record_id = ident(rec["id"], "id")
    affected: list[Affected] = []
    severities: list[str] = []
    cvss = _cvss(rec.get("severity"), "severity")
    skipped: list[str] = []
    for i, raw in enumerate(array(rec.get("affected"), "affected")):
        path = f"affected[{i}]"
        entry = obj(raw, path)
        try:
            one, notes = _affected(entry, path)
        except _Skip as skip:
            skipped.append(str(skip))
            continue
        affected.append(one)
        skipped += notes
        severities += _entry_severities(entry)
        cvss += _cvss(entry.get("severity"), f"{path}.severity")
    check_range_count(sum(len(a.ranges) for a in affected))
    database = rec.get("database_specific")
    severities.append(_free_form_severity(database))
    summary = text(rec.get("summary"), "summary") or text(rec.get("details"), "details")
    record = VulnRecord(
        id=record_id,
        source=VulnSource.OSV,
        aliases=aliases_cve_first(idents(rec.get("aliases"), "aliases"), record_id),
        summary=summary,
        published=iso_date(rec.get("published"), "published"),
        modified=timestamp(rec.get("modified"), "modified"),
        severity=next((s for s in severities if s), ""),
        cvss=cvss_ordered(cvss),
        affected=tuple(affected),
        references=urls(_reference_urls(rec.get("references"))),
    )
    for reason in skipped:  # counted only once the whole record has parsed
        out.skip(reason)
    if not affected and skipped:
        out.skip("record with nothing to match")
        return
    out.records.append(record)


def _affected(entry: dict[str, Any], path: str) -> tuple[Affected, list[str]]:
    package = obj(entry.get("package"), f"{path}.package")
    ecosystem = ident(package.get("ecosystem"), f"{path}.package.ecosystem", 80)
    name = ident(package.get("name"), f"{path}.package.name")
    if ecosystem == ANDROID:
        return _android(entry, name, path)
    return _app(entry, ecosystem, name, package, path), []


# --- Android ----------------------------------------------------------------------------------


def _package_kind(name: str) -> str:
    """ "kernel", "soc" or "platform", from an Android package name."""
    if name.startswith(KERNEL_PACKAGE):
        return "soc" if name[len(KERNEL_PACKAGE) :].strip() else "kernel"
    lowered = name.lower()
    if lowered.startswith("kernel/") or lowered in ("kernel", "linux_kernel", "linux kernel"):
        return "kernel"
    first_word = re.split(r"[\s/:_\-]+", lowered, maxsplit=1)[0]
    return "soc" if first_word in SOC_VENDORS else "platform"


def _android_version(value: object, path: str) -> str:
    text_ = version(value, path)
    match = _ANDROID_VERSION.fullmatch(text_)
    if match is None:
        raise RecordError(
            f"{path} {shown(text_)} is not '<android version>:<patch level YYYY-MM-DD or 0>'"
        )
    spl = match["spl"]
    if spl != "0":
        try:
            date.fromisoformat(spl)
        except ValueError:
            raise RecordError(f"{path} {shown(text_)}: {spl} is not a date") from None
    return text_


def _android(entry: dict[str, Any], name: str, path: str) -> tuple[Affected, list[str]]:
    """The entry's ranges, and a skip reason for each listed major no range covers."""
    package_kind = _package_kind(name)
    if package_kind != "platform":
        raise _Skip(package_kind)
    listed = idents(entry.get("versions"), f"{path}.versions", 80)
    if any(v.lower() == "kernel" for v in listed):
        raise _Skip("kernel")
    ranges: list[VersionRange] = []
    for j, raw in enumerate(array(entry.get("ranges"), f"{path}.ranges")):
        rpath = f"{path}.ranges[{j}]"
        range_ = obj(raw, rpath)
        range_type = range_.get("type")
        if range_type == "GIT":
            continue
        if range_type != "ECOSYSTEM":
            raise RecordError(f"{rpath}.type {_type_name(range_type)} is not ECOSYSTEM or GIT")
        ranges += _ranges(range_.get("events"), f"{rpath}.events", _android_version)
    if any(_major(r.start) == "" or _major(r.end) == "" for r in ranges):
        raise _Skip("kernel")  # ":0" / ":2022-06-05": the bulletin's kernel shape
    covered = {_major(v) for r in ranges for v in (r.start, r.end) if v is not None}
    uncovered = 0
    for k, listed_version in enumerate(listed):
        if ":" in listed_version:
            exact = _android_version(listed_version, f"{path}.versions[{k}]")
            ranges.append(VersionRange.exactly(exact))
        elif listed_version not in covered:
            uncovered += 1
    if not ranges:
        raise _Skip("android without patch level")
    check_range_count(len(ranges))
    notes = ["android without patch level"] * uncovered
    return Affected(Product.ANDROID, tuple(ranges), component=name), notes


def _major(android_version: str | None) -> str | None:
    return None if android_version is None else android_version.partition(":")[0]


# --- other ecosystems -------------------------------------------------------------------------


def _app(
    entry: dict[str, Any], ecosystem: str, name: str, package: dict[str, Any], path: str
) -> Affected:
    purl = opt_ident(package.get("purl"), f"{path}.package.purl")
    ranges: list[VersionRange] = []
    git_only = False
    for j, raw in enumerate(array(entry.get("ranges"), f"{path}.ranges")):
        rpath = f"{path}.ranges[{j}]"
        range_ = obj(raw, rpath)
        range_type = range_.get("type")
        if range_type == "GIT":
            git_only = True
            continue
        if range_type not in ("SEMVER", "ECOSYSTEM"):
            raise RecordError(
                f"{rpath}.type {_type_name(range_type)} is not SEMVER, ECOSYSTEM or GIT"
            )
        ranges += _ranges(range_.get("events"), f"{rpath}.events", version)
        check_range_count(len(ranges))
    listed = array(entry.get("versions"), f"{path}.versions")
    if not ranges:
        check_range_count(len(listed))
        ranges = [
            VersionRange.exactly(version(v, f"{path}.versions[{k}]")) for k, v in enumerate(listed)
        ]
    if not ranges:
        raise _Skip("git range" if git_only else "no affected versions")
    return Affected(Product.APP, tuple(ranges), package=f"{ecosystem}:{name}", component=purl)


# --- shared -----------------------------------------------------------------------------------


def _type_name(value: object) -> str:
    return shown(value) if isinstance(value, str) else kind(value)


def _ranges(
    events_value: object, path: str, check: Callable[[object, str], str]
) -> list[VersionRange]:
    """OSV events, in order, as ranges: introduced opens one ("0": unbounded), fixed closes it
    exclusively, last_affected inclusively; an open range at the end is unbounded above.
    "limit" only bounds GIT walks and is ignored."""
    events = array(events_value, path)
    if not events:
        raise RecordError(f"{path} is empty")
    ranges: list[VersionRange] = []
    start: str | None = None
    is_open = False
    for j, raw in enumerate(events):
        epath = f"{path}[{j}]"
        event = obj(raw, epath)
        keys = [k for k in _EVENTS if k in event]
        if len(keys) != 1:
            found = "no event" if not keys else "several events"
            raise RecordError(f"{epath} holds {found} (introduced, fixed, last_affected, limit)")
        key = keys[0]
        value = event[key]
        if key == "limit":
            continue
        if key == "introduced":
            value_text = "0" if value == "0" else check(value, f"{epath}.introduced")
            if not is_open:
                start = None if value_text == "0" else value_text
                is_open = True
            continue
        end = check(value, f"{epath}.{key}")
        if not is_open:
            raise RecordError(f"{epath}.{key} {shown(end)} has no introduced event before it")
        ranges.append(VersionRange(start, True, end, key == "last_affected"))
        is_open = False
    if is_open:
        ranges.append(VersionRange(start, True, None, False))
    return ranges


def _entry_severities(entry: dict[str, Any]) -> list[str]:
    return [_free_form_severity(entry.get(f)) for f in ("ecosystem_specific", "database_specific")]


def _free_form_severity(specific: object) -> str:
    """The "severity" of an ecosystem_specific or database_specific object. Those objects are
    free-form in the schema, so anything but a string there is no severity, not an error."""
    severity = specific.get("severity") if isinstance(specific, dict) else None
    return severity.strip()[:40] if isinstance(severity, str) else ""


def _cvss(value: object, path: str) -> list[str]:
    """CVSS vectors of an OSV ``severity`` array ([{"type": "CVSS_V3", "score": "CVSS:3.1/…"}])."""
    vectors = []
    for i, raw in enumerate(array(value, path)):
        item = obj(raw, f"{path}[{i}]")
        if str(item.get("type", "")).startswith("CVSS_"):
            vectors.append(text(item.get("score"), f"{path}[{i}].score", 300))
    return vectors


def _reference_urls(value: object) -> list[str]:
    found = []
    for i, raw in enumerate(array(value, "references")):
        item = obj(raw, f"references[{i}]")
        url = item.get("url")
        if isinstance(url, str):
            found.append(url)
    return found
