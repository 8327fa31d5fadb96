"""Which vulnerabilities a device has: its OS by patch level or version, its apps by mapping.

* Android OS: the device's major version (``os_version`` ``"14"`` -> ``"14"``, ``"8.1.0"`` ->
  ``"8.1"``, ``"12L"``) picks the records of that major, plus those of no major; the device is
  vulnerable to a record when its security patch level lies in the record's range, i.e. is
  older than the fixed level (a patch level equal to the fix is patched). Without a patch level
  nothing can be said and a problem says so.
* iOS and iPadOS: an iPad (``"iPad"`` in the model, as both collectors report it) is matched
  against iPadOS ranges, anything else against iOS ranges. A record that names no iPadOS at all
  applies its iOS ranges to iPads too: Apple ships "iOS and iPadOS" updates together and some
  feeds (SOFA's iOS feed, NVD's older records) list iOS only.
  Ranges are read *per train*: when any feed names a fix for the vulnerability (the same first
  CVE id) in the device's own major version (a range ending in ``17.7.2`` for a device on
  17.4), only the ranges of that train decide, so a device on 17.7.5 is not called vulnerable
  by the same or another feed's ``< 18.2``; when no feed names a fix in the device's train
  (Apple did not backport), every range decides.
* Apps: every product identifier the mapping gives for the app's package name or bundle id is
  looked up; a CPE ``target_sw`` of ``android`` applies to Android only, of ``iphone_os``,
  ``ios``, ``ipados`` or ``ipad_os`` to iOS only, of any other platform to neither.

Every finding carries its evidence: the record's id and CVE ids, the product, the app's
identifier and product identifier, the version the device runs and the range it lies in (the
nearest fix when several ranges of one record contain it). Each record is reported at most
once per OS and once per app product.

`Matcher` remembers what it has worked out for each (OS version, patch level) and each (app,
version) it has seen, so a fleet of 100,000 devices costs little more than its distinct
versions; `match_device` and `match_fleet` are the plain entry points.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from openmtd.domain.device import AppInfo, DeviceFacts
from openmtd.domain.enums import Platform
from openmtd.domain.vulns import Product, VulnFinding
from openmtd.engines.vulns.index import ANY_ANDROID_MAJOR, IndexedRange, VulnIndex
from openmtd.engines.vulns.mapping import AppMapping
from openmtd.engines.vulns.versions import Order, android_major, parse_version

__all__ = [
    "DeviceMatch",
    "Matcher",
    "apple_product",
    "match_device",
    "match_device_report",
    "match_fleet",
]

#: How many results a `Matcher` remembers before it starts afresh (bounds its memory).
DEFAULT_MEMO_LIMIT = 1 << 20

_TARGET_PLATFORMS: dict[str, Platform] = {
    "android": Platform.ANDROID,
    "iphone_os": Platform.IOS,
    "ios": Platform.IOS,
    "ipados": Platform.IOS,
    "ipad_os": Platform.IOS,
}
_K = TypeVar("_K", bound=Hashable)
_Result = tuple[tuple[VulnFinding, ...], tuple[str, ...]]
_NOTHING_FOUND: _Result = ((), ())


@dataclass(frozen=True, slots=True)
class DeviceMatch:
    """A device's findings, and why any part of it could not be judged."""

    findings: tuple[VulnFinding, ...]
    problems: tuple[str, ...] = ()


def apple_product(facts: DeviceFacts) -> Product:
    """IPADOS for an iPad (by its model name or identifier), IOS for anything else."""
    model = facts.model if isinstance(facts.model, str) else ""
    return Product.IPADOS if "ipad" in model.lower() else Product.IOS


def match_device(index: VulnIndex, facts: DeviceFacts, mapping: AppMapping) -> list[VulnFinding]:
    """The vulnerabilities of one device's OS and apps."""
    return list(Matcher(index, mapping).match(facts).findings)


def match_device_report(index: VulnIndex, facts: DeviceFacts, mapping: AppMapping) -> DeviceMatch:
    """Like `match_device`, with the reasons why parts of the device could not be judged."""
    return Matcher(index, mapping).match(facts)


def match_fleet(
    index: VulnIndex, devices: Iterable[DeviceFacts], mapping: AppMapping
) -> Iterator[tuple[int, list[VulnFinding]]]:
    """``(position, findings)`` for every device in turn: the full re-match of a fleet."""
    matcher = Matcher(index, mapping)
    for position, facts in enumerate(devices):
        yield position, list(matcher.match(facts).findings)


class Matcher:
    """Matches devices against one index and mapping, remembering per-version results.

    The memory is a cache of pure results: the answers are the same with or without it.
    """

    __slots__ = ("_apps", "_index", "_mapping", "_memo_limit", "_os")

    def __init__(
        self, index: VulnIndex, mapping: AppMapping, *, memo_limit: int = DEFAULT_MEMO_LIMIT
    ) -> None:
        self._index = index
        self._mapping = mapping
        self._memo_limit = memo_limit
        self._os: dict[tuple[object, ...], _Result] = {}
        self._apps: dict[tuple[Platform, str, str], _Result] = {}

    def match(self, facts: DeviceFacts) -> DeviceMatch:
        findings, problems = self._os_result(facts)
        found = list(findings)
        trouble = list(problems)
        memo = self._apps
        platform = facts.platform
        for app in facts.apps:
            result = memo.get((platform, app.identifier, app.version))
            if result is None:
                result = self._remember_app(platform, app)
            if result is not _NOTHING_FOUND:
                found.extend(result[0])
                trouble.extend(result[1])
        return DeviceMatch(tuple(found), tuple(trouble))

    # --- the OS --------------------------------------------------------------------------

    def _os_result(self, facts: DeviceFacts) -> _Result:
        if facts.platform is Platform.ANDROID:
            key: tuple[object, ...] = (
                Platform.ANDROID,
                facts.os_version,
                facts.security_patch_level,
            )
        elif facts.platform is Platform.IOS:
            key = (apple_product(facts), facts.os_version)
        else:
            return ((), (f"platform {facts.platform!r} has no OS vulnerability data",))
        result = self._os.get(key)
        if result is None:
            if facts.platform is Platform.ANDROID:
                result = _android_os(self._index, facts)
            else:
                result = _apple_os(self._index, apple_product(facts), facts.os_version)
            self._remember(self._os, key, result)
        return result

    # --- apps ----------------------------------------------------------------------------

    def _remember_app(self, platform: Platform, app: AppInfo) -> _Result:
        result = _app(self._index, self._mapping, platform, app)
        self._remember(self._apps, (platform, app.identifier, app.version), result)
        return result

    def _remember(self, memo: dict[_K, _Result], key: _K, result: _Result) -> None:
        if len(memo) >= self._memo_limit:
            memo.clear()
        memo[key] = result


# --------------------------------------------------------------------------------------------


def _android_os(index: VulnIndex, facts: DeviceFacts) -> _Result:
    major = android_major(facts.os_version)
    if major is None:
        return ((), (f"Android release {str(facts.os_version)[:40]!r} names no major version",))
    level = facts.security_patch_level
    if level is None:
        return ((), ("no security patch level reported: the Android OS cannot be matched",))
    problems: tuple[str, ...] = ()
    own = index.android.get(major)
    if own is None:
        problems = (f"the vulnerability feeds hold no records for Android {major}",)
    order: Order = ((level.toordinal(),), 0, ())
    candidates: list[IndexedRange] = []
    if own is not None:
        candidates.extend(own.containing(order))
    any_major = index.android.get(ANY_ANDROID_MAJOR)
    if any_major is not None:
        candidates.extend(any_major.containing(order))
    installed = f"{major}:{level.isoformat()}"
    return _os_findings(index, candidates, installed), problems


def _apple_os(index: VulnIndex, product: Product, os_version: str) -> _Result:
    key = parse_version(os_version)
    if key is None or key.is_patch_level:
        return ((), (f"{product.value} version {str(os_version)[:40]!r} is not a version",))
    train = key.train
    candidates: list[IndexedRange] = []
    own = index.apple.get(product)
    if own is not None:
        candidates.extend(_in_train(index, own.containing(key.order), train))
    if product is Product.IPADOS:
        ios = index.apple.get(Product.IOS)
        if ios is not None:
            fallback = (
                entry
                for entry in ios.containing(key.order)
                if entry.record not in index.records_naming_ipados
            )
            candidates.extend(_in_train(index, fallback, train))
    return _os_findings(index, candidates, os_version), ()


def _in_train(
    index: VulnIndex, entries: Iterable[IndexedRange], train: int
) -> Iterator[IndexedRange]:
    """The entries that decide for a device of ``train`` (see the module's "per train")."""
    fix_trains = index.apple_fix_trains
    groups = index.vuln_groups
    for entry in entries:
        trains = fix_trains.get((entry.product, groups[entry.record]))
        if trains is None or train not in trains or entry.fix_train == train:
            yield entry


def _os_findings(
    index: VulnIndex, entries: Iterable[IndexedRange], installed: str
) -> tuple[VulnFinding, ...]:
    seen: set[int] = set()
    findings: list[VulnFinding] = []
    records = index.records
    cve_ids = index.cve_ids
    for entry in entries:
        position = entry.record
        if position in seen:
            continue
        seen.add(position)
        record = records[position]
        findings.append(
            VulnFinding(
                record.id,
                cve_ids[position],
                entry.product,
                "",
                "",
                installed,
                entry.range,
                record.source,
                entry.component,
            )
        )
    return tuple(findings)


def _app(index: VulnIndex, mapping: AppMapping, platform: Platform, app: AppInfo) -> _Result:
    products = mapping.products_for(app.identifier)
    if not products:
        return _NOTHING_FOUND
    groups = [group for group in (index.apps.get(product) for product in products) if group]
    if not groups:
        return _NOTHING_FOUND
    key = parse_version(app.version)
    if key is None or key.is_patch_level:
        problem = (
            f"app {str(app.identifier)[:80]}: version {str(app.version)[:40]!r} is not a version"
        )
        return (), (problem,)
    findings: list[VulnFinding] = []
    records = index.records
    cve_ids = index.cve_ids
    identifier, version = app.identifier, app.version
    for group in groups:  # one product identifier each
        seen: set[int] = set()
        for entry in group.containing(key.order):
            position = entry.record
            if position in seen or (
                entry.target_sw and _TARGET_PLATFORMS.get(entry.target_sw) is not platform
            ):
                continue
            seen.add(position)
            record = records[position]
            findings.append(
                VulnFinding(
                    record.id,
                    cve_ids[position],
                    Product.APP,
                    entry.package,
                    identifier,
                    version,
                    entry.range,
                    record.source,
                )
            )
    return (tuple(findings), ()) if findings else _NOTHING_FOUND
