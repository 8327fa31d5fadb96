"""Version comparison for the version strings phones, apps and feeds really use."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openmtd.domain.vulns import VersionRange
from openmtd.engines.vulns.versions import (
    VersionKey,
    android_major,
    compare,
    in_range,
    parse_version,
)

OLDER_THAN = [
    # iOS / iPadOS
    ("17.4", "17.4.1"),
    ("17.4.1", "17.5"),
    ("17.7.2", "18.0"),
    ("18.3.2", "18.4"),
    ("18.7.9", "18.7.10"),
    ("16.5.1", "16.5.1 (a)"),  # Rapid Security Response after the release it patches
    ("16.5.1 (a)", "16.5.1 (c)"),
    ("16.5.1 (c)", "16.5.2"),
    # Android majors
    ("12", "12L"),
    ("12L", "13"),
    ("15-next", "15"),  # a pre-release of 15
    ("14", "15-next"),
    ("16", "16-qpr2"),  # a later line of 16
    ("16-qpr2", "16.1"),
    ("8.1.0", "9"),
    # apps
    ("1.2.3", "1.2.4"),
    ("2.9", "2.10.1"),
    ("4.5.0-beta.2", "4.5.0"),
    ("4.5.0-beta.1", "4.5.0-beta.2"),
    ("4.5.0-alpha", "4.5.0-beta"),
    ("4.5.0-beta.2", "4.5.0-rc1"),
    ("1.0.0-rc1", "1.0.0"),
    ("1.0.0-rc1", "1.0.0-rc2"),
    ("1.0.0-dev", "1.0.0-rc1"),
    ("2024.01.15", "2024.02.01"),
    ("2023.12.31", "2024.1.1"),
    ("24.1.0.2319", "24.1.0.2320"),
    ("24.1.0", "24.1.0.2319"),
    ("2.24.15.78", "2.24.19.86"),
    ("127.0.6533.103", "131.0.6778.104"),
    ("123455", "123456"),
    ("9.9.5", "9.9.5-240425.0.1"),
    ("9.9.5-240425.0.1", "9.9.6"),
    ("v1.9", "v1.10"),
    ("250.020", "252.010"),
    ("6.1.11.22474", "6.2.5.24166"),
    ("11.2.3", "11.5"),
    # Google apps name themselves in front of the version
    (
        "messages.android_20240812_00_RC02.phone_dynamic",
        "messages.android_20241021_00_RC01.phone_dynamic",
    ),
    ("messages.android_20240812_00_RC01", "messages.android_20240812_00_RC02"),
]

EQUAL = [
    ("17.4", "17.4.0"),
    ("17", "17.0.0"),
    ("7.0 (1234)", "7.0"),  # a build number in parentheses is ignored
    ("7.0 (1234)", "7.0 (1235)"),
    ("v1.2.3", "1.2.3"),
    ("1.2.3+abc", "1.2.3"),
    ("v1.2.3+build.7", "1.2.3"),
    ("242.20 - Stable", "242.20"),
    ("10.55.0-release.0", "10.55.0"),
    ("2024-01-15", "2024.01.15"),
    ("  3.1  ", "3.1"),
    ("14:2024-01-01", "14:2024-01-01"),
    ("16-qpr2:2025-03-01", "16:2025-03-01"),  # a patch level of a QPR is one of its major
    ("13.0:2024-01-01", "13:2024-01-01"),
]

NOT_VERSIONS = ["", "   ", "unknown", "abc", "Baklava", "()", "(1234)", "v", "beta", "rc1", "_1"]


@pytest.mark.parametrize(("older", "newer"), OLDER_THAN)
def test_older_versions_compare_below_newer_ones(older: str, newer: str) -> None:
    assert compare(older, newer) == -1
    assert compare(newer, older) == 1


@pytest.mark.parametrize(("a", "b"), EQUAL)
def test_equal_versions_compare_equal(a: str, b: str) -> None:
    assert compare(a, b) == 0
    assert parse_version(a) == parse_version(b)


@pytest.mark.parametrize("text", NOT_VERSIONS)
def test_text_without_a_leading_number_is_not_a_version(text: str) -> None:
    assert parse_version(text) is None
    assert compare(text, "1.0") is None


def test_non_text_and_overlong_text_are_not_versions() -> None:
    assert parse_version(None) is None
    assert parse_version(17) is None
    assert parse_version("1." * 200) is None


def test_android_patch_levels_compare_by_date_within_one_major() -> None:
    assert compare("14:2024-01-01", "14:2024-02-01") == -1
    assert compare("14:0", "14:2020-01-01") == -1  # ":0" is the lowest level of the major
    assert compare("12L:2023-05-01", "12L:2023-04-01") == 1


def test_android_patch_levels_of_different_majors_are_not_comparable() -> None:
    assert compare("14:2024-01-01", "13:2024-01-01") is None
    assert compare("12:2024-01-01", "12L:2024-01-01") is None
    assert compare("14:2024-01-01", ":2024-01-01") is None
    assert compare("14:2024-01-01", "14") is None  # a patch level is not a release


def test_android_patch_level_needs_a_real_date_and_a_major() -> None:
    assert parse_version("14:2024-13-01") is None
    assert parse_version("14:2024-02-30") is None
    assert parse_version("SoCVersion:2020-09-05") is None
    assert parse_version("14:1") is None
    assert parse_version("1:2.3") is None  # no Debian epochs here


def test_patch_level_of_no_major_parses() -> None:
    key = parse_version(":2022-06-05")
    assert key is not None
    assert key.is_patch_level
    assert key.line == "android:"


def test_android_major_names_the_base_release() -> None:
    assert android_major("14") == "14"
    assert android_major("13.0") == "13"
    assert android_major("8.1.0") == "8.1"
    assert android_major("12L") == "12L"
    assert android_major("12l") == "12L"
    assert android_major("16-qpr2") == "16"
    assert android_major("15-next") == "15"
    assert android_major("15beta") == "15"
    assert android_major("Baklava") is None
    assert android_major("") is None
    assert android_major(None) is None


def test_train_is_the_first_number() -> None:
    key = parse_version("17.4.1")
    assert key is not None
    assert key.train == 17
    patch = parse_version("14:2024-01-01")
    assert patch is not None
    assert patch.train == 0


def test_compare_accepts_parsed_keys() -> None:
    key = parse_version("17.4")
    assert isinstance(key, VersionKey)
    assert compare(key, "17.4.0") == 0
    assert compare("17.3", key) == -1


# --- in_range --------------------------------------------------------------------------------


def test_in_range_honours_inclusive_and_exclusive_bounds() -> None:
    fixed_in_17_4 = VersionRange(end="17.4")
    assert in_range("17.3.1", fixed_in_17_4) is True
    assert in_range("17.4", fixed_in_17_4) is False  # equal to the fix: patched
    assert in_range("17.4.0", fixed_in_17_4) is False
    last_affected = VersionRange(end="17.4", end_inclusive=True)
    assert in_range("17.4", last_affected) is True
    assert in_range("17.4.1", last_affected) is False
    after = VersionRange(start="16.0", start_inclusive=False, end="16.7.9")
    assert in_range("16.0", after) is False
    assert in_range("16.0.1", after) is True


def test_in_range_of_one_exact_version() -> None:
    exactly = VersionRange.exactly("2.24.15.78")
    assert in_range("2.24.15.78", exactly) is True
    assert in_range("2.24.15.79", exactly) is False


def test_in_range_without_bounds_contains_every_version() -> None:
    assert in_range("1.0", VersionRange()) is True
    assert in_range("unknown", VersionRange()) is None


def test_in_range_with_android_patch_levels() -> None:
    fixed = VersionRange(start="14:0", end="14:2024-02-01")
    assert in_range("14:2024-01-01", fixed) is True
    assert in_range("14:2024-02-01", fixed) is False
    assert in_range("13:2024-01-01", fixed) is None  # another major: no answer


def test_in_range_bound_of_no_major_applies_to_every_major() -> None:
    kernel = VersionRange(start=":0", end=":2022-06-05")
    assert in_range("12:2022-06-01", kernel) is True
    assert in_range("13:2022-06-05", kernel) is False


def test_in_range_is_none_when_a_bound_is_not_comparable() -> None:
    assert in_range("1.0", VersionRange(end="not a version")) is None
    assert in_range("1.0", VersionRange(start="14:0")) is None
    assert in_range("garbage", VersionRange(end="2.0")) is None


# --- properties ------------------------------------------------------------------------------

_NUMBER = st.integers(min_value=0, max_value=30).map(str)
_RELEASE = st.lists(_NUMBER, min_size=1, max_size=4).map(".".join)
_SUFFIX = st.sampled_from(
    ["", "-beta", "-beta.2", "-rc1", "-rc2", "L", "-qpr2", "-next", "-240425.0.1", " (c)",
     " (1234)", "+abc", "-release.0", "-alpha.1", "a", "-dev"]
)  # fmt: skip
_VERSION = st.one_of(
    st.builds(lambda r, s: r + s, _RELEASE, _SUFFIX),
    st.builds(
        lambda major, day: f"{major}:{day}",
        st.sampled_from(["", "12", "12L", "13", "14", "16-qpr2"]),
        st.one_of(st.just("0"), st.dates().map(lambda d: d.isoformat())),
    ),
    st.text(max_size=12),
)


@given(_VERSION, _VERSION)
def test_compare_is_antisymmetric(a: str, b: str) -> None:
    forward, backward = compare(a, b), compare(b, a)
    if forward is None:
        assert backward is None
    else:
        assert backward == -forward


@given(_VERSION, _VERSION, _VERSION)
def test_compare_is_transitive(a: str, b: str, c: str) -> None:
    first, second = compare(a, b), compare(b, c)
    if first is None or second is None or first > 0 or second > 0:
        return
    through = compare(a, c)
    assert through is not None
    assert through <= 0
    if first < 0 or second < 0:
        assert through < 0


@given(st.text(max_size=200))
def test_parse_version_never_raises(text: str) -> None:
    key = parse_version(text)
    if key is not None:
        assert compare(key, key) == 0


@given(st.text(max_size=40), st.one_of(st.none(), st.text(max_size=20)))
def test_in_range_never_raises(version: str, bound: str | None) -> None:
    assert in_range(version, VersionRange(start=bound, end=bound)) in (True, False, None)
