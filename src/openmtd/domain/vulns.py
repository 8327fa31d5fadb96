"""Vulnerability management's vocabulary: normalised records from every feed, and findings.

Produced by intel.vuln_feeds (OSV incl. the Android Security Bulletin, CVE JSON 5, SOFA, NVD
CVE API 2.0, CISA KEV, EPSS) and consumed by engines.vulns (matching devices and apps) and,
later, the server. Every importer turns its format into these few types, so matching knows
nothing of the formats.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class VulnSource(StrEnum):
    OSV = "osv"
    CVE5 = "cve5"
    SOFA = "sofa"
    NVD = "nvd"


class Product(StrEnum):
    """What a range applies to. Apps are named by an identifier in `Affected.package`."""

    ANDROID = "android"  # the Android OS; versions "<major>:<security patch level>"
    IOS = "ios"
    IPADOS = "ipados"
    APP = "app"  # a mobile app or library: `package` is a CPE, a purl or "<ecosystem>:<name>"


@dataclass(frozen=True, slots=True)
class VersionRange:
    """Affected versions: from ``start`` to ``end``; ``None`` is unbounded on that side.

    OSV ``introduced`` is an inclusive start, ``fixed`` an exclusive end, ``last_affected`` an
    inclusive end; NVD's four cpeMatch bounds map one to one; one exact version is a range with
    both ends equal and inclusive. Android OS versions are ``"<major>:<YYYY-MM-DD>"`` (a
    ``"<major>:0"`` start means every patch level of that major version); the major version may
    carry a suffix: ``12L`` is a major of its own, ``15-next`` and ``16-qpr2`` count as their
    base major, and an empty major (``":2022-06-05"``, the bulletin's kernel records) applies to
    every major.
    """

    start: str | None = None
    start_inclusive: bool = True
    end: str | None = None
    end_inclusive: bool = False

    @classmethod
    def exactly(cls, version: str) -> VersionRange:
        return cls(version, True, version, True)


@dataclass(frozen=True, slots=True)
class Affected:
    """One product (or app package) and the ranges of it that are vulnerable."""

    product: Product
    ranges: tuple[VersionRange, ...]
    package: str = ""  # APP: "cpe:2.3:a:vendor:product", "pkg:…", "<ecosystem>:<name>"
    component: str = ""  # e.g. ASB "platform/frameworks/base", for the evidence


@dataclass(frozen=True, slots=True)
class VulnRecord:
    """One vulnerability as a feed describes it (several feeds may describe one CVE)."""

    id: str  # the feed's id: "CVE-2024-43093", "ASB-A-202768292"
    source: VulnSource
    aliases: tuple[str, ...] = ()  # other ids, CVE ids first
    summary: str = ""
    published: date | None = None
    modified: str = ""  # ISO 8601 as the feed gives it (incremental re-imports compare it)
    severity: str = ""  # the feed's own word: "Critical", "High" … (ASB, Apple) or ""
    cvss: tuple[str, ...] = ()  # CVSS vector strings, v4 first then v3.x
    affected: tuple[Affected, ...] = ()
    references: tuple[str, ...] = ()
    exploited: bool = False  # the feed itself says it is exploited in the wild (SOFA, Apple)

    @property
    def cve_ids(self) -> tuple[str, ...]:
        ids = (self.id, *self.aliases)
        return tuple(dict.fromkeys(i for i in ids if i.startswith("CVE-")))


@dataclass(frozen=True, slots=True)
class ImportProblem:
    """A record an importer could not use, and why (counted and reported, never fatal)."""

    record: str  # the record's id, or "#<index>" when it has none
    reason: str


@dataclass(frozen=True, slots=True)
class ImportResult:
    records: tuple[VulnRecord, ...]
    problems: tuple[ImportProblem, ...] = ()
    skipped: tuple[
        tuple[str, int], ...
    ] = ()  # deliberately not imported, by reason: (("kernel", 3),)


@dataclass(frozen=True, slots=True)
class KevEntry:
    """One CISA Known Exploited Vulnerabilities entry."""

    cve: str
    vendor: str
    product: str
    name: str
    date_added: date | None
    due_date: date | None
    ransomware: bool  # knownRansomwareCampaignUse == "Known"


@dataclass(frozen=True, slots=True)
class EpssScore:
    cve: str
    score: float  # probability of exploitation in the next 30 days, 0..1
    percentile: float  # 0..1


@dataclass(frozen=True, slots=True)
class VulnFinding:
    """One vulnerability on one device (its OS or one app), with the evidence."""

    vuln_id: str  # the record's id
    cve_ids: tuple[str, ...]
    product: Product
    package: str  # APP: the mapped product identifier; else ""
    app_identifier: str  # APP: the device's package name / bundle id; else ""
    installed_version: str  # what the device runs ("14:2024-01-01" for Android OS)
    matched_range: VersionRange
    source: VulnSource
    component: str = ""  # ANDROID: the bulletin's component, for the evidence
