"""Canonical app indicator values: hashes, certificate thumbprints, package names; through
canonical_indicator too, and property tests that nothing but ValueError escapes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openmtd.domain.errors import InvalidInput
from openmtd.domain.web import IndicatorType
from openmtd.engines.apps.identifiers import (
    HASH_LENGTHS,
    InvalidAppIdentifier,
    canonical_app_indicator,
    canonical_hash,
    canonical_package,
    cert_type_of,
    short_hash,
)
from openmtd.engines.web.canonical import InvalidUrl, canonical_indicator

T = IndicatorType
APP_TYPES = [t for t in IndicatorType if t.is_app]
SHA256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
SHA1 = "31a6ececd97cf39bc4126b8745cd94a7c30bf81c"
MD5 = "098f6bcd4621d373cade4e832627b4f6"


def test_app_types_are_the_seven() -> None:
    assert set(APP_TYPES) == set(HASH_LENGTHS) | {T.PACKAGE}


@pytest.mark.parametrize(
    ("type_", "value", "expected"),
    [
        (T.FILE_SHA256, SHA256.upper(), SHA256),
        (T.FILE_SHA256, f"  {SHA256}\n", SHA256),
        (T.FILE_SHA1, SHA1.upper(), SHA1),
        (T.FILE_MD5, MD5, MD5),
        (T.CERT_SHA1, "31A6ECECD97CF39BC4126B8745CD94A7C30BF81C", SHA1),
        (T.CERT_SHA1, ":".join(SHA1[i : i + 2] for i in range(0, 40, 2)).upper(), SHA1),
        (T.CERT_SHA1, " ".join(SHA1[i : i + 4] for i in range(0, 40, 4)), SHA1),
        (T.CERT_SHA256, SHA256.upper(), SHA256),
        (T.CERT_MD5, ":".join(MD5[i : i + 2] for i in range(0, 32, 2)), MD5),
        (T.PACKAGE, "com.example.app", "com.example.app"),
        (T.PACKAGE, " Com.Example.App_2 ", "Com.Example.App_2"),  # case is kept
        (T.PACKAGE, "com.qustodio.par.qustodio-family-parental-control-app", None),  # iOS
        (T.PACKAGE, "cm.google.android.apps.assistant", None),
        (T.PACKAGE, "a.b", "a.b"),
        (T.PACKAGE, "com.1st.app", "com.1st.app"),
    ],
)
def test_canonical_values(type_: IndicatorType, value: str, expected: str | None) -> None:
    want = value.strip() if expected is None else expected
    assert canonical_app_indicator(type_, value) == want
    assert canonical_indicator(type_, value) == want


@pytest.mark.parametrize(
    ("type_", "value", "message"),
    [
        (T.FILE_SHA256, SHA1, f"'{SHA1}' has 40 hex digits; a SHA-256 hash has 64"),
        (T.FILE_SHA1, SHA256, f"'{SHA256}' has 64 hex digits; a SHA-1 hash has 40"),
        (T.FILE_MD5, MD5 + "0", f"'{MD5}0' has 33 hex digits; a MD5 hash has 32"),
        (T.CERT_SHA1, "aa:bb", "'aa:bb' has 4 hex digits; a SHA-1 thumbprint has 40"),
        (
            T.FILE_SHA1,
            "AB:" + SHA1[2:],  # colons are for thumbprints only
            f"'AB:{SHA1[2:]}' is not a hexadecimal hash (only 0-9 and a-f can appear)",
        ),
        (
            T.CERT_SHA256,
            "g" * 64,
            f"'{'g' * 64}' is not a hexadecimal thumbprint (only 0-9 and a-f can appear,"
            " in groups separated by ':' or spaces)",
        ),
        (T.FILE_SHA256, " ", "empty SHA-256 hash"),
        (T.CERT_SHA1, "::", "empty SHA-1 thumbprint"),
        (T.PACKAGE, "", "empty package name"),
        (
            T.PACKAGE,
            "spyapp",
            "package name 'spyapp' has no dot; give the full name, like com.example.app",
        ),
        (T.PACKAGE, "com..spy", "package name 'com..spy' has an empty segment"),
        (T.PACKAGE, ".com.spy", "package name '.com.spy' has an empty segment"),
        (
            T.PACKAGE,
            "com.spy app",
            "package name 'com.spy app' contains characters a package name or bundle id cannot"
            " hold (only ASCII letters, digits, '_', '-' and '.' can)",
        ),
        (
            T.PACKAGE,
            "com.spÿ",
            "package name 'com.spÿ' contains characters a package name or bundle id cannot"
            " hold (only ASCII letters, digits, '_', '-' and '.' can)",
        ),
        (
            T.PACKAGE,
            "a." + "b" * 254,
            f"package name 'a.{'b' * 75}...' is 256 characters long, more than the 255 allowed",
        ),
    ],
)
def test_bad_values_say_why(type_: IndicatorType, value: str, message: str) -> None:
    with pytest.raises(InvalidAppIdentifier) as caught:
        canonical_app_indicator(type_, value)
    assert caught.value.message == message
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, InvalidInput)
    # canonical_indicator reports it as it reports bad web values
    with pytest.raises(InvalidUrl) as as_url:
        canonical_indicator(type_, value)
    assert as_url.value.message == message


def test_package_length_limit_is_inclusive() -> None:
    name = "a." + "b" * 253
    assert canonical_package(name) == name


def test_canonical_hash_rejects_other_types() -> None:
    with pytest.raises(InvalidAppIdentifier, match="package is not a hash indicator type"):
        canonical_hash(T.PACKAGE, SHA1)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (SHA1.upper(), T.CERT_SHA1),
        (SHA256, T.CERT_SHA256),
        (MD5, T.CERT_MD5),
        (":".join(SHA1[i : i + 2] for i in range(0, 40, 2)), T.CERT_SHA1),
    ],
)
def test_cert_type_of(value: str, expected: IndicatorType) -> None:
    assert cert_type_of(value) is expected


def test_cert_type_of_unknown_length() -> None:
    with pytest.raises(InvalidAppIdentifier) as caught:
        cert_type_of("abc")
    assert caught.value.message == (
        "certificate thumbprint 'abc' has 3 characters;"
        " expected 40 hex digits (SHA-1), 64 (SHA-256) or 32 (MD5)"
    )


def test_short_hash() -> None:
    assert short_hash(SHA256) == "9f86d081…"
    assert short_hash("abc") == "abc"


# --- properties -------------------------------------------------------------------------------

_HEXISH = st.text(st.sampled_from("0123456789abcdefABCDEF: \tgG\u00e9\u212a"), max_size=80)
_PACKAGEISH = st.text(st.sampled_from("abcXYZ019_-. \u00fc\u0131/"), max_size=40)


@settings(max_examples=500, deadline=None)
@given(
    type_=st.sampled_from(APP_TYPES),
    value=st.one_of(st.text(max_size=300), _HEXISH, _PACKAGEISH),
)
def test_only_value_errors_and_results_are_fixed_points(type_: IndicatorType, value: str) -> None:
    try:
        result = canonical_app_indicator(type_, value)
    except ValueError:
        return
    assert canonical_app_indicator(type_, result) == result
    assert result.isascii() and result == result.strip()
    if type_ is not T.PACKAGE:
        assert len(result) == HASH_LENGTHS[type_] and result == result.lower()


@settings(max_examples=200, deadline=None)
@given(
    type_=st.sampled_from([t for t in APP_TYPES if t is not T.PACKAGE]),
    data=st.data(),
)
def test_every_hash_spelling_reduces_to_lower_hex(
    type_: IndicatorType, data: st.DataObject
) -> None:
    digits = data.draw(
        st.text(
            st.sampled_from("0123456789abcdef"),
            min_size=HASH_LENGTHS[type_],
            max_size=HASH_LENGTHS[type_],
        )
    )
    spelled = "".join(c.upper() if data.draw(st.booleans()) else c for c in digits)
    if type_.value.startswith("cert_"):
        spelled = ":".join(spelled[i : i + 2] for i in range(0, len(spelled), 2))
    assert canonical_indicator(type_, f" {spelled} ") == digits
