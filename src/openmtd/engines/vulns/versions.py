"""Comparing the version strings that phones, apps and vulnerability feeds really use.

Written by hand because no library covers them: ``packaging.version`` implements PEP 440 and
rejects most mobile versions (``"12L"``, ``"16-qpr2"``, ``"14:2024-01-01"``, ``"7.0 (1234)"``,
``"242.20 - Stable"``, ``"9.9.5-240425.0.1"``), and semantic-versioning libraries want exactly
three numbers. The rules, in order:

* Surrounding blanks and a leading ``v`` are dropped, as is build metadata after ``+``
  (``"v1.2.3+abc"`` == ``"1.2.3"``).
* A trailing parenthesised group is a build number and is ignored (``"7.0 (1234)"`` ==
  ``"7.0"``), except a single letter, which is Apple's Rapid Security Response and sorts after
  the release it patches (``"16.5.1"`` < ``"16.5.1 (a)"`` < ``"16.5.1 (c)"`` < ``"16.5.2"``).
* A leading name that ends in a separator is ignored, as Google's own apps write it:
  ``"messages.android_20240812_00_RC02.phone_dynamic"`` is 20240812 with a later-line suffix.
* The version starts with dot-separated numbers, compared numerically with trailing zeros
  ignored: ``"17.4"`` == ``"17.4.0"``, ``"2.10.1"`` > ``"2.9"``, ``"24.1.0.2319"`` has four
  parts, ``"2024.01.15"`` is (2024, 1, 15), a ``versionCode`` such as ``"123456"`` is one
  number. A bare date ``"2024-01-15"`` counts as ``"2024.01.15"``.
* Whatever follows is a suffix, split into words and numbers. A suffix that starts with a
  pre-release word (``dev``, ``snapshot``, ``nightly``, ``canary``, ``next``, ``alpha``,
  ``dp``, ``preview``, ``pre``, ``beta``, ``rc`` … in that order) sorts before the release:
  ``"4.5.0-beta.2"`` < ``"4.5.0-rc1"`` < ``"4.5.0"``, and ``"15-next"`` < ``"15"``. The words
  ``release``, ``stable``, ``final`` and ``ga`` say nothing (``"242.20 - Stable"`` ==
  ``"242.20"``). Any other suffix is a later line of the same release, so it sorts after it and
  before the next release: ``"12"`` < ``"12L"`` < ``"13"``, ``"16"`` < ``"16-qpr2"`` <
  ``"16.1"``, ``"9.9.5"`` < ``"9.9.5-240425.0.1"`` < ``"9.9.6"``.
* Android security patch levels are written ``"<major>:<YYYY-MM-DD>"`` as in OSV's Android
  ecosystem; ``"<major>:0"`` is the lowest level of that major. Two patch levels compare by
  date only when their majors are the same; the major is its base release, so ``"15-next:…"``
  and ``"16-qpr2:…"`` are patch levels of Android 15 and 16 (a device on a quarterly release
  reports the plain major), while ``"12L"`` stays a major of its own. An empty major
  (``":2022-06-05"``, the kernel records of the bulletin) belongs to no major: ``compare``
  calls it comparable only with other empty majors, ``in_range`` lets such a bound apply to
  every major.
* Text without a number where one is expected (``""``, ``"unknown"``, ``"abc"``, ``"rc1"``,
  ``"Baklava"``) is not a version: ``parse_version`` answers ``None`` and ``compare`` answers
  ``None``, as it does for a patch level against a plain version or two different majors.

``parse_version`` never raises, whatever it is given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from openmtd.domain.vulns import VersionRange

__all__ = [
    "ANDROID_LINE_PREFIX",
    "Order",
    "VersionKey",
    "android_major",
    "compare",
    "in_range",
    "parse_version",
]

#: A suffix element: (0, number, "") or (1, 0, word); numbers sort before words, as in SemVer.
SuffixPart = tuple[int, int, str]
#: What versions of one line are ordered by: (release numbers, phase, suffix).
Order = tuple[tuple[int, ...], int, tuple[SuffixPart, ...]]

#: ``VersionKey.line`` of an Android patch level starts with this, followed by the major.
ANDROID_LINE_PREFIX = "android:"

_MAX_LENGTH = 128
_PRE_RELEASE, _RELEASE, _POST_RELEASE = -1, 0, 1
_PRE_RELEASE_RANK: dict[str, int] = {
    "dev": 0,
    "snapshot": 0,
    "nightly": 0,
    "canary": 0,
    "next": 0,
    "alpha": 1,
    "dp": 1,
    "preview": 1,
    "pre": 1,
    "ea": 1,
    "eap": 1,
    "beta": 2,
    "rc": 3,
    "cr": 3,
}
_SILENT_WORDS = frozenset({"release", "stable", "final", "ga"})

_ANDROID_PATCH_LEVEL = re.compile(r"([^:\s]*):(0|[0-9]{4}-[0-9]{2}-[0-9]{2})", re.ASCII)
_ANDROID_MAJOR = re.compile(r"[vV]?([0-9]+(?:\.[0-9]+)*)([A-Za-z]*)", re.ASCII)
#: Dot-separated numbers, after an optional name that ends in a separator ("messages.android_").
_LEADING_NUMBERS = re.compile(r"(?:[A-Za-z][A-Za-z_.\- ]*[_.\- ])?([0-9]+(?:\.[0-9]+)*)", re.ASCII)
_BARE_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})", re.ASCII)
_TRAILING_PARENTHESES = re.compile(r"\s*\(([^()]*)\)\s*$")
_SUFFIX_TOKEN = re.compile(r"[a-z]+|[0-9]+", re.ASCII)
_ZERO_PART: SuffixPart = (0, 0, "")


@dataclass(frozen=True, slots=True)
class VersionKey:
    """A parsed version: comparable with another key of the same ``line`` through ``order``.

    ``line`` is ``""`` for ordinary versions and ``"android:<major>"`` for Android security
    patch levels (``"android:"`` when the record names no major).
    """

    line: str
    order: Order

    @property
    def is_patch_level(self) -> bool:
        return self.line.startswith(ANDROID_LINE_PREFIX)

    @property
    def train(self) -> int:
        """The first number of an ordinary version (iOS 17.4.1 -> 17); 0 for a patch level."""
        release = self.order[0]
        return release[0] if release and not self.is_patch_level else 0


def parse_version(text: object) -> VersionKey | None:
    """The key of a version string, or ``None`` when it is not one (never raises)."""
    if not isinstance(text, str) or len(text) > _MAX_LENGTH:
        return None
    return _parse(text)


def compare(a: str | VersionKey, b: str | VersionKey) -> int | None:
    """-1, 0 or 1 as ``a`` is older than, equal to or newer than ``b``; ``None``: incomparable."""
    key_a = a if isinstance(a, VersionKey) else parse_version(a)
    key_b = b if isinstance(b, VersionKey) else parse_version(b)
    if key_a is None or key_b is None or key_a.line != key_b.line:
        return None
    return _sign(key_a.order, key_b.order)


def in_range(version: str | VersionKey, affected: VersionRange) -> bool | None:
    """Whether ``version`` lies in ``affected``; ``None`` when a bound cannot be compared."""
    key = version if isinstance(version, VersionKey) else parse_version(version)
    if key is None:
        return None
    if affected.start is not None:
        after_start = _compare_with_bound(key, affected.start)
        if after_start is None:
            return None
        if after_start < 0 or (after_start == 0 and not affected.start_inclusive):
            return False
    if affected.end is not None:
        before_end = _compare_with_bound(key, affected.end)
        if before_end is None:
            return None
        if before_end > 0 or (before_end == 0 and not affected.end_inclusive):
            return False
    return True


def android_major(text: object) -> str | None:
    """The Android major version a release or a patch level's prefix names, or ``None``.

    Trailing zero parts go (``"13.0"`` -> ``"13"``, ``"8.1.0"`` -> ``"8.1"``); one letter
    attached to the number stays (``"12L"``); any other suffix goes (``"16-qpr2"`` -> ``"16"``,
    ``"15-next"`` -> ``"15"``).
    """
    if not isinstance(text, str) or len(text) > _MAX_LENGTH:
        return None
    match = _ANDROID_MAJOR.match(text.strip())
    if match is None:
        return None
    numbers = _without_trailing_zeros(tuple(int(part) for part in match.group(1).split(".")))
    letters = match.group(2)
    major = ".".join(str(number) for number in numbers) if numbers else "0"
    return major + letters.upper() if len(letters) == 1 else major


# --------------------------------------------------------------------------------------------


@lru_cache(maxsize=1 << 16)
def _parse(text: str) -> VersionKey | None:
    stripped = text.strip()
    patch_level = _ANDROID_PATCH_LEVEL.fullmatch(stripped)
    if patch_level is not None:
        return _patch_level(patch_level.group(1), patch_level.group(2))
    if ":" in stripped:
        return None
    return _ordinary(stripped)


def _patch_level(major_text: str, level: str) -> VersionKey | None:
    major = android_major(major_text) if major_text else ""
    if major is None:
        return None
    if level == "0":
        day = 0
    else:
        try:
            day = date.fromisoformat(level).toordinal()
        except ValueError:
            return None
    return VersionKey(ANDROID_LINE_PREFIX + major, ((day,), _RELEASE, ()))


def _ordinary(text: str) -> VersionKey | None:
    if text[:1] in ("v", "V") and text[1:2].isdigit():
        text = text[1:]
    text = text.split("+", 1)[0]
    rapid_security_response = ""
    parentheses = _TRAILING_PARENTHESES.search(text)
    if parentheses is not None:
        inside = parentheses.group(1).strip().lower()
        if len(inside) == 1 and "a" <= inside <= "z":
            rapid_security_response = inside
        text = text[: parentheses.start()]
    bare_date = _BARE_DATE.fullmatch(text.strip())
    if bare_date is not None:
        text = ".".join(bare_date.groups())
    numbers = _LEADING_NUMBERS.match(text)
    if numbers is None:
        return None
    release = _without_trailing_zeros(tuple(int(part) for part in numbers.group(1).split(".")))
    tokens = [
        t for t in _SUFFIX_TOKEN.findall(text[numbers.end() :].lower()) if t not in _SILENT_WORDS
    ]
    if rapid_security_response:
        tokens.append(rapid_security_response)
    phase, suffix = _suffix(tokens)
    return VersionKey("", (release, phase, suffix))


def _suffix(tokens: list[str]) -> tuple[int, tuple[SuffixPart, ...]]:
    if tokens and tokens[0] in _PRE_RELEASE_RANK:
        rest = _strip_zero_parts(tuple(_suffix_part(token) for token in tokens[1:]))
        return _PRE_RELEASE, ((0, _PRE_RELEASE_RANK[tokens[0]], ""), *rest)
    parts = _strip_zero_parts(tuple(_suffix_part(token) for token in tokens))
    return (_POST_RELEASE, parts) if parts else (_RELEASE, ())


def _suffix_part(token: str) -> SuffixPart:
    return (0, int(token), "") if token.isdigit() else (1, 0, token)


def _strip_zero_parts(parts: tuple[SuffixPart, ...]) -> tuple[SuffixPart, ...]:
    end = len(parts)
    while end and parts[end - 1] == _ZERO_PART:
        end -= 1
    return parts[:end]


def _without_trailing_zeros(numbers: tuple[int, ...]) -> tuple[int, ...]:
    end = len(numbers)
    while end and numbers[end - 1] == 0:
        end -= 1
    return numbers[:end]


def _compare_with_bound(key: VersionKey, bound_text: str) -> int | None:
    bound = parse_version(bound_text)
    if bound is None:
        return None
    if bound.line == ANDROID_LINE_PREFIX and key.is_patch_level:
        return _sign(key.order, bound.order)  # a bound of no major applies to every major
    return compare(key, bound)


def _sign(a: Order, b: Order) -> int:
    return (a > b) - (a < b)


def range_text(r: VersionRange) -> str:
    """A range as people read it: ``"17.0 ≤ v < 17.4.1"``, ``"v < 14:2024-02-01"``."""
    low = "" if r.start is None else f"{r.start} {'≤' if r.start_inclusive else '<'} "
    high = "" if r.end is None else f" {'≤' if r.end_inclusive else '<'} {r.end}"
    return f"{low}v{high}" if (low or high) else "every version"
