"""How severe each vulnerability is, and how exposed a device and the organisation are.

Severity of one vulnerability (`record_severity`, `severity_index`)
--------------------------------------------------------------------

A record's *base* (0–10) is, in this order of preference:

1. its best CVSS vector as the ``cvss`` package scores it: a valid v4.0 vector before any v3.1,
   v3.1 before v3.0 (within one version the highest base score);
2. the feed's own severity word, as a representative score: Critical 9.5, High (or Important)
   8.0, Moderate or Medium 5.5, Low 2.5;
3. a CVSS v2 vector (only when neither of the above exists);
4. otherwise the severity is *unknown*, and exposure counts it as `UNKNOWN_BASE` (5.0, a
   Medium): an unscored vulnerability is not a harmless one.

It is *exploited* when the feed says so (``VulnRecord.exploited``: SOFA, Apple, NVD's CISA
date) or when one of its CVE ids is in CISA's KEV catalog. Its EPSS score is the highest one
among its CVE ids. Several feeds describe one CVE; `severity_index` merges their severities per
CVE id: the CVSS-based one wins over a word-based one (then the higher base), exploited when
any says so, the highest EPSS.

Exposure of a device (`exposure_score`)
---------------------------------------

Each distinct vulnerability of the device (one per CVE id; a record without a CVE by its own
id; a CVE found in the OS and in an app counts once) has a *risk*

    r = base / 10 × m

where the exploitation multiplier ``m`` is 1.0 when the vulnerability is exploited, else by its
EPSS score: 0.7 at 0.5 or more, 0.4 at 0.1 or more, 0.2 below 0.1, and 0.25 when EPSS does not
know the CVE. The risks are sorted from the largest down; the one of rank ``i`` (0 for the
largest) counts with the weight ``d**i``, and

    exposure = 100 × (1 − Π (1 − k × r_i × d**i))

rounded half up to an integer, with the damping ``k = 0.9`` and the rank decay ``d = 0.85``.
The band is low for 0–29, medium for 30–69, high for 70–100.

Why this shape:

* each factor lies in [0.1, 1], so the score stays in 0..100, and 100 needs about four
  exploited critical vulnerabilities: one alone gives at most 90;
* monotone: an extra vulnerability multiplies by one more factor and moves the smaller ones one
  rank down, but each rank then holds a risk at least as large as before (the sorted risks of a
  larger set dominate those of the smaller one rank by rank), so no factor grows: the score
  never drops; raising a base, an EPSS score or the exploited flag never lowers it either;
* exploitation weighs most: one exploited vulnerability of base 7.8 (the usual iOS/Android KEV
  entry) is "high" on its own, the same one unexploited with a low EPSS is "low";
* saturating, and volume alone is not enough: because of the rank decay the exposure of any
  number of vulnerabilities of one risk ``r`` tends to a limit below 100. Low ones (base 3.9 at
  most) that are not exploited stay below 38 with EPSS under 0.1, below 46 with EPSS unknown
  and below 63 with EPSS under 0.5; Medium ones (6.9 at most) with EPSS under 0.1 or unknown
  stay below 67: such findings can never make a device "high", however many there are.

Worked examples (the tests check these numbers):

* one exploited (KEV) CVE with CVSS 9.8: r = 0.98, 1 − 0.9 × 0.98 = 0.118, exposure 88, high;
* one exploited CVE with CVSS 7.8: 1 − 0.9 × 0.78 = 0.298, exposure 70.2 → 70, high;
* one unexploited CVE with CVSS 7.8 and EPSS 0.02: r = 0.78 × 0.2 = 0.156, exposure 14.04 → 14,
  low;
* one unexploited CVE with CVSS 9.8 and EPSS 0.6: r = 0.98 × 0.7 = 0.686, exposure 61.74 → 62,
  medium;
* an exploited 7.8 and an unexploited 8.8 with EPSS 0.2 (r = 0.352): factors 0.298 and
  1 − 0.9 × 0.352 × 0.85 = 0.73072, exposure 100 × (1 − 0.21775) = 78.2 → 78, high;
* 50 Low CVEs of CVSS 3.9 and EPSS 0.01 (r = 0.078 each): exposure 37.94 → 38, medium (the
  limit for any number of them is 37.95).

Exposure of the organisation (`organisation_exposure`)
------------------------------------------------------

    organisation = 0.5 × mean(device scores) + 0.5 × p90(device scores)

rounded half up, where p90 is the nearest-rank 90th percentile (the ⌈0.9 × n⌉-th smallest
device score). The mean says how exposed the fleet is as a whole, the percentile keeps a tenth
of badly exposed devices from vanishing in the average. Raising any device's score never lowers
it. An empty fleet is 0, low. Example: device scores 0, 10, 20, 80 → mean 27.5, p90 = 80 (the
4th smallest of 4), organisation 53.75 → 54, medium.

All functions are pure and never raise on malformed input: a vector the ``cvss`` package cannot
read scores ``None``, an EPSS value outside 0..1 counts as unknown.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from cvss import CVSS2, CVSS3, CVSS4, CVSSError  # type: ignore[import-untyped]

from openmtd.domain.vulns import EpssScore, KevEntry, VulnFinding, VulnRecord

__all__ = [
    "DAMPING",
    "RANK_DECAY",
    "UNKNOWN_BASE",
    "Contribution",
    "CvssScore",
    "ExposureBand",
    "ExposureScore",
    "SeverityBasis",
    "VulnSeverity",
    "cvss_score",
    "exploit_multiplier",
    "exposure_band",
    "exposure_for_ids",
    "exposure_score",
    "finding_vuln_ids",
    "merge_severities",
    "organisation_exposure",
    "record_severity",
    "severity_index",
]

#: ``k``: how much of its risk one vulnerability turns into exposure.
DAMPING = 0.9
#: ``d``: the weight of the risk of rank ``i`` is ``d**i``.
RANK_DECAY = 0.85
#: The base of a vulnerability nothing scores (neither CVSS nor a severity word).
UNKNOWN_BASE = 5.0
#: How many contributors an `ExposureScore` lists to explain itself.
TOP_CONTRIBUTORS = 5

_MAX_VECTOR_LENGTH = 512
_FEED_WORD_BASE: dict[str, tuple[str, float]] = {
    "critical": ("Critical", 9.5),
    "high": ("High", 8.0),
    "important": ("High", 8.0),
    "moderate": ("Medium", 5.5),
    "medium": ("Medium", 5.5),
    "low": ("Low", 2.5),
}
_CVSS_PREFERENCE = {"4.0": 0, "3.1": 1, "3.0": 2}
_LOW_BAND_TOP = 29
_MEDIUM_BAND_TOP = 69
#: The library is third-party code: whatever it raises on a vector means "not a vector".
_CVSS_FAILURES = (CVSSError, ArithmeticError, LookupError, ValueError, TypeError, RuntimeError)


class SeverityBasis(StrEnum):
    """Where a vulnerability's base came from."""

    CVSS = "cvss"  # a v4.0 or v3.x vector
    FEED_WORD = "feed-word"  # the feed's own severity word
    CVSS2 = "cvss2"  # a v2 vector, the last resort
    UNKNOWN = "unknown"


class ExposureBand(StrEnum):
    LOW = "low"  # 0–29
    MEDIUM = "medium"  # 30–69
    HIGH = "high"  # 70–100


@dataclass(frozen=True, slots=True)
class CvssScore:
    """A CVSS vector as the ``cvss`` package scores it."""

    version: str  # "4.0", "3.1", "3.0" or "2.0"
    vector: str  # as given, without surrounding blanks
    base_score: float  # 0.0..10.0
    severity: str  # "None", "Low", "Medium", "High" or "Critical" (v2: no "Critical")


@dataclass(frozen=True, slots=True)
class VulnSeverity:
    """How severe one vulnerability is, with what it was worked out from."""

    vuln_id: str  # a CVE id, or the record's own id when it names no CVE
    base: float  # 0..10, what exposure uses (`UNKNOWN_BASE` when unknown)
    severity: str  # "Critical", "High", "Medium", "Low", "None" or "Unknown"
    basis: SeverityBasis
    cvss: CvssScore | None = None  # the vector used (basis CVSS or CVSS2)
    feed_severity: str = ""  # the feed's word as it gave it
    exploited: bool = False
    exploited_by: tuple[str, ...] = ()  # "kev", "feed:<source>"
    kev: KevEntry | None = None
    epss: EpssScore | None = None
    records: tuple[str, ...] = ()  # ids of the records this was worked out from


@dataclass(frozen=True, slots=True)
class Contribution:
    """One vulnerability's part in a device's exposure."""

    vuln_id: str
    severity: str
    base: float
    exploited: bool
    epss: float | None
    multiplier: float  # m
    risk: float  # r = base / 10 × m
    rank: int  # 0 for the largest risk
    factor: float  # 1 − k × r × d**rank


@dataclass(frozen=True, slots=True)
class ExposureScore:
    """An exposure score 0–100 with its band and what it is made of."""

    score: int
    band: ExposureBand
    exact: float  # before rounding
    vulnerabilities: int = 0  # distinct vulnerabilities counted (a device)
    exploited: int = 0  # of them exploited
    devices: int = 0  # devices aggregated (the organisation)
    top: tuple[Contribution, ...] = ()  # the largest contributors, largest first
    explanation: str = ""


# --- CVSS ------------------------------------------------------------------------------------


def cvss_score(vector: object) -> CvssScore | None:
    """The base score of a CVSS v4.0, v3.1, v3.0 or v2 vector; ``None`` when it is not one."""
    if not isinstance(vector, str) or len(vector) > _MAX_VECTOR_LENGTH:
        return None
    text = vector.strip()
    if not text.isprintable():
        return None
    if text.startswith("CVSS:4.0/"):
        return _scored("4.0", text, CVSS4)
    if text.startswith(("CVSS:3.1/", "CVSS:3.0/")):
        return _scored(text[5:8], text, CVSS3)
    if text.startswith("CVSS:"):
        if not text.startswith("CVSS:2.0/"):
            return None
        return _scored("2.0", text, CVSS2, text[len("CVSS:2.0/") :])
    if text.startswith("(") and text.endswith(")"):  # NVD's older way of writing v2
        return _scored("2.0", text, CVSS2, text[1:-1])
    return _scored("2.0", text, CVSS2)


def _scored(version: str, text: str, parser: type, body: str | None = None) -> CvssScore | None:
    try:
        base = float(parser(text if body is None else body).scores()[0])
    except _CVSS_FAILURES:
        return None
    if not 0.0 <= base <= 10.0:
        return None
    return CvssScore(version, text, base, _cvss_severity(base, version))


def _cvss_severity(base: float, version: str) -> str:
    """The specification's bands (v2: NVD's bands, which have no "None" or "Critical")."""
    if version == "2.0":
        return "Low" if base < 4.0 else "Medium" if base < 7.0 else "High"
    if base == 0.0:
        return "None"
    if base < 4.0:
        return "Low"
    if base < 7.0:
        return "Medium"
    return "High" if base < 9.0 else "Critical"


# --- severity of one vulnerability --------------------------------------------------------


def record_severity(
    record: VulnRecord, kev: Mapping[str, KevEntry], epss: Mapping[str, EpssScore]
) -> VulnSeverity:
    """How severe one record's vulnerability is (see the module's "Severity")."""
    cve_ids = record.cve_ids
    vuln_id = cve_ids[0] if cve_ids else record.id
    feed_word = record.severity if isinstance(record.severity, str) else ""
    base, word, basis, used = _base(record.cvss, feed_word)
    kev_entry = next((kev[c] for c in cve_ids if c in kev), None)
    exploited_by: list[str] = []
    if record.exploited:
        exploited_by.append(f"feed:{record.source}")
    if kev_entry is not None:
        exploited_by.append("kev")
    return VulnSeverity(
        vuln_id=vuln_id,
        base=base,
        severity=word,
        basis=basis,
        cvss=used,
        feed_severity=feed_word[:40],
        exploited=bool(exploited_by),
        exploited_by=tuple(exploited_by),
        kev=kev_entry,
        epss=_highest_epss(cve_ids, epss),
        records=(record.id,),
    )


def _base(
    vectors: Iterable[object], feed_word: str
) -> tuple[float, str, SeverityBasis, CvssScore | None]:
    scores = [s for s in (cvss_score(v) for v in vectors) if s is not None]
    modern = [s for s in scores if s.version in _CVSS_PREFERENCE]
    if modern:
        best = min(modern, key=lambda s: (_CVSS_PREFERENCE[s.version], -s.base_score))
        return best.base_score, best.severity, SeverityBasis.CVSS, best
    known = _FEED_WORD_BASE.get(feed_word.strip().lower())
    if known is not None:
        return known[1], known[0], SeverityBasis.FEED_WORD, None
    if scores:
        best = max(scores, key=lambda s: s.base_score)
        return best.base_score, best.severity, SeverityBasis.CVSS2, best
    return UNKNOWN_BASE, "Unknown", SeverityBasis.UNKNOWN, None


def _highest_epss(cve_ids: Iterable[str], epss: Mapping[str, EpssScore]) -> EpssScore | None:
    known = [s for s in (epss.get(c) for c in cve_ids) if s is not None and _usable_epss(s)]
    return max(known, key=lambda s: s.score) if known else None


def _usable_epss(score: EpssScore) -> bool:
    value = score.score
    return isinstance(value, int | float) and math.isfinite(value) and 0.0 <= value <= 1.0


_BASIS_RANK = {
    SeverityBasis.CVSS: 0,
    SeverityBasis.FEED_WORD: 1,
    SeverityBasis.CVSS2: 2,
    SeverityBasis.UNKNOWN: 3,
}


def merge_severities(a: VulnSeverity, b: VulnSeverity) -> VulnSeverity:
    """One vulnerability described by two feeds: the better-founded base (then the higher
    one), exploited when either says so, the higher EPSS, both records."""
    first, second = sorted((a, b), key=lambda s: (_BASIS_RANK[s.basis], -s.base))
    epss_scores = [s for s in (a.epss, b.epss) if s is not None]
    return replace(
        first,
        exploited=a.exploited or b.exploited,
        exploited_by=tuple(dict.fromkeys((*first.exploited_by, *second.exploited_by))),
        kev=a.kev or b.kev,
        epss=max(epss_scores, key=lambda s: s.score) if epss_scores else None,
        feed_severity=first.feed_severity or second.feed_severity,
        records=tuple(dict.fromkeys((*first.records, *second.records))),
    )


def severity_index(
    records: Iterable[VulnRecord], kev: Mapping[str, KevEntry], epss: Mapping[str, EpssScore]
) -> dict[str, VulnSeverity]:
    """The severity of every vulnerability, by CVE id (and by record id for a record that
    names no CVE): what `exposure_score` and the recommendations look up."""
    index: dict[str, VulnSeverity] = {}
    for record in records:
        severity = record_severity(record, kev, epss)
        for vuln_id in record.cve_ids or (record.id,):
            own = replace(severity, vuln_id=vuln_id)
            seen = index.get(vuln_id)
            index[vuln_id] = own if seen is None else merge_severities(seen, own)
    return index


# --- exposure ----------------------------------------------------------------------------


def finding_vuln_ids(finding: VulnFinding) -> tuple[str, ...]:
    """The ids a finding counts under: its CVE ids, else its record's id."""
    return finding.cve_ids or (finding.vuln_id,)


def exploit_multiplier(severity: VulnSeverity | None) -> float:
    """``m``: 1.0 exploited; by EPSS 0.7 (≥ 0.5), 0.4 (≥ 0.1), 0.2 (below); 0.25 unknown."""
    if severity is None:
        return 0.25
    if severity.exploited:
        return 1.0
    if severity.epss is None or not _usable_epss(severity.epss):
        return 0.25
    probability = severity.epss.score
    if probability >= 0.5:
        return 0.7
    return 0.4 if probability >= 0.1 else 0.2


def exposure_band(score: int) -> ExposureBand:
    if score <= _LOW_BAND_TOP:
        return ExposureBand.LOW
    return ExposureBand.MEDIUM if score <= _MEDIUM_BAND_TOP else ExposureBand.HIGH


def exposure_score(
    findings: Sequence[VulnFinding],
    severities: Mapping[str, VulnSeverity],
    *,
    risks: MutableMapping[str, Contribution] | None = None,
) -> ExposureScore:
    """One device's exposure (see the module's "Exposure of a device"). `risks` remembers each
    vulnerability's risk across calls with the same severities (a fleet shares them)."""
    vuln_ids = {vuln_id for finding in findings for vuln_id in finding_vuln_ids(finding)}
    return exposure_for_ids(vuln_ids, severities, risks=risks)


def exposure_for_ids(
    vuln_ids: Collection[str],
    severities: Mapping[str, VulnSeverity],
    *,
    risks: MutableMapping[str, Contribution] | None = None,
) -> ExposureScore:
    """The exposure of a device with these distinct vulnerabilities (CVE or record ids)."""
    memo: MutableMapping[str, Contribution] = {} if risks is None else risks
    items = []
    for vuln_id in set(vuln_ids):
        item = memo.get(vuln_id)
        if item is None:
            item = memo[vuln_id] = _risk(vuln_id, severities.get(vuln_id))
        items.append(item)
    ranked = sorted(items, key=lambda item: (-item.risk, item.vuln_id))
    remaining = 1.0
    contributions: list[Contribution] = []
    for rank, item in enumerate(ranked):
        factor = 1.0 - DAMPING * item.risk * RANK_DECAY**rank
        remaining *= factor
        if rank < TOP_CONTRIBUTORS:
            contributions.append(replace(item, rank=rank, factor=factor))
    exact = 100.0 * (1.0 - remaining)
    score = _rounded(exact)
    exploited = sum(1 for item in ranked if item.exploited)
    return ExposureScore(
        score=score,
        band=exposure_band(score),
        exact=exact,
        vulnerabilities=len(ranked),
        exploited=exploited,
        top=tuple(contributions),
        explanation=_device_explanation(score, len(ranked), exploited, contributions),
    )


def _risk(vuln_id: str, severity: VulnSeverity | None) -> Contribution:
    base = UNKNOWN_BASE if severity is None else min(max(severity.base, 0.0), 10.0)
    if not math.isfinite(base):
        base = UNKNOWN_BASE
    multiplier = exploit_multiplier(severity)
    known_epss = None if severity is None else severity.epss
    return Contribution(
        vuln_id=vuln_id,
        severity="Unknown" if severity is None else severity.severity,
        base=base,
        exploited=severity is not None and severity.exploited,
        epss=known_epss.score if known_epss is not None and _usable_epss(known_epss) else None,
        multiplier=multiplier,
        risk=base / 10.0 * multiplier,
        rank=0,
        factor=1.0,
    )


def _device_explanation(score: int, count: int, exploited: int, top: Sequence[Contribution]) -> str:
    if not count:
        return "no known vulnerabilities: exposure 0"
    leading = ", ".join(
        f"{item.vuln_id} ({item.severity} {item.base:g}"
        + (", exploited" if item.exploited else "")
        + (f", EPSS {item.epss:.2f}" if item.epss is not None and not item.exploited else "")
        + ")"
        for item in top[:3]
    )
    return (
        f"{count} vulnerabilit{'y' if count == 1 else 'ies'}, {exploited} exploited: "
        f"exposure {score} = 100 × (1 − Π(1 − {DAMPING:g} × r × {RANK_DECAY:g}^rank)); "
        f"largest: {leading}"
    )


def organisation_exposure(device_scores: Sequence[ExposureScore]) -> ExposureScore:
    """0.5 × mean + 0.5 × nearest-rank 90th percentile of the devices' scores."""
    scores = sorted(min(max(s.score, 0), 100) for s in device_scores)
    if not scores:
        return ExposureScore(0, ExposureBand.LOW, 0.0, explanation="no devices: exposure 0")
    mean = sum(scores) / len(scores)
    p90 = scores[math.ceil(0.9 * len(scores)) - 1]
    exact = 0.5 * mean + 0.5 * p90
    score = _rounded(exact)
    return ExposureScore(
        score=score,
        band=exposure_band(score),
        exact=exact,
        devices=len(scores),
        explanation=(
            f"{len(scores)} device{'' if len(scores) == 1 else 's'}: 0.5 × mean {mean:.1f} "
            f"+ 0.5 × 90th percentile {p90} = {score}"
        ),
    )


def _rounded(exact: float) -> int:
    return min(max(math.floor(exact + 0.5), 0), 100)
