"""App reputation: custom and feed app indicators looked up for one installed app, explained.

Semantics (the web indicators', applied to apps):
- a file-hash indicator names one APK (SHA-256, SHA-1 or MD5 of the file); a certificate
  indicator every app signed with that certificate; a package indicator every app of that
  package name (or iOS bundle id), exactly and case-sensitively;
- the most specific kind of match decides: file hash, then signing certificate, then package;
- within that kind Allow > Audit > Warn > Block (`IndicatorAction.precedence`);
- expired indicators, and indicators scoped to device groups the device is not in, do not match;
- every live match is reported, the deciding one first, each with one sentence saying why.

An index is immutable and built once (a few dict inserts per indicator); a check is a handful of
dict lookups, and one that matches nothing allocates nothing. It is evaluated for every app of
every device when inventories change.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from openmtd.domain.apps import AppFingerprint, AppMatch, AppReputation
from openmtd.domain.web import Indicator, IndicatorMeta, IndicatorType, MatchKind
from openmtd.engines.apps.identifiers import short_hash

_FILE_TYPES = frozenset(
    {IndicatorType.FILE_SHA256, IndicatorType.FILE_SHA1, IndicatorType.FILE_MD5}
)
_CERT_TYPES = frozenset(
    {IndicatorType.CERT_SHA256, IndicatorType.CERT_SHA1, IndicatorType.CERT_MD5}
)

# How a sentence names each type.
_KIND_WORDS = {
    IndicatorType.FILE_SHA256: "APK file SHA-256",
    IndicatorType.FILE_SHA1: "APK file SHA-1",
    IndicatorType.FILE_MD5: "APK file MD5",
    IndicatorType.CERT_SHA256: "signing certificate SHA-256",
    IndicatorType.CERT_SHA1: "signing certificate SHA-1",
    IndicatorType.CERT_MD5: "signing certificate MD5",
    IndicatorType.PACKAGE: "package name",
}

_NOTHING = AppReputation(decision=None)

# (type, meta) pairs of one value; a tuple, as most values carry exactly one indicator
_Hits = tuple[tuple[IndicatorType, IndicatorMeta], ...]


class AppIndex:
    """App indicators compiled into three dicts (file hashes, certificates, packages).

    Hash keys of different algorithms never collide (64, 40 and 32 digits), so one dict per
    kind serves all three algorithms. Web indicators given to it are ignored.
    """

    __slots__ = ("_certs", "_files", "_packages", "count")

    def __init__(self, indicators: Iterable[Indicator] = ()) -> None:
        files: dict[str, _Hits] = {}
        certs: dict[str, _Hits] = {}
        packages: dict[str, _Hits] = {}
        tables = dict.fromkeys(_FILE_TYPES, files) | dict.fromkeys(_CERT_TYPES, certs)
        tables[IndicatorType.PACKAGE] = packages
        count = 0
        for indicator in indicators:
            kind = indicator.type
            table = tables.get(kind)
            if table is None:
                continue  # a web indicator: engines.web judges those
            value = indicator.value
            hits = table.get(value)
            # a value rarely has more than one indicator: concatenating tuples is cheap enough
            table[value] = (
                ((kind, indicator.meta),) if hits is None else (*hits, (kind, indicator.meta))
            )
            count += 1
        self.count = count
        self._files = files
        self._certs = certs
        self._packages = packages

    @classmethod
    def merge(cls, indexes: Iterable[AppIndex]) -> AppIndex:
        """One index holding every indicator of `indexes` (e.g. one per feed plus the custom
        indicators), without re-reading the indicators."""
        merged = cls()
        for index in indexes:
            merged.count += index.count
            for mine, theirs in (
                (merged._files, index._files),
                (merged._certs, index._certs),
                (merged._packages, index._packages),
            ):
                for value, hits in theirs.items():
                    mine[value] = mine.get(value, ()) + hits
        return merged

    def __len__(self) -> int:
        return self.count

    def check(
        self, fp: AppFingerprint, *, now: datetime, device_groups: frozenset[str] | None
    ) -> AppReputation:
        """Every live indicator matching `fp`, the deciding one first (see the module doc)."""
        files, certs, packages = self._files, self._certs, self._packages
        found: list[tuple[int, IndicatorType, str, IndicatorMeta]] = []
        if files:
            for value in (fp.sha256, fp.sha1, fp.md5):
                if value:
                    hits = files.get(value)
                    if hits is None:  # upper-case hex from a collector?
                        lowered = value.lower()
                        if lowered != value:
                            value, hits = lowered, files.get(lowered)
                    if hits:
                        found.extend((0, t, value, m) for t, m in hits)
        if certs:
            for value in (fp.signer_sha256, fp.signer_sha1, fp.signer_md5):
                if value:
                    hits = certs.get(value)
                    if hits is None:  # upper-case hex from a collector?
                        lowered = value.lower()
                        if lowered != value:
                            value, hits = lowered, certs.get(lowered)
                    if hits:
                        found.extend((1, t, value, m) for t, m in hits)
        if fp.package:
            hits = packages.get(fp.package)
            if hits:
                found.extend((2, t, fp.package, m) for t, m in hits)
        if not found:
            return _NOTHING
        live = [f for f in found if f[3].applies(now=now, device_groups=device_groups)]
        if not live:
            return _NOTHING
        if len(live) > 1:
            live.sort(key=lambda f: (f[0], f[3].action.precedence))  # stable: feed order
        matches = tuple(
            AppMatch(meta=m, indicator_type=t, value=v, reason=_reason(t, v, m))
            for _, t, v, m in live
        )
        return AppReputation(decision=matches[0], matches=matches)


def _reason(kind: IndicatorType, value: str, meta: IndicatorMeta) -> str:
    """One sentence: what matched (hashes shortened) and which indicator or feed names it."""
    shown = value if kind is IndicatorType.PACKAGE else short_hash(value)
    what = f"{_KIND_WORDS[kind]} {shown}"
    if meta.kind is MatchKind.INDICATOR:
        title = f" '{meta.title}'" if meta.title else ""
        return f"{what} matches custom indicator {meta.source}{title}"
    if meta.kind is MatchKind.FEED:
        title = f" ({meta.title})" if meta.title else ""
        return f"{what} is on feed '{meta.source}'{title}"
    return f"{what} is listed by {meta.title or meta.source}"
