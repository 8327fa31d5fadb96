"""Security recommendations: which update fixes what, on how many devices, ranked by impact.

The findings of a fleet are grouped by the remediation that removes them:

* iOS / iPadOS: by product and *fix train*, the major version the range's end lies in. The
  target is the smallest version that fixes every finding of the group, the largest of their
  range ends: ``"Update iOS to 18.3.2: fixes 23 CVEs, 2 actively exploited, on 37 devices"``.
  A device on 17.x affected by a record Apple fixed only in 18.2 is in the train-18 group. An
  iPad is told about iPadOS whatever product its findings carry (Apple ships both together).
* Android OS: by major version (the device's); the target is the latest fixed security patch
  level among the findings: ``"Update Android 14 devices to security patch level 2024-03-01 or
  later: fixes …"``.
* Apps: by app (package name or bundle id) and the product identifier its findings came from;
  the target is the largest fixed version: ``"Update Telegram (org.telegram.messenger) to
  10.14.5 or later: fixes …"``. The app's name is the one the devices report most often (then
  the smallest), else one derived from the product identifier.

When the largest end of a group is inclusive (OSV ``last_affected``), the next release cannot be
known and the target reads "a version after X" (Android: "a security patch level after X").
Findings without an end (no fix known yet) go into "No fix available yet for iOS 17: 3 CVEs, 1
actively exploited, on 5 devices" recommendations, grouped the same way (iOS by the device's own
train); so do findings whose end is not a version.

Counts: CVEs are distinct CVE ids (a record without one counts under its own id and the title
then says "vulnerabilities"); "actively exploited" counts those whose severity says exploited
(KEV or the feed), or whose record does when no severity is known; the part is left out when
none is. Devices are distinct device ids.

Ranking (`Recommendation.impact`): the exposure the recommendation removes, summed over its
devices: for each device, its exposure now minus its exposure once this recommendation's
findings are gone (the unrounded `scoring.ExposureScore.exact`; a CVE that another finding of
the device still carries stays). Updates come first, then "no fix" notices, each by impact
(largest first), then more exploited CVEs, then CVEs × devices, then the id.

The id is ``"rec-"`` and 16 hex digits of a SHA-256 over the kind, product, train or major,
app and product identifier and the target: the same advice always has the same id.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from openmtd.domain.device import DeviceFacts
from openmtd.domain.enums import Platform
from openmtd.domain.vulns import Product, VulnFinding, VulnRecord
from openmtd.engines.vulns.mapping import package_key
from openmtd.engines.vulns.match import apple_product
from openmtd.engines.vulns.scoring import VulnSeverity, exposure_for_ids, finding_vuln_ids
from openmtd.engines.vulns.versions import Order, android_major, parse_version

__all__ = [
    "DeviceContext",
    "Recommendation",
    "RecommendationKind",
    "recommend",
]

#: How many device exposures `recommend` remembers at once (fleets share OS and app versions).
_MEMO_LIMIT = 1 << 16
_APPLE = (Product.IOS, Product.IPADOS)
_PRODUCT_NAMES = {Product.IOS: "iOS", Product.IPADOS: "iPadOS", Product.ANDROID: "Android"}


class RecommendationKind(StrEnum):
    UPDATE_OS = "update-os"
    UPDATE_APP = "update-app"
    NO_FIX = "no-fix"


@dataclass(frozen=True, slots=True)
class DeviceContext:
    """What recommendations need to know of a device besides its findings."""

    product: Product  # ANDROID, IOS or IPADOS
    line: str  # Android major ("14", "12L") or iOS/iPadOS train ("17")
    installed_version: str  # "17.4", or "14:2024-01-01" for Android
    app_names: Mapping[str, str] = field(default_factory=dict)  # identifier -> name

    @classmethod
    def from_facts(cls, facts: DeviceFacts) -> DeviceContext:
        names = {app.identifier: app.name for app in facts.apps if app.name}
        if facts.platform is Platform.ANDROID:
            major = android_major(facts.os_version) or ""
            level = facts.security_patch_level
            installed = f"{major}:{level.isoformat()}" if level is not None else major
            return cls(Product.ANDROID, major, installed, names)
        product = apple_product(facts)
        key = parse_version(facts.os_version)
        train = str(key.train) if key is not None and not key.is_patch_level else ""
        return cls(product, train, facts.os_version, names)


@dataclass(frozen=True, slots=True)
class Recommendation:
    id: str
    kind: RecommendationKind
    title: str
    product: Product
    subject: str  # "iOS", "Android 14", "Telegram (org.telegram.messenger)", "iOS 17"
    line: str  # iOS/iPadOS train, Android major; "" for apps
    app_identifier: str  # apps: the package name or bundle id
    package: str  # apps: the product identifier the findings came from
    target_version: str  # "17.4.1", "2024-03-01" (Android patch level), "10.14.5"; "" no fix
    target_is_after: bool  # True: a version *after* target_version (an inclusive range end)
    cve_ids: tuple[str, ...]  # sorted; a record's own id when it names no CVE
    exploited_ids: tuple[str, ...]
    device_ids: tuple[str, ...]  # sorted
    impact: float  # exposure points removed, summed over the devices (4 decimals)

    @property
    def exploited_count(self) -> int:
        return len(self.exploited_ids)

    @property
    def device_count(self) -> int:
        return len(self.device_ids)


def recommend(
    fleet: Iterable[tuple[str, DeviceContext, Sequence[VulnFinding]]],
    records: Mapping[str, VulnRecord],
    severities: Mapping[str, VulnSeverity],
) -> list[Recommendation]:
    """The recommendations for a fleet of ``(device id, context, findings)``, best first."""
    groups: dict[_GroupKey, _Group] = {}
    devices: dict[str, dict[_GroupKey, set[str]]] = {}
    app_names: dict[str, Counter[str]] = {}
    for device_id, context, findings in fleet:
        per_group = devices.setdefault(str(device_id), {})
        for identifier, name in context.app_names.items():
            app_names.setdefault(identifier, Counter())[name] += 1
        for finding in findings:
            key, end = _classify(context, finding)
            group = groups.setdefault(key, _Group())
            ids = finding_vuln_ids(finding)
            group.add(str(device_id), ids, end)
            per_group.setdefault(key, set()).update(ids)
    impacts = _impacts(devices, severities)
    recommendations = [
        _recommendation(key, group, records, severities, impacts.get(key, 0.0), app_names)
        for key, group in groups.items()
    ]
    recommendations.sort(key=_ranking)
    return recommendations


# --- grouping ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _GroupKey:
    kind: RecommendationKind
    product: Product
    line: str = ""
    app_identifier: str = ""
    package: str = ""


#: A range end as groups compare it: (order, 1 when inclusive), and the end's text.
_End = tuple[tuple[Order, int], str]


class _Group:
    __slots__ = ("device_ids", "end", "vuln_ids")

    def __init__(self) -> None:
        self.device_ids: set[str] = set()
        self.vuln_ids: set[str] = set()
        self.end: _End | None = None

    def add(self, device_id: str, vuln_ids: Iterable[str], end: _End | None) -> None:
        self.device_ids.add(device_id)
        self.vuln_ids.update(vuln_ids)
        if end is not None and (self.end is None or end[0] > self.end[0]):
            self.end = end


def _classify(context: DeviceContext, finding: VulnFinding) -> tuple[_GroupKey, _End | None]:
    end_text = finding.matched_range.end
    end_key = parse_version(end_text) if end_text is not None else None
    end: _End | None = None
    if end_key is not None and end_text is not None:
        end = ((end_key.order, 1 if finding.matched_range.end_inclusive else 0), end_text)
    if finding.product is Product.APP:
        kind = RecommendationKind.UPDATE_APP if end is not None else RecommendationKind.NO_FIX
        app = _GroupKey(kind, Product.APP, "", finding.app_identifier, finding.package)
        return app, end
    if finding.product is Product.ANDROID:
        major = _android_line(context, finding)
        if end is None or end_key is None or not end_key.is_patch_level:
            return _GroupKey(RecommendationKind.NO_FIX, Product.ANDROID, major), None
        return _GroupKey(RecommendationKind.UPDATE_OS, Product.ANDROID, major), end
    product = context.product if context.product in _APPLE else finding.product
    if end is None or end_key is None or end_key.is_patch_level:
        return _GroupKey(RecommendationKind.NO_FIX, product, _apple_line(context, finding)), None
    return _GroupKey(RecommendationKind.UPDATE_OS, product, str(end_key.train)), end


def _android_line(context: DeviceContext, finding: VulnFinding) -> str:
    if context.product is Product.ANDROID and context.line:
        return context.line
    return android_major(finding.installed_version.split(":", 1)[0]) or "?"


def _apple_line(context: DeviceContext, finding: VulnFinding) -> str:
    if context.product in _APPLE and context.line:
        return context.line
    key = parse_version(finding.installed_version)
    return str(key.train) if key is not None and not key.is_patch_level else "?"


# --- impact ------------------------------------------------------------------------------


def _impacts(
    devices: Mapping[str, Mapping[_GroupKey, set[str]]],
    severities: Mapping[str, VulnSeverity],
) -> dict[_GroupKey, float]:
    exposure_memo: dict[frozenset[str], float] = {}

    def exposure(ids: frozenset[str]) -> float:
        known = exposure_memo.get(ids)
        if known is None:
            known = exposure_for_ids(ids, severities).exact
            if len(exposure_memo) >= _MEMO_LIMIT:
                exposure_memo.clear()
            exposure_memo[ids] = known
        return known

    impacts: dict[_GroupKey, float] = {}
    for per_group in devices.values():
        everything = frozenset(i for ids in per_group.values() for i in ids)
        now = exposure(everything)
        for key in per_group:
            kept = frozenset(i for other, ids in per_group.items() if other != key for i in ids)
            impacts[key] = impacts.get(key, 0.0) + max(now - exposure(kept), 0.0)
    return impacts


# --- the recommendation ------------------------------------------------------------------


def _recommendation(
    key: _GroupKey,
    group: _Group,
    records: Mapping[str, VulnRecord],
    severities: Mapping[str, VulnSeverity],
    impact: float,
    app_names: Mapping[str, Counter[str]],
) -> Recommendation:
    vuln_ids = tuple(sorted(group.vuln_ids))
    exploited = tuple(i for i in vuln_ids if _is_exploited(i, records, severities))
    device_ids = tuple(sorted(group.device_ids))
    target, after = ("", False) if group.end is None else (group.end[1], group.end[0][1] == 1)
    if key.product is Product.ANDROID and target:
        target = target.rsplit(":", 1)[-1]
    subject = _subject(key, app_names)
    counts = _counts(vuln_ids, len(exploited), len(device_ids))
    return Recommendation(
        id=_stable_id(key, target),
        kind=key.kind,
        title=_title(key, subject, target, after, counts),
        product=key.product,
        subject=subject,
        line=key.line,
        app_identifier=key.app_identifier,
        package=key.package,
        target_version=target,
        target_is_after=after,
        cve_ids=vuln_ids,
        exploited_ids=exploited,
        device_ids=device_ids,
        impact=round(impact, 4),
    )


def _is_exploited(
    vuln_id: str, records: Mapping[str, VulnRecord], severities: Mapping[str, VulnSeverity]
) -> bool:
    severity = severities.get(vuln_id)
    if severity is not None:
        return severity.exploited
    record = records.get(vuln_id)
    return record is not None and record.exploited


def _subject(key: _GroupKey, app_names: Mapping[str, Counter[str]]) -> str:
    if key.product is Product.APP:
        return f"{_app_name(key, app_names)} ({key.app_identifier})"
    name = _PRODUCT_NAMES[key.product]
    if key.kind is RecommendationKind.NO_FIX or key.product is Product.ANDROID:
        return f"{name} {key.line}"
    return name


def _app_name(key: _GroupKey, app_names: Mapping[str, Counter[str]]) -> str:
    reported = app_names.get(key.app_identifier)
    if reported:
        return min(reported.items(), key=lambda item: (-item[1], item[0]))[0]
    product = package_key(key.package)
    text = product.key if product is not None else key.package
    last = text.replace("/", ":").rstrip(":").rsplit(":", 1)[-1]
    words = last.replace("_", " ").replace("-", " ").strip()
    return (words[:1].upper() + words[1:]) if words else key.app_identifier


def _counts(vuln_ids: Sequence[str], exploited: int, devices: int) -> str:
    if all(i.startswith("CVE-") for i in vuln_ids):
        what = f"{len(vuln_ids)} CVE{'' if len(vuln_ids) == 1 else 's'}"
    else:
        what = f"{len(vuln_ids)} vulnerabilit{'y' if len(vuln_ids) == 1 else 'ies'}"
    exploited_part = f", {exploited} actively exploited," if exploited else ""
    return f"{what}{exploited_part} on {devices} device{'' if devices == 1 else 's'}"


def _title(key: _GroupKey, subject: str, target: str, after: bool, counts: str) -> str:
    if key.kind is RecommendationKind.NO_FIX:
        return f"No fix available yet for {subject}: {counts}"
    if key.product is Product.ANDROID:
        level = (
            f"a security patch level after {target}"
            if after
            else f"security patch level {target} or later"
        )
        return f"Update {subject} devices to {level}: fixes {counts}"
    if key.product is Product.APP:
        version = f"a version after {target}" if after else f"{target} or later"
        return f"Update {subject} to {version}: fixes {counts}"
    version = f"a version after {target}" if after else target
    return f"Update {subject} to {version}: fixes {counts}"


def _stable_id(key: _GroupKey, target: str) -> str:
    parts = (key.kind, key.product, key.line, key.app_identifier, key.package, target)
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8", "replace")).hexdigest()
    return "rec-" + digest[:16]


def _ranking(item: Recommendation) -> tuple[bool, float, int, int, str]:
    return (
        item.kind is RecommendationKind.NO_FIX,
        -item.impact,
        -item.exploited_count,
        -len(item.cve_ids) * item.device_count,
        item.id,
    )
