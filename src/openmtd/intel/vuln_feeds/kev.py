"""CISA's Known Exploited Vulnerabilities catalog (known_exploited_vulnerabilities.json) ->
`KevEntry`s.

Input: ``{"title", "catalogVersion", "dateReleased", "count", "vulnerabilities": [{"cveID",
"vendorProject", "product", "vulnerabilityName", "dateAdded", "dueDate",
"knownRansomwareCampaignUse", …}]}``. An entry without a usable cveID, or with a date that is
not YYYY-MM-DD, is an `ImportProblem` ("#<index>" or its CVE id) and the rest goes on; a CVE
listed twice is kept once (the first entry) and reported. ``ransomware`` is True only for
knownRansomwareCampaignUse "Known" (the catalog's other value is "Unknown").
"""

from __future__ import annotations

from typing import Any

from openmtd.domain.vulns import ImportProblem, KevEntry
from openmtd.intel.vuln_feeds._common import (
    CVE_ID,
    MAX_PROBLEMS,
    RecordError,
    ident,
    iso_date,
    kind,
    load_json,
    obj,
    shown,
    text,
)


def parse_kev(data: bytes) -> tuple[list[KevEntry], list[ImportProblem]]:
    """Parse the KEV catalog JSON. Raises ValueError only when the input is not JSON, too
    large, or not an object with a "vulnerabilities" array."""
    document = load_json(data)
    if not isinstance(document, dict):
        raise ValueError(f"expected the KEV catalog object, found {kind(document)}")
    items = document.get("vulnerabilities")
    if not isinstance(items, list):
        raise ValueError(f'"vulnerabilities" is {kind(items)}, not an array: not a KEV catalog')
    entries: list[KevEntry] = []
    problems: list[ImportProblem] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        label = _label(item, index)
        try:
            entry = _entry(item)
        except RecordError as e:
            _note(problems, label, str(e))
            continue
        if entry.cve in seen:
            _note(problems, entry.cve, "listed again; the first entry is kept")
            continue
        seen.add(entry.cve)
        entries.append(entry)
    return entries, problems


def _note(problems: list[ImportProblem], record: str, reason: str) -> None:
    if len(problems) < MAX_PROBLEMS:
        problems.append(ImportProblem(record, reason))


def _label(item: object, index: int) -> str:
    if isinstance(item, dict):
        cve = item.get("cveID")
        if isinstance(cve, str) and CVE_ID.fullmatch(cve.strip()):
            return cve.strip()
    return f"#{index}"


def _entry(raw: Any) -> KevEntry:
    item = obj(raw, "the entry")
    cve = ident(item.get("cveID"), "cveID", 40)
    if not CVE_ID.fullmatch(cve):
        raise RecordError(f"cveID {shown(cve)} is not a CVE id")
    ransomware = text(item.get("knownRansomwareCampaignUse"), "knownRansomwareCampaignUse", 40)
    return KevEntry(
        cve=cve,
        vendor=text(item.get("vendorProject"), "vendorProject", 200),
        product=text(item.get("product"), "product", 200),
        name=text(item.get("vulnerabilityName"), "vulnerabilityName", 500),
        date_added=iso_date(item.get("dateAdded"), "dateAdded"),
        due_date=iso_date(item.get("dueDate"), "dueDate"),
        ransomware=ransomware.lower() == "known",
    )
