"""The editable mapping from an app (package name or bundle id) to the feeds' product names.

Feeds do not know Android package names or iOS bundle ids: NVD names products by CPE
(``cpe:2.3:a:telegram:telegram``), OSV by ``<ecosystem>:<name>`` and libraries by purl
(``pkg:maven/com.squareup.okhttp3/okhttp``). An `AppMapping` says which of those an installed
app is. A small built-in mapping covers well-known apps (`DEFAULT_MAPPING`); the admin edits
it as CSV, one ``identifier,product`` pair a line (`parse_mapping_csv`, `mapping_to_csv`).

Product identifiers are kept in one canonical form, the one `package_key` gives, so that a
mapping row and a feed's record meet: a CPE is cut to ``cpe:2.3:<part>:<vendor>:<product>``
in lower case (its version and other fields belong to the record's ranges, and its
``target_sw`` is returned apart so matching can tell Android from iOS builds), a purl loses
its version, qualifiers and subpath, an OSV ecosystem is lower-cased. Identifiers are looked up
without regard to case.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = [
    "DEFAULT_MAPPING",
    "AppMapping",
    "MappingParse",
    "MappingProblem",
    "MappingRow",
    "PackageKey",
    "mapping_to_csv",
    "package_key",
    "parse_mapping_csv",
]

CSV_HEADER = ("identifier", "product")
_MAX_IDENTIFIER = 255
_MAX_PRODUCT = 512
_MAX_CSV_LINES = 100_000
_IDENTIFIER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*", re.ASCII)
_CPE_FIELD_SEPARATOR = re.compile(r"(?<!\\):")
_CPE_NAME = re.compile(r"[a-z0-9_.\-~!%&'()+,;=@\\]+", re.ASCII)
_PURL_TYPE = re.compile(r"[a-z][a-z0-9.+\-]*", re.ASCII)
_OSV_ECOSYSTEM = re.compile(r"[A-Za-z][A-Za-z0-9.\- ]*", re.ASCII)
_BLANK_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class PackageKey:
    """A product identifier in canonical form, and the CPE's ``target_sw`` ("" when none)."""

    key: str
    target_sw: str = ""


@dataclass(frozen=True, slots=True, order=True)
class MappingRow:
    identifier: str  # Android package name or iOS bundle id
    product: str  # canonical product identifier (see `package_key`)


@dataclass(frozen=True, slots=True)
class MappingProblem:
    line: int
    reason: str


@dataclass(frozen=True, slots=True)
class MappingParse:
    mapping: AppMapping
    problems: tuple[MappingProblem, ...]


def package_key(text: object) -> PackageKey | None:
    """The canonical form of a CPE, purl or ``<ecosystem>:<name>``; ``None`` if it is none."""
    if not isinstance(text, str) or not 0 < len(text) <= _MAX_PRODUCT:
        return None
    text = text.strip()
    if _BLANK_OR_CONTROL.search(text):
        return None
    lowered = text.lower()
    if lowered.startswith("cpe:2.3:"):
        return _cpe23_key(lowered)
    if lowered.startswith("cpe:/"):
        return _cpe22_key(lowered)
    if lowered.startswith("pkg:"):
        return _purl_key(text)
    return _osv_key(text)


class AppMapping:
    """Which product identifiers each app is known under (immutable; build a new one to edit)."""

    __slots__ = ("_by_identifier", "_rows")

    def __init__(self, rows: Iterable[MappingRow] = ()) -> None:
        unique = sorted(set(rows))
        by_identifier: dict[str, list[str]] = {}
        for row in unique:
            products = by_identifier.setdefault(row.identifier.lower(), [])
            if row.product not in products:
                products.append(row.product)
        self._rows = tuple(unique)
        self._by_identifier: Mapping[str, tuple[str, ...]] = MappingProxyType(
            {identifier: tuple(products) for identifier, products in by_identifier.items()}
        )

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[str, str] | MappingRow]) -> AppMapping:
        """A mapping from ``(identifier, product)`` pairs; ``ValueError`` names a bad pair."""
        checked: list[MappingRow] = []
        for position, row in enumerate(rows):
            identifier, product = (
                (row.identifier, row.product) if isinstance(row, MappingRow) else row
            )
            result = _checked_row(identifier, product)
            if isinstance(result, str):
                raise ValueError(f"row {position}: {result}")
            checked.append(result)
        return cls(checked)

    @property
    def rows(self) -> tuple[MappingRow, ...]:
        return self._rows

    def products_for(self, identifier: object) -> tuple[str, ...]:
        """The canonical product identifiers of an app, ``()`` when it is not mapped."""
        if not isinstance(identifier, str):
            return ()
        return self._by_identifier.get(identifier.lower(), ())

    def merged(self, other: AppMapping) -> AppMapping:
        """Both mappings' rows together (an app may then map to several products)."""
        return AppMapping((*self._rows, *other._rows))

    def __len__(self) -> int:
        return len(self._rows)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AppMapping) and self._rows == other._rows

    def __hash__(self) -> int:
        return hash(self._rows)

    def __repr__(self) -> str:
        return f"AppMapping({len(self._rows)} rows)"


def parse_mapping_csv(text: object) -> MappingParse:
    """The admin's CSV: ``identifier,product`` a line, an optional header, ``#`` comments.

    Every line that cannot be used is reported with its number (counting from 1) and skipped;
    the good lines still make a mapping.
    """
    if not isinstance(text, str):
        return MappingParse(AppMapping(), (MappingProblem(0, "the mapping is not text"),))
    lines = text.splitlines()
    if len(lines) > _MAX_CSV_LINES:
        problem = MappingProblem(0, f"{len(lines)} lines: at most {_MAX_CSV_LINES} are read")
        return MappingParse(AppMapping(), (problem,))
    rows: list[MappingRow] = []
    problems: list[MappingProblem] = []
    seen: dict[MappingRow, int] = {}
    for number, line in enumerate(lines, start=1):
        fields = _csv_fields(line)
        if isinstance(fields, str):
            problems.append(MappingProblem(number, fields))
            continue
        if not fields or fields[0].startswith("#"):
            continue
        if number == 1 and tuple(f.lower() for f in fields) == CSV_HEADER:
            continue
        if len(fields) != 2:
            problems.append(
                MappingProblem(number, f"expected 'identifier,product', got {len(fields)} fields")
            )
            continue
        result = _checked_row(fields[0], fields[1])
        if isinstance(result, str):
            problems.append(MappingProblem(number, result))
        elif result in seen:
            problems.append(MappingProblem(number, f"same as line {seen[result]}; ignored"))
        else:
            seen[result] = number
            rows.append(result)
    return MappingParse(AppMapping(rows), tuple(problems))


def mapping_to_csv(mapping: AppMapping) -> str:
    """The CSV form `parse_mapping_csv` reads back to an equal mapping."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    writer.writerows((row.identifier, row.product) for row in mapping.rows)
    return buffer.getvalue()


# --------------------------------------------------------------------------------------------


def _checked_row(identifier: object, product: object) -> MappingRow | str:
    if not isinstance(identifier, str) or not isinstance(product, str):
        return "identifier and product must be text"
    identifier = identifier.strip()
    if not identifier:
        return "the identifier is empty"
    if len(identifier) > _MAX_IDENTIFIER or not _IDENTIFIER.fullmatch(identifier):
        return f"{identifier[:80]!r} is not an Android package name or an iOS bundle id"
    key = package_key(product)
    if key is None:
        return (
            f"{product.strip()[:80]!r} is not a product identifier: expected "
            "'cpe:2.3:a:<vendor>:<product>', 'pkg:<type>/<name>' or '<ecosystem>:<name>'"
        )
    return MappingRow(identifier, key.key)


def _csv_fields(line: str) -> list[str] | str:
    try:
        parsed = list(csv.reader([line], skipinitialspace=True))
    except csv.Error as error:
        return f"not CSV: {error}"
    return [field.strip() for field in parsed[0]] if parsed else []


def _cpe23_key(lowered: str) -> PackageKey | None:
    fields = _CPE_FIELD_SEPARATOR.split(lowered)
    if len(fields) < 5 or fields[2] not in ("a", "o", "h"):
        return None
    vendor, product = fields[3], fields[4]
    if not _is_cpe_name(vendor) or not _is_cpe_name(product):
        return None
    target_sw = fields[10] if len(fields) > 10 else ""
    target_sw = "" if target_sw in ("*", "-") else target_sw
    return PackageKey(f"cpe:2.3:{fields[2]}:{vendor}:{product}", target_sw)


def _cpe22_key(lowered: str) -> PackageKey | None:
    fields = lowered[len("cpe:/") :].split(":")
    if len(fields) < 3 or fields[0] not in ("a", "o", "h"):
        return None
    if not _is_cpe_name(fields[1]) or not _is_cpe_name(fields[2]):
        return None
    return PackageKey(f"cpe:2.3:{fields[0]}:{fields[1]}:{fields[2]}")


def _is_cpe_name(value: str) -> bool:
    return value not in ("*", "-") and _CPE_NAME.fullmatch(value) is not None


def _purl_key(text: str) -> PackageKey | None:
    body = text[len("pkg:") :].lstrip("/")
    body = body.split("#", 1)[0].split("?", 1)[0]
    slash = body.find("/")
    if slash <= 0:
        return None
    purl_type, path = body[:slash].lower(), body[slash + 1 :].strip("/")
    last_slash = path.rfind("/")
    at = path.find("@", last_slash + 1)
    if at >= 0:
        path = path[:at]
    if not _PURL_TYPE.fullmatch(purl_type) or not path or path.endswith("/"):
        return None
    return PackageKey(f"pkg:{purl_type}/{path}")


def _osv_key(text: str) -> PackageKey | None:
    ecosystem, separator, name = text.partition(":")
    if not separator or not name or not _OSV_ECOSYSTEM.fullmatch(ecosystem):
        return None
    return PackageKey(f"{ecosystem.lower()}:{name}")


#: Well-known mobile apps and the CPE products NVD files their vulnerabilities under. NVD
#: records for these products often carry a ``target_sw`` (``android``, ``iphone_os``), which
#: matching uses to keep Android-only records off iPhones and the reverse.
_DEFAULT_ROWS: tuple[tuple[str, str], ...] = (
    ("org.telegram.messenger", "cpe:2.3:a:telegram:telegram"),
    ("ph.telegra.Telegraph", "cpe:2.3:a:telegram:telegram"),
    ("com.whatsapp", "cpe:2.3:a:whatsapp:whatsapp"),
    ("net.whatsapp.WhatsApp", "cpe:2.3:a:whatsapp:whatsapp"),
    ("com.whatsapp.w4b", "cpe:2.3:a:whatsapp:whatsapp_business"),
    ("net.whatsapp.WhatsAppSMB", "cpe:2.3:a:whatsapp:whatsapp_business"),
    ("org.mozilla.firefox", "cpe:2.3:a:mozilla:firefox"),
    ("org.mozilla.ios.Firefox", "cpe:2.3:a:mozilla:firefox"),
    ("com.android.chrome", "cpe:2.3:a:google:chrome"),
    ("com.google.chrome.ios", "cpe:2.3:a:google:chrome"),
    ("com.microsoft.teams", "cpe:2.3:a:microsoft:teams"),
    ("com.microsoft.skype.teams", "cpe:2.3:a:microsoft:teams"),
)

DEFAULT_MAPPING: AppMapping = AppMapping.from_rows(_DEFAULT_ROWS)
