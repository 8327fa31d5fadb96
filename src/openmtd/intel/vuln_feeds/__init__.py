"""Vulnerability feeds -> the vocabulary of `openmtd.domain.vulns`.

Pure parsers, bytes in and domain objects out (fetching is someone else's job):

* `parse_osv` — OSV JSON, the Android Security Bulletin's "Android" ecosystem included;
* `parse_cve5` — CVE JSON 5 records (Apple iOS/iPadOS, Google Android);
* `parse_sofa` — the SOFA iOS feed, v1 and v2;
* `parse_nvd` — the NVD CVE API 2.0;
* `parse_kev` — CISA's Known Exploited Vulnerabilities catalog;
* `parse_epss` — FIRST's EPSS scores CSV, plain or gzip;
* `incremental` / `revision` — what changed since the last import.

Every parser accounts for every record: a malformed one becomes an `ImportProblem` and the
import goes on; deliberately ignored ones are counted by reason in `ImportResult.skipped`. Only
a document that is not of the expected kind at all (not JSON, the wrong top-level shape, over
the 256 MiB limit) raises ValueError, with a message saying why.
"""

from openmtd.intel.vuln_feeds.cve5 import parse_cve5
from openmtd.intel.vuln_feeds.epss import parse_epss
from openmtd.intel.vuln_feeds.kev import parse_kev
from openmtd.intel.vuln_feeds.merge import incremental, revision
from openmtd.intel.vuln_feeds.nvd import parse_nvd
from openmtd.intel.vuln_feeds.osv import parse_osv
from openmtd.intel.vuln_feeds.sofa import parse_sofa

__all__ = [
    "incremental",
    "parse_cve5",
    "parse_epss",
    "parse_kev",
    "parse_nvd",
    "parse_osv",
    "parse_sofa",
    "revision",
]
