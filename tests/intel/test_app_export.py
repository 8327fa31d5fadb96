"""Exporting app indicators: admin CSV type names and STIX patterns, and both read back to the
same indicators (also from the real stalkerware and MVT data)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from stix2patterns.validator import run_validator  # type: ignore[import-untyped]

from openmtd.domain.enums import Severity
from openmtd.domain.web import Indicator, IndicatorAction, IndicatorMeta, IndicatorType, MatchKind
from openmtd.intel.web_export import export_admin_csv, export_stix_bundle, stix_pattern
from openmtd.intel.web_feeds import ADMIN_TYPE_NAMES, FeedFormat, parse_indicators

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
CREATED = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
T = IndicatorType
SHA256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
SHA1 = "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3"
MD5 = "098f6bcd4621d373cade4e832627b4f6"
META = IndicatorMeta(
    kind=MatchKind.INDICATOR,
    source="console",
    action=IndicatorAction.WARN,
    severity=Severity.HIGH,
    title="Stalkerware: TheTruthSpy",
    category="stalkerware",
    device_groups=("Sales",),
)
BASE = IndicatorMeta(kind=MatchKind.INDICATOR, source="console", action=IndicatorAction.BLOCK)

APP = [
    Indicator(T.FILE_SHA256, SHA256, META),
    Indicator(T.FILE_SHA1, SHA1, META),
    Indicator(T.FILE_MD5, MD5, META),
    Indicator(T.CERT_SHA256, SHA256, META),
    Indicator(T.CERT_SHA1, SHA1, META),
    Indicator(T.CERT_MD5, MD5, META),
    Indicator(T.PACKAGE, "com.Example.it-s_app", META),
]


@pytest.mark.parametrize(
    ("indicator", "pattern"),
    [
        (APP[0], f"[file:hashes.'SHA-256' = '{SHA256}']"),
        (APP[1], f"[file:hashes.'SHA-1' = '{SHA1}']"),
        (APP[2], f"[file:hashes.'MD5' = '{MD5}']"),
        (APP[3], f"[app:cert.sha256 = '{SHA256}']"),
        (APP[4], f"[app:cert.sha1 = '{SHA1}']"),
        (APP[5], f"[app:cert.md5 = '{MD5}']"),
        (APP[6], "[app:id = 'com.Example.it-s_app']"),
    ],
)
def test_stix_patterns(indicator: Indicator, pattern: str) -> None:
    assert stix_pattern(indicator) == pattern
    assert run_validator(pattern, stix_version="2.1") == []


def test_admin_csv_type_names() -> None:
    text = "".join(export_admin_csv(APP))
    rows = list(csv.reader(io.StringIO(text)))
    assert [r[:2] for r in rows[1:]] == [
        ["FileSha256", SHA256],
        ["FileSha1", SHA1],
        ["FileMd5", MD5],
        ["CertificateSha256", SHA256],
        ["CertificateThumbprint", SHA1],  # the reference product's name (a SHA-1)
        ["CertificateMd5", MD5],
        ["PackageName", "com.Example.it-s_app"],
    ]
    assert set(ADMIN_TYPE_NAMES) == set(IndicatorType)


@pytest.mark.parametrize("fmt", [FeedFormat.ADMIN_CSV, FeedFormat.STIX])
def test_round_trip(fmt: FeedFormat) -> None:
    if fmt is FeedFormat.ADMIN_CSV:
        text = "".join(export_admin_csv(APP))
    else:
        text = json.dumps(export_stix_bundle(APP, created=CREATED))
    back, report = parse_indicators(text, fmt, defaults=BASE)
    assert back == APP
    assert report.problems == [] and report.duplicates == 0


@pytest.mark.parametrize(
    ("path", "fmt"),
    [
        ("stalkerware-indicators/ioc.yaml", FeedFormat.STALKERWARE_YAML),
        ("stalkerware-indicators/samples.csv", FeedFormat.SAMPLES_CSV),
        ("mvt-indicators/residentbat.stix2", FeedFormat.STIX),
    ],
)
def test_real_feeds_round_trip(path: str, fmt: FeedFormat) -> None:
    """Whatever a real feed imports as exports and reads back as the same indicators."""
    text = (DATA / path).read_text(encoding="utf-8")
    indicators, _ = parse_indicators(text, fmt, defaults=BASE)
    csv_text = "".join(export_admin_csv(indicators))
    assert parse_indicators(csv_text, FeedFormat.ADMIN_CSV, defaults=BASE)[0] == indicators
    bundle = json.dumps(export_stix_bundle(indicators, created=CREATED))
    assert parse_indicators(bundle, FeedFormat.STIX, defaults=BASE)[0] == indicators
