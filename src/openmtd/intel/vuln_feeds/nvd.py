"""NVD CVE API 2.0 -> `VulnRecord`s.

Input: an API answer ``{"vulnerabilities": [{"cve": {…}}, …]}``, one ``cve`` object (as the
fkie-cad/nvd-json-data-feeds files hold them), or a JSON array of either.

Ranges come from ``configurations[].nodes[].cpeMatch[]``, and only from matches with
``vulnerable: true``. A "runs on" configuration (operator AND: one node the vulnerable app,
another the platform it runs on with ``vulnerable: false``) thus yields the app's ranges and
nothing for the platform; a node with ``negate: true`` describes what is *not* affected and is
skipped ("negated node"). AND/OR only combine products, and a device either has the vulnerable
product or not, so every vulnerable match is used on its own.

CPE 2.3 ``cpe:2.3:<part>:<vendor>:<product>:<version>:<update>:…`` ->
* o:apple:iphone_os -> IOS, o:apple:ipados -> IPADOS;
* o:google:android -> skipped: NVD names Android majors ("12.0", "13.0") with no security
  patch level, and matching on the major alone would flag every device of it for ever
  ("android without patch level", as for CVE JSON 5);
* any part "a" -> APP, package "cpe:2.3:a:<vendor>:<product>";
* anything else (macOS, watchOS, hardware) -> "other product".
Versions: "*" with versionStart/End Including/Excluding -> a range (no bound: unbounded);
a concrete version -> exactly that version (with an update qualifier such as "beta1":
"pre-release version", skipped); "-" (no version applies) -> "no version".

Metrics: cvssMetricV40/V31/V30 vector strings, v4 first. exploited: ``cisaExploitAdd`` is set.
severity: the first v4/v3.x metric's baseSeverity ("High"). A record without configurations
(NVD has not analysed it yet, e.g. CVE-2024-0044) is returned with no affected and counted
"no configurations"; "Rejected" records are counted "rejected" and left out.

`ImportResult.skipped` counts cpeMatch entries by reason (above), plus the record-level
"no configurations" and "rejected".
"""

from __future__ import annotations

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

_OS_PRODUCTS = {("apple", "iphone_os"): Product.IOS, ("apple", "ipados"): Product.IPADOS}
_METRIC_KEYS = ("cvssMetricV40", "cvssMetricV31", "cvssMetricV30")
_ANY = frozenset({"*", ""})


def parse_nvd(data: bytes) -> ImportResult:
    """Parse NVD CVE API 2.0 JSON (see the module docstring). Raises ValueError only when the
    input is not JSON, too large, or neither an API answer, a cve object nor an array."""
    document = load_json(data)
    if isinstance(document, dict) and "vulnerabilities" in document:
        items = document["vulnerabilities"]
        if not isinstance(items, list):
            raise ValueError(f'"vulnerabilities" is {kind(items)}, not an array')
    elif isinstance(document, dict):
        items = [document]
    elif isinstance(document, list):
        items = document
    else:
        raise ValueError(f"expected an NVD API answer or cve object, found {kind(document)}")
    out = Collector()
    for index, item in enumerate(items):
        cve = item.get("cve") if isinstance(item, dict) and "cve" in item else item
        try:
            _record(cve, out)
        except RecordError as e:
            out.problem(_label(cve, index), str(e))
    return out.result()


def _label(cve: object, index: int) -> str:
    if isinstance(cve, dict):
        value = cve.get("id")
        if isinstance(value, str) and CVE_ID.fullmatch(value.strip()):
            return value.strip()
    return f"#{index}"


def _record(raw: object, out: Collector) -> None:
    cve = obj(raw, "the cve object")
    cve_id = ident(cve.get("id"), "id", 40)
    if not CVE_ID.fullmatch(cve_id):
        raise RecordError(f"id {shown(cve_id)} is not a CVE id")
    status = text(cve.get("vulnStatus"), "vulnStatus", 80)
    if status.lower() == "rejected":
        out.skip("rejected")
        return
    skips: list[str] = []
    ranges: dict[tuple[Product, str], list[VersionRange]] = {}
    configurations = array(cve.get("configurations"), "configurations")
    for i, configuration in enumerate(configurations):
        cpath = f"configurations[{i}]"
        for j, node in enumerate(array(obj(configuration, cpath).get("nodes"), f"{cpath}.nodes")):
            _node(obj(node, f"{cpath}.nodes[{j}]"), f"{cpath}.nodes[{j}]", ranges, skips)
    if not configurations:
        skips.append("no configurations")
    affected = tuple(
        Affected(product, tuple(dict.fromkeys(found)), package=package)
        for (product, package), found in ranges.items()
    )
    check_range_count(sum(len(a.ranges) for a in affected))
    vectors, severity = _metrics(cve.get("metrics"))
    record = VulnRecord(
        id=cve_id,
        source=VulnSource.NVD,
        summary=_description(cve.get("descriptions")),
        published=iso_date(cve.get("published"), "published"),
        modified=timestamp(cve.get("lastModified"), "lastModified"),
        severity=severity,
        cvss=cvss_ordered(vectors),
        affected=affected,
        references=urls(_reference_urls(cve.get("references"))),
        exploited=bool(cve.get("cisaExploitAdd")),
    )
    for reason in skips:
        out.skip(reason)
    out.records.append(record)


def _node(
    node: dict[str, Any],
    path: str,
    ranges: dict[tuple[Product, str], list[VersionRange]],
    skips: list[str],
) -> None:
    matches = array(node.get("cpeMatch"), f"{path}.cpeMatch")
    check_range_count(len(matches))
    if node.get("negate") is True:
        skips.append("negated node")
        return
    for k, raw in enumerate(matches):
        mpath = f"{path}.cpeMatch[{k}]"
        match = obj(raw, mpath)
        vulnerable = match.get("vulnerable")
        if not isinstance(vulnerable, bool):
            raise RecordError(f"{mpath}.vulnerable is {kind(vulnerable)}, not a boolean")
        if not vulnerable:
            continue  # the platform of a "runs on" configuration
        outcome = _match(match, mpath)
        if isinstance(outcome, str):
            skips.append(outcome)
        else:
            key, range_ = outcome
            ranges.setdefault(key, []).append(range_)


def split_cpe(cpe: str) -> list[str]:
    """The components of a CPE 2.3 formatted string, split on unescaped colons (escapes kept:
    "cpe:2.3:a:x:a\\:b:1" has product "a\\:b")."""
    parts: list[str] = []
    current: list[str] = []
    escaped = False
    for char in cpe:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            current.append(char)
            escaped = True
        elif char == ":":
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _match(match: dict[str, Any], path: str) -> tuple[tuple[Product, str], VersionRange] | str:
    """A vulnerable cpeMatch -> ((product, package), range), or the reason it is skipped."""
    criteria = ident(match.get("criteria"), f"{path}.criteria", 400)
    parts = split_cpe(criteria)
    if len(parts) != 13 or parts[:2] != ["cpe", "2.3"] or parts[2] not in ("a", "o", "h"):
        raise RecordError(f"{path}.criteria {shown(criteria)} is not a CPE 2.3 name")
    part, vendor, product, cpe_version, update = parts[2:7]
    if (vendor, product) == ("google", "android"):
        return "no version" if cpe_version == "-" else "android without patch level"
    if part == "o" and (vendor, product) in _OS_PRODUCTS:
        key = (_OS_PRODUCTS[(vendor, product)], "")
    elif part == "a":
        key = (Product.APP, f"cpe:2.3:a:{vendor}:{product}")
    else:
        return "other product"
    if cpe_version == "-":
        return "no version"
    if cpe_version not in _ANY:
        if update not in ("*", "-", ""):
            return "pre-release version"
        return key, VersionRange.exactly(version(cpe_version, f"{path}.criteria version"))
    bounds = {
        name: version(match[name], f"{path}.{name}")
        for name in (
            "versionStartIncluding",
            "versionStartExcluding",
            "versionEndIncluding",
            "versionEndExcluding",
        )
        if match.get(name) is not None
    }
    if "versionStartIncluding" in bounds and "versionStartExcluding" in bounds:
        raise RecordError(f"{path} has both versionStartIncluding and versionStartExcluding")
    if "versionEndIncluding" in bounds and "versionEndExcluding" in bounds:
        raise RecordError(f"{path} has both versionEndIncluding and versionEndExcluding")
    start_in = bounds.get("versionStartIncluding")
    start_ex = bounds.get("versionStartExcluding")
    end_in = bounds.get("versionEndIncluding")
    end_ex = bounds.get("versionEndExcluding")
    return key, VersionRange(
        start=start_in if start_in is not None else start_ex,
        start_inclusive=start_ex is None,
        end=end_in if end_in is not None else end_ex,
        end_inclusive=end_in is not None,
    )


def _metrics(value: object) -> tuple[list[str], str]:
    """Vector strings of the v4/v3.x metrics (Primary first, as NVD lists them) and the
    first one's baseSeverity, capitalised."""
    if value is None:
        return [], ""
    metrics = obj(value, "metrics")
    vectors: list[str] = []
    severity = ""
    for key in _METRIC_KEYS:
        for i, raw in enumerate(array(metrics.get(key), f"metrics.{key}")):
            data = obj(
                obj(raw, f"metrics.{key}[{i}]").get("cvssData"), f"metrics.{key}[{i}].cvssData"
            )
            vector = data.get("vectorString")
            if isinstance(vector, str):
                vectors.append(vector.strip())
            base = data.get("baseSeverity")
            if not severity and isinstance(base, str):
                severity = base.strip().capitalize()[:40]
    return vectors, severity


def _description(value: object) -> str:
    for i, raw in enumerate(array(value, "descriptions")):
        item = obj(raw, f"descriptions[{i}]")
        lang = item.get("lang")
        if isinstance(lang, str) and lang.lower().startswith("en"):
            return text(item.get("value"), f"descriptions[{i}].value")
    return ""


def _reference_urls(value: object) -> list[str]:
    found = []
    for i, raw in enumerate(array(value, "references")):
        url = obj(raw, f"references[{i}]").get("url")
        if isinstance(url, str):
            found.append(url)
    return found
