"""FIRST's EPSS scores (https://www.first.org/epss/data_stats, epss_scores-YYYY-MM-DD.csv[.gz])
-> `EpssScore`s.

Input: the CSV, or the same gzip-compressed (it starts with 1f 8b; decompressed up to the
256 MiB input limit, never further). The file starts with a comment line
``#model_version:v2025.03.14,score_date:2026-11-25T00:00:00+0000``, then the header
``cve,epss,percentile``, then one row a CVE. Comment lines ("#…") and blank lines are skipped
anywhere. A row with a bad CVE id, a score or percentile that is not a number in [0, 1], or the
wrong number of columns is an `ImportProblem` named "#<line number>" (1-based, of the
decompressed text) and the rest goes on; a CVE listed twice keeps its first row and is reported.
No header, a document that is not UTF-8, or corrupt gzip: ValueError.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import zlib

from openmtd.domain.vulns import EpssScore, ImportProblem
from openmtd.intel.vuln_feeds._common import (
    CVE_ID,
    MAX_INPUT_BYTES,
    MAX_PROBLEMS,
    check_size,
    shown,
)

HEADER = ("cve", "epss", "percentile")


def parse_epss(data: bytes) -> tuple[list[EpssScore], list[ImportProblem]]:
    """Parse an EPSS CSV (plain or gzip). Raises ValueError as the module docstring says."""
    check_size(data)
    raw = _decompressed(bytes(data))
    try:
        document = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ValueError(f"not UTF-8 text: {e}") from None
    scores: list[EpssScore] = []
    problems: list[ImportProblem] = []
    seen: set[str] = set()
    header_found = False
    for number, line in enumerate(io.StringIO(document, newline=None), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            row = [cell.strip() for cell in next(csv.reader([line]))]
        except csv.Error as e:  # an overlong field, a stray quote
            if not header_found:
                raise ValueError(f"line {number}: not CSV: {e}") from None
            _note(problems, f"#{number}", f"not CSV: {e}")
            continue
        if not header_found:
            if tuple(cell.lower() for cell in row) != HEADER:
                raise ValueError(
                    f"line {number}: expected the header cve,epss,percentile, found {shown(line)}"
                )
            header_found = True
            continue
        try:
            score = _row(row)
        except ValueError as e:
            _note(problems, f"#{number}", str(e))
            continue
        if score.cve in seen:
            _note(problems, f"#{number}", f"{score.cve} listed again; the first row is kept")
            continue
        seen.add(score.cve)
        scores.append(score)
    if not header_found:
        raise ValueError("no header line cve,epss,percentile")
    return scores, problems


def _note(problems: list[ImportProblem], record: str, reason: str) -> None:
    if len(problems) < MAX_PROBLEMS:
        problems.append(ImportProblem(record, reason))


def _decompressed(raw: bytes) -> bytes:
    if not raw.startswith(b"\x1f\x8b"):
        return raw
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as stream:
            plain = stream.read(MAX_INPUT_BYTES + 1)
    except (OSError, EOFError, zlib.error) as e:
        raise ValueError(f"corrupt gzip data: {e}") from None
    if len(plain) > MAX_INPUT_BYTES:
        raise ValueError(f"decompresses to more than the {MAX_INPUT_BYTES} bytes allowed")
    return plain


def _row(row: list[str]) -> EpssScore:
    if len(row) != len(HEADER):
        raise ValueError(f"expected 3 columns, found {len(row)}")
    cve, score_text, percentile_text = row
    if not CVE_ID.fullmatch(cve):
        raise ValueError(f"{shown(cve)} is not a CVE id")
    return EpssScore(
        cve, _probability(score_text, "epss"), _probability(percentile_text, "percentile")
    )


def _probability(value: str, name: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{name} {shown(value)} is not a number") from None
    if not math.isfinite(number) or not 0.0 <= number <= 1.0:
        raise ValueError(f"{name} {shown(value)} is not between 0 and 1")
    return number
