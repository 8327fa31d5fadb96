"""The records of every feed, arranged so that matching one device is a few bisects.

Each range of each record becomes an `IndexedRange` and goes into one `RangeIndex`:

* Android OS: one per major version (``"14"``, ``"12L"`` …), keyed by security patch level;
  records of no major (the bulletin's kernel records, ``":2022-06-05"``) go into the ``""``
  index, which every Android device is matched against as well;
* iOS and iPadOS: one per product, keyed by version; every range also knows its *fix train*,
  the major version its end lies in (see `IndexedRange.fix_train`);
* apps: one per canonical product identifier (`mapping.package_key`).

A `RangeIndex` keeps the ranges with an end sorted by that end. A device at version ``v`` can
only lie in the ranges whose end is above ``v``, which are a suffix of that list found by one
bisect; each of those still has its start checked, which for the usual ranges (no start, or a
start in the same train) costs nothing. Ranges without an end are sorted by start (a bisect
again), and ranges with neither bound always apply. Results come nearest fix first.

A range that cannot be indexed (a bound that is not a version, an Android bound without a patch
level such as NVD's ``"12.0"``, a package that is no product identifier) is left out and
reported in `VulnIndex.problems`, never raised.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Generic, TypeVar

from openmtd.domain.vulns import Affected, ImportProblem, Product, VersionRange, VulnRecord
from openmtd.engines.vulns.mapping import package_key
from openmtd.engines.vulns.versions import (
    ANDROID_LINE_PREFIX,
    Order,
    VersionKey,
    parse_version,
)

__all__ = ["ANY_ANDROID_MAJOR", "IndexedRange", "RangeIndex", "VulnIndex"]

#: The Android index of the records that name no major version.
ANY_ANDROID_MAJOR = ""

T = TypeVar("T")
T_key = TypeVar("T_key", str, Product)
#: A bound as the index compares it: (order, flag) with the flag chosen so that plain tuple
#: comparison with a query ``(order, 0)`` honours inclusive and exclusive bounds.
_Bound = tuple[Order, int]


@dataclass(frozen=True, slots=True)
class IndexedRange:
    """One range of one record, ready for matching."""

    record: int  # position in `VulnIndex.records`
    product: Product
    range: VersionRange
    package: str = ""  # APP: canonical product identifier
    target_sw: str = ""  # APP: the CPE's target software ("android", "iphone_os") or ""
    #: iOS/iPadOS: the major version in which this range's end is the fix ("< 17.7.2" -> 17),
    #: None when the range has no end or its end is the first release of a train ("< 18.0").
    fix_train: int | None = None
    component: str = ""  # ANDROID: the bulletin's component ("platform/frameworks/base")


class RangeIndex(Generic[T]):
    """Version ranges of one line (one product, one Android major), queried by a version."""

    __slots__ = ("_always", "_ends", "_ended", "_open_ended", "_starts")

    def __init__(
        self, items: Iterable[tuple[VersionKey | None, VersionKey | None, VersionRange, T]]
    ) -> None:
        ended: list[tuple[_Bound, _Bound | None, T]] = []
        open_ended: list[tuple[_Bound, T]] = []
        always: list[T] = []
        for start, end, affected, payload in items:
            start_bound = None if start is None else _start_bound(start, affected)
            if end is not None:
                ended.append((_end_bound(end, affected), start_bound, payload))
            elif start_bound is not None:
                open_ended.append((start_bound, payload))
            else:
                always.append(payload)
        ended.sort(key=_first)
        open_ended.sort(key=_first)
        self._ends: list[_Bound] = [end for end, _start, _payload in ended]
        self._ended: list[tuple[_Bound | None, T]] = [(s, p) for _e, s, p in ended]
        self._starts: list[_Bound] = [start for start, _payload in open_ended]
        self._open_ended: list[T] = [payload for _start, payload in open_ended]
        self._always: tuple[T, ...] = tuple(always)

    def __len__(self) -> int:
        return len(self._ended) + len(self._open_ended) + len(self._always)

    def containing(self, order: Order) -> Iterator[T]:
        """The payloads of the ranges that contain the version, nearest end first."""
        query: _Bound = (order, 0)
        ended = self._ended
        for position in range(bisect_right(self._ends, query), len(ended)):
            start, payload = ended[position]
            if start is None or start <= query:
                yield payload
        yield from self._open_ended[: bisect_right(self._starts, query)]
        yield from self._always


class VulnIndex:
    """Every usable range of every record, by product; build it with `VulnIndex.build`."""

    __slots__ = (
        "android",
        "apple",
        "apple_fix_trains",
        "apps",
        "cve_ids",
        "problems",
        "records",
        "records_naming_ipados",
        "vuln_groups",
    )

    def __init__(
        self,
        records: tuple[VulnRecord, ...],
        android: Mapping[str, RangeIndex[IndexedRange]],
        apple: Mapping[Product, RangeIndex[IndexedRange]],
        apple_fix_trains: Mapping[tuple[Product, str], frozenset[int]],
        apps: Mapping[str, RangeIndex[IndexedRange]],
        problems: tuple[ImportProblem, ...],
    ) -> None:
        self.records = records
        self.cve_ids: tuple[tuple[str, ...], ...] = tuple(r.cve_ids for r in records)
        #: The vulnerability each record describes (its first CVE id, else its own id): feeds
        #: that describe one CVE are read together.
        self.vuln_groups: tuple[str, ...] = tuple(vuln_group(r) for r in records)
        self.android = android
        self.apple = apple
        #: (IOS or IPADOS, vulnerability) -> the trains in which any feed names a fix for it.
        self.apple_fix_trains = apple_fix_trains
        #: Records with an iPadOS entry: for the others an iPad falls back to the iOS ranges.
        self.records_naming_ipados = frozenset(
            position
            for position, record in enumerate(records)
            if any(affected.product is Product.IPADOS for affected in record.affected)
        )
        self.apps = apps
        self.problems = problems

    @classmethod
    def build(cls, records: Iterable[VulnRecord]) -> VulnIndex:
        builder = _Builder()
        kept = tuple(records)
        for position, record in enumerate(kept):
            builder.add(position, record)
        return cls(
            kept,
            _frozen(builder.android),
            _frozen(builder.apple),
            MappingProxyType(
                {key: frozenset(trains) for key, trains in builder.fix_trains.items()}
            ),
            _frozen(builder.apps),
            tuple(builder.problems),
        )

    def __len__(self) -> int:
        return len(self.records)

    def range_count(self) -> int:
        groups = (*self.android.values(), *self.apple.values(), *self.apps.values())
        return sum(len(group) for group in groups)


# --------------------------------------------------------------------------------------------

_Item = tuple[VersionKey | None, VersionKey | None, VersionRange, IndexedRange]


class _Builder:
    def __init__(self) -> None:
        self.android: dict[str, list[_Item]] = {}
        self.apple: dict[Product, list[_Item]] = {}
        self.apps: dict[str, list[_Item]] = {}
        self.fix_trains: dict[tuple[Product, str], set[int]] = {}
        self._group = ""
        self.problems: list[ImportProblem] = []
        self._seen: set[tuple[int, Product, str, VersionRange]] = set()

    def add(self, position: int, record: VulnRecord) -> None:
        self._group = vuln_group(record)
        for affected in record.affected:
            for affected_range in affected.ranges:
                reason = self._add_range(position, affected, affected_range)
                if reason:
                    self.problems.append(ImportProblem(record.id, reason))

    def _add_range(self, position: int, affected: Affected, rng: VersionRange) -> str:
        bounds = _bounds(rng)
        if isinstance(bounds, str):
            return bounds
        start, end = bounds
        if affected.product is Product.ANDROID:
            return self._add_android(position, affected.component, rng, start, end)
        if affected.product in (Product.IOS, Product.IPADOS):
            return self._add_apple(position, affected.product, rng, start, end)
        return self._add_app(position, affected, rng, start, end)

    def _add_android(
        self,
        position: int,
        component: str,
        rng: VersionRange,
        start: VersionKey | None,
        end: VersionKey | None,
    ) -> str:
        lines = {key.line for key in (start, end) if key is not None}
        if not lines:
            return "an Android OS range without bounds names no major version"
        if len(lines) > 1:
            return f"an Android OS range spans majors: {rng.start!r} to {rng.end!r}"
        line = lines.pop()
        if not line.startswith(ANDROID_LINE_PREFIX):
            return (
                f"Android OS bound {rng.start or rng.end!r} has no security patch level "
                "('<major>:<YYYY-MM-DD>'): it cannot be matched"
            )
        if self._is_duplicate(position, Product.ANDROID, line, rng):
            return ""
        major = line[len(ANDROID_LINE_PREFIX) :]
        entry = IndexedRange(position, Product.ANDROID, rng, component=component)
        self.android.setdefault(major, []).append((start, end, rng, entry))
        return ""

    def _add_apple(
        self,
        position: int,
        product: Product,
        rng: VersionRange,
        start: VersionKey | None,
        end: VersionKey | None,
    ) -> str:
        if any(key is not None and key.line for key in (start, end)):
            return f"{product.value} bound is an Android patch level: {rng.start!r}, {rng.end!r}"
        if self._is_duplicate(position, product, "", rng):
            return ""
        fix_train = _fix_train(end, rng.end_inclusive)
        if fix_train is not None:
            self.fix_trains.setdefault((product, self._group), set()).add(fix_train)
        entry = IndexedRange(position, product, rng, fix_train=fix_train)
        self.apple.setdefault(product, []).append((start, end, rng, entry))
        return ""

    def _add_app(
        self,
        position: int,
        affected: Affected,
        rng: VersionRange,
        start: VersionKey | None,
        end: VersionKey | None,
    ) -> str:
        key = package_key(affected.package)
        if key is None:
            return f"app package {str(affected.package)[:80]!r} is not a CPE, purl or OSV name"
        if any(bound is not None and bound.line for bound in (start, end)):
            return f"app bound is an Android patch level: {rng.start!r}, {rng.end!r}"
        if self._is_duplicate(position, Product.APP, key.key + "|" + key.target_sw, rng):
            return ""
        entry = IndexedRange(position, Product.APP, rng, key.key, key.target_sw)
        self.apps.setdefault(key.key, []).append((start, end, rng, entry))
        return ""

    def _is_duplicate(self, position: int, product: Product, group: str, rng: VersionRange) -> bool:
        identity = (position, product, group, rng)
        if identity in self._seen:
            return True
        self._seen.add(identity)
        return False


def _bounds(rng: VersionRange) -> tuple[VersionKey | None, VersionKey | None] | str:
    start = None if rng.start is None else parse_version(rng.start)
    if rng.start is not None and start is None:
        return f"range start {str(rng.start)[:80]!r} is not a version"
    end = None if rng.end is None else parse_version(rng.end)
    if rng.end is not None and end is None:
        return f"range end {str(rng.end)[:80]!r} is not a version"
    return start, end


def vuln_group(record: VulnRecord) -> str:
    """What makes records of different feeds "the same vulnerability": the first CVE id."""
    ids = record.cve_ids
    return ids[0] if ids else record.id


def _fix_train(end: VersionKey | None, inclusive: bool) -> int | None:
    if end is None:
        return None
    release, phase, _suffix = end.order
    if not inclusive and len(release) <= 1 and phase <= 0:
        return None  # "< 18" / "< 18.0" / "< 18.0-beta": nothing of train 18 is in the range
    return end.train


def _start_bound(start: VersionKey, rng: VersionRange) -> _Bound:
    return (start.order, 0 if rng.start_inclusive else 1)


def _end_bound(end: VersionKey, rng: VersionRange) -> _Bound:
    return (end.order, 1 if rng.end_inclusive else 0)


def _first(item: tuple[_Bound, object] | tuple[_Bound, object, object]) -> _Bound:
    return item[0]


def _frozen(groups: Mapping[T_key, list[_Item]]) -> Mapping[T_key, RangeIndex[IndexedRange]]:
    return MappingProxyType({name: RangeIndex(items) for name, items in groups.items()})
