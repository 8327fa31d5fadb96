"""Indicators -> the reference product's admin CSV and STIX 2.1 bundles. Pure: text and dicts
out, the caller writes them. Both formats read back through `web_feeds.parse_indicators` to the
same indicators (given the same `defaults` kind and source, which neither format carries).
Web and app indicators alike: app types are written with the admin CSV names of
`web_feeds.ADMIN_TYPE_NAMES` (FileSha256, CertificateThumbprint, our PackageName …) and the STIX
patterns MVT and the STIX spec use ("[app:id = …]", "[app:cert.sha1 = …]",
"[file:hashes.'SHA-256' = …]").

Limits of the admin CSV: RbacGroups and MitreTechniques are comma-separated, so a device-group
name holding "," or ";" cannot round-trip; cells are stripped of surrounding white space.
"""

from __future__ import annotations

import csv
import hashlib
import io
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from openmtd.domain.web import Indicator, IndicatorType
from openmtd.intel.web_feeds import ADMIN_CSV_COLUMNS, ADMIN_TYPE_NAMES

CSV_CHUNK_ROWS = 1000  # rows per chunk export_admin_csv yields

# Namespace of the deterministic STIX ids: uuid5(NAMESPACE_URL, "https://openmtd.org/stix").
STIX_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://openmtd.org/stix")
STIX_MITRE_SOURCE = "mitre-attack"


# --- admin CSV --------------------------------------------------------------------------------


def export_admin_csv(indicators: Iterable[Indicator]) -> Iterator[str]:
    """The admin CSV (header IndicatorType,IndicatorValue,…,GenerateAlert, CRLF line ends) in
    chunks of CSV_CHUNK_ROWS rows, the header first; streams, so any number of indicators fit."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(ADMIN_CSV_COLUMNS)
    yield _drain(buffer)
    rows = 0
    for indicator in indicators:
        writer.writerow(_admin_row(indicator))
        rows += 1
        if rows % CSV_CHUNK_ROWS == 0:
            yield _drain(buffer)
    if rows % CSV_CHUNK_ROWS:
        yield _drain(buffer)


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


def _admin_row(indicator: Indicator) -> list[str]:
    meta = indicator.meta
    return [
        ADMIN_TYPE_NAMES[indicator.type],
        _url_text(indicator.value) if indicator.type is IndicatorType.URL else indicator.value,
        _iso_utc(meta.expires_at) if meta.expires_at is not None else "",
        meta.action.value,
        meta.severity.value,
        meta.title,
        meta.description,
        meta.recommended_actions,
        ",".join(meta.device_groups),
        meta.category,
        ",".join(meta.mitre_techniques),
        "TRUE" if meta.generate_alert else "FALSE",
    ]


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _iso_utc(moment: datetime) -> str:
    """RFC 3339 in UTC with a "Z": milliseconds, or microseconds when there are any."""
    moment = _utc(moment)
    if moment.microsecond % 1000:
        fraction = f".{moment.microsecond:06d}"
    else:
        fraction = f".{moment.microsecond // 1000:03d}"
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"


# --- STIX 2.1 ---------------------------------------------------------------------------------


def stix_string_literal(value: str) -> str:
    """A STIX pattern string literal: quoted with ', and ' and \\ escaped with a backslash."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


# Object paths of the app types: MVT's custom app object for packages and signing
# certificates, the spec's file object (hash names from its hash-algorithm vocabulary).
_STIX_APP_PATHS = {
    IndicatorType.PACKAGE: "app:id",
    IndicatorType.CERT_SHA256: "app:cert.sha256",
    IndicatorType.CERT_SHA1: "app:cert.sha1",
    IndicatorType.CERT_MD5: "app:cert.md5",
    IndicatorType.FILE_SHA256: "file:hashes.'SHA-256'",
    IndicatorType.FILE_SHA1: "file:hashes.'SHA-1'",
    IndicatorType.FILE_MD5: "file:hashes.'MD5'",
}


def stix_pattern(indicator: Indicator) -> str:
    """The one-comparison pattern of an indicator, e.g. "[domain-name:value = 'example.com']",
    "[app:id = 'com.example.spy']"."""
    value = indicator.value
    if indicator.type is IndicatorType.DOMAIN:
        path = "domain-name:value"
    elif indicator.type is IndicatorType.IP:
        path = "ipv6-addr:value" if ":" in value else "ipv4-addr:value"
    elif indicator.type is IndicatorType.URL:
        path = "url:value"
        value = _url_text(value, "http://")
    else:
        path = _STIX_APP_PATHS[indicator.type]
    return f"[{path} = {stix_string_literal(value)}]"


def _url_text(expression: str, scheme: str = "") -> str:
    """A URL indicator's value ("host/path?query", no scheme) as URL text that canonicalises
    back to it: an IPv6 host gets its brackets back, and `scheme` ("http://") is prefixed when
    given — STIX's url:value wants an RFC 3986 URL, and http is what canonicalisation assumes
    for a URL without one."""
    cut = min((i for i in (expression.find("/"), expression.find("?")) if i >= 0), default=-1)
    host, rest = (expression, "") if cut < 0 else (expression[:cut], expression[cut:])
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}{host}{rest}"


def _stix_id(kind: str, *parts: str) -> str:
    return f"{kind}--{uuid.uuid5(STIX_NAMESPACE, chr(10).join((kind, *parts)))}"


def export_stix_bundle(
    indicators: Iterable[Indicator], *, created: datetime, identity_name: str = "openmtd"
) -> dict[str, Any]:
    """A STIX 2.1 bundle: one identity SDO (the producer) and one indicator SDO per indicator.

    Ids are deterministic: uuid5 over type, value and source (plus action and a counter in the
    rare case two indicators share all three), so re-exporting the same indicators gives the
    same ids. created/modified/valid_from are `created`; valid_until is expires_at (an indicator
    that expired before `created` gets valid_from one second before its valid_until, as the
    spec wants valid_until later than valid_from). Meta the spec has no property for travels in
    custom properties: x_openmtd_action, x_openmtd_severity, x_openmtd_generate_alert, and when
    set x_openmtd_recommended_actions and x_openmtd_device_groups.
    """
    created = _utc(created)
    timestamp = _iso_utc(created)
    identity_id = _stix_id("identity", identity_name)
    objects: list[dict[str, Any]] = [
        {
            "type": "identity",
            "spec_version": "2.1",
            "id": identity_id,
            "created": timestamp,
            "modified": timestamp,
            "name": identity_name,
            "identity_class": "system",
        }
    ]
    used: set[str] = set()
    digest = hashlib.sha256(identity_id.encode())
    for indicator in indicators:
        sdo = _indicator_sdo(indicator, created, timestamp, identity_id, used)
        digest.update(sdo["id"].encode())
        objects.append(sdo)
    return {
        "type": "bundle",
        "id": _stix_id("bundle", timestamp, digest.hexdigest()),
        "objects": objects,
    }


def _indicator_sdo(
    indicator: Indicator, created: datetime, timestamp: str, identity_id: str, used: set[str]
) -> dict[str, Any]:
    meta = indicator.meta
    parts = (indicator.type.value, indicator.value, meta.source)
    sdo_id = _stix_id("indicator", *parts)
    counter = 0
    while sdo_id in used:  # same type, value and source, other meta (an allow and a block)
        counter += 1
        sdo_id = _stix_id("indicator", *parts, meta.action.value, str(counter))
    used.add(sdo_id)
    sdo: dict[str, Any] = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": sdo_id,
        "created_by_ref": identity_id,
        "created": timestamp,
        "modified": timestamp,
    }
    if meta.title:
        sdo["name"] = meta.title
    if meta.description:
        sdo["description"] = meta.description
    categories = [c.strip() for c in meta.category.split(",") if c.strip()]
    if categories:
        sdo["indicator_types"] = categories
    sdo["pattern"] = stix_pattern(indicator)
    sdo["pattern_type"] = "stix"
    sdo["pattern_version"] = "2.1"
    sdo["valid_from"] = timestamp
    if meta.expires_at is not None:
        expires = _utc(meta.expires_at)
        if expires <= created:
            sdo["valid_from"] = _iso_utc(expires - timedelta(seconds=1))
        sdo["valid_until"] = _iso_utc(expires)
    if meta.mitre_techniques:
        sdo["external_references"] = [
            {
                "source_name": STIX_MITRE_SOURCE,
                "external_id": technique,
                "url": "https://attack.mitre.org/techniques/" + technique.replace(".", "/"),
            }
            for technique in meta.mitre_techniques
        ]
    sdo["x_openmtd_action"] = meta.action.value
    sdo["x_openmtd_severity"] = meta.severity.value
    sdo["x_openmtd_generate_alert"] = meta.generate_alert
    if meta.recommended_actions:
        sdo["x_openmtd_recommended_actions"] = meta.recommended_actions
    if meta.device_groups:
        sdo["x_openmtd_device_groups"] = list(meta.device_groups)
    return sdo
