"""Canonical values of app indicators: file hashes, signing-certificate thumbprints, packages.

* File hashes (FILE_SHA256/SHA1/MD5) are lower-case hex of exactly 64, 40 or 32 digits;
  surrounding white space is dropped.
* Certificate thumbprints (CERT_SHA256/SHA1/MD5) are the same, and may also be written the way
  keytool and openssl print them: "AB:CD:…", or in groups separated by spaces.
* Package names are Android package names or iOS bundle ids, kept as written (both are
  case-sensitive): dot-separated segments of ASCII letters, digits and "_" (an Android
  package), or also "-" (an iOS bundle id), with at least one dot, at most 255 characters.

Every function here raises `InvalidAppIdentifier` (a `ValueError`, and an `InvalidInput` so the
server reports it as such) for a bad value, and nothing else; the result is a fixed point:
canonicalising it again gives it back.
"""

from __future__ import annotations

import re
from typing import Any

from openmtd.domain.errors import InvalidInput
from openmtd.domain.web import IndicatorType

MAX_PACKAGE_LENGTH = 255

HASH_LENGTHS = {
    IndicatorType.FILE_SHA256: 64,
    IndicatorType.FILE_SHA1: 40,
    IndicatorType.FILE_MD5: 32,
    IndicatorType.CERT_SHA256: 64,
    IndicatorType.CERT_SHA1: 40,
    IndicatorType.CERT_MD5: 32,
}
# A certificate thumbprint of unknown algorithm, recognised by its length (the reference
# product's CertificateThumbprint is SHA-1; other sources write SHA-256 or MD5).
CERT_TYPE_BY_LENGTH = {
    40: IndicatorType.CERT_SHA1,
    64: IndicatorType.CERT_SHA256,
    32: IndicatorType.CERT_MD5,
}
_ALGORITHMS = {64: "SHA-256", 40: "SHA-1", 32: "MD5"}
_CERT_TYPES = frozenset(CERT_TYPE_BY_LENGTH.values())

_HEX = re.compile(r"[0-9a-f]+", re.ASCII)
_THUMBPRINT_SEPARATORS = str.maketrans("", "", ": \t")
_PACKAGE = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)+", re.ASCII)
_PACKAGE_CHARS = re.compile(r"[A-Za-z0-9_.-]*", re.ASCII)


class InvalidAppIdentifier(InvalidInput, ValueError):
    """A hash, thumbprint or package name that cannot be an app indicator; the message says why."""

    code = "invalid_app_identifier"


def _shown(text: str) -> str:
    return repr(text if len(text) <= 80 else text[:77] + "...")


def _invalid(message: str, value: str, **details: Any) -> InvalidAppIdentifier:
    return InvalidAppIdentifier(message, value=value[:80], **details)


def canonical_hash(type_: IndicatorType, value: str) -> str:
    """A file hash or certificate thumbprint as lower-case hex of the type's exact length."""
    length = HASH_LENGTHS.get(type_)
    if length is None:
        raise _invalid(f"{type_.value} is not a hash indicator type", type_.value)
    text = value.strip()
    digits = text.translate(_THUMBPRINT_SEPARATORS) if type_ in _CERT_TYPES else text
    digits = digits.lower()
    what = "thumbprint" if type_ in _CERT_TYPES else "hash"
    if not digits:
        raise _invalid(f"empty {_ALGORITHMS[length]} {what}", text)
    if not digits.isascii() or _HEX.fullmatch(digits) is None:
        raise _invalid(
            f"{_shown(text)} is not a hexadecimal {what} (only 0-9 and a-f can appear"
            + (", in groups separated by ':' or spaces)" if type_ in _CERT_TYPES else ")"),
            text,
        )
    if len(digits) != length:
        raise _invalid(
            f"{_shown(text)} has {len(digits)} hex digits;"
            f" a {_ALGORITHMS[length]} {what} has {length}",
            text,
        )
    return digits


def cert_type_of(value: str) -> IndicatorType:
    """The CERT_* type of a thumbprint of unknown algorithm, by its number of hex digits
    (40: SHA-1, 64: SHA-256, 32: MD5). Raises InvalidAppIdentifier for any other length."""
    text = value.strip()
    digits = text.translate(_THUMBPRINT_SEPARATORS)
    found = CERT_TYPE_BY_LENGTH.get(len(digits))
    if found is None:
        raise _invalid(
            f"certificate thumbprint {_shown(text)} has {len(digits)} characters;"
            " expected 40 hex digits (SHA-1), 64 (SHA-256) or 32 (MD5)",
            text,
        )
    return found


def canonical_package(value: str) -> str:
    """An Android package name or iOS bundle id, validated and kept as written (case too)."""
    text = value.strip()
    if len(text) > MAX_PACKAGE_LENGTH:
        raise _invalid(
            f"package name {_shown(text)} is {len(text)} characters long,"
            f" more than the {MAX_PACKAGE_LENGTH} allowed",
            text,
        )
    if _PACKAGE.fullmatch(text) is not None:
        return text
    if not text:
        raise _invalid("empty package name", text)
    if _PACKAGE_CHARS.fullmatch(text) is None:
        raise _invalid(
            f"package name {_shown(text)} contains characters a package name or bundle id"
            " cannot hold (only ASCII letters, digits, '_', '-' and '.' can)",
            text,
        )
    if "." not in text:
        raise _invalid(
            f"package name {_shown(text)} has no dot; give the full name, like com.example.app",
            text,
        )
    raise _invalid(f"package name {_shown(text)} has an empty segment", text)


def canonical_app_indicator(type_: IndicatorType, value: str) -> str:
    """The canonical value of an app indicator (any type with `is_app`)."""
    if type_ is IndicatorType.PACKAGE:
        return canonical_package(value)
    return canonical_hash(type_, value)


def short_hash(value: str) -> str:
    """A hash as people read it in a sentence: its first 8 digits and an ellipsis."""
    return value if len(value) <= 12 else value[:8] + "…"
