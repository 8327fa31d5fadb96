"""Which vulnerability feed format a document is in, from its first bytes and its shape."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

from openmtd.domain.vulns import ImportResult
from openmtd.intel.vuln_feeds._common import load_json
from openmtd.intel.vuln_feeds.cve5 import parse_cve5
from openmtd.intel.vuln_feeds.nvd import parse_nvd
from openmtd.intel.vuln_feeds.osv import parse_osv
from openmtd.intel.vuln_feeds.sofa import parse_sofa


class VulnFormat(StrEnum):
    OSV = "osv"
    CVE5 = "cve5"
    SOFA = "sofa"
    NVD = "nvd"
    KEV = "kev"
    EPSS = "epss"


RECORD_PARSERS: dict[VulnFormat, Callable[[bytes], ImportResult]] = {
    VulnFormat.OSV: parse_osv,
    VulnFormat.CVE5: parse_cve5,
    VulnFormat.SOFA: parse_sofa,
    VulnFormat.NVD: parse_nvd,
}


def detect_format(data: bytes) -> VulnFormat:
    """The format of ``data``; ValueError naming what was seen when it is none of them."""
    head = data[:4096].lstrip()
    if data[:2] == b"\x1f\x8b" or head.startswith((b"#model_version", b"cve,epss")):
        return VulnFormat.EPSS
    document = load_json(data)
    sample = document[0] if isinstance(document, list) and document else document
    if not isinstance(sample, dict):
        raise ValueError(
            "not a vulnerability feed: expected a JSON object or a list of objects, found "
            f"{type(sample).__name__}"
        )
    keys = set(sample)
    if "OSVersions" in keys:
        return VulnFormat.SOFA
    if "catalogVersion" in keys or ("vulnerabilities" in keys and "count" in keys):
        return VulnFormat.KEV
    if "cveMetadata" in keys or sample.get("dataType") == "CVE_RECORD":
        return VulnFormat.CVE5
    if "vulnerabilities" in keys or "configurations" in keys or "sourceIdentifier" in keys:
        return VulnFormat.NVD
    if "vulns" in keys or ("id" in keys and ("affected" in keys or "modified" in keys)):
        return VulnFormat.OSV
    shown = ", ".join(sorted(keys)[:8]) or "no keys"
    raise ValueError(f"not a known vulnerability feed format (top-level keys: {shown})")
