"""The admin's trusted CA list, in the reference product's format.

The list is comma-separated SHA-1 thumbprints of certificates (their DER encoding), each
written as 40 hexadecimal digits, either together ("ABCDEF0123...") or as twenty two-digit
bytes separated by spaces ("AB CD EF 01 ..."), in any case. Blanks around the commas are
allowed, and so is blank space (a trailing line break an editor adds) around the whole text;
an empty list is valid. Nothing else is: a semicolon, a line break or a pipe between
thumbprints, or colons between bytes, are refused with the position and what was found, since
silently splitting on them would accept lists the reference product rejects.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Iterable

__all__ = [
    "TrustedCaListError",
    "format_thumbprint",
    "format_trusted_ca_list",
    "parse_trusted_ca_list",
    "sha1_thumbprint",
]

THUMBPRINT_HEX_DIGITS = 40
_HEX = frozenset("0123456789abcdefABCDEF")
_BLANKS = " \t"
_AROUND_TEXT = " \t\r\n"
_NAMED = {
    ";": "a semicolon",
    "|": "a pipe",
    ":": "a colon",
    "\n": "a line break",
    "\r": "a carriage return",
    "\t": "a tab",
    ".": "a full stop",
    "-": "a hyphen",
    "/": "a slash",
    "\u00a0": "a no-break space",
}
_SEPARATORS = frozenset(";|\n\r/")


class TrustedCaListError(ValueError):
    """The trusted CA list is not in the accepted format.

    ``position`` is the 1-based character where the problem is, ``entry`` the 1-based number
    of the thumbprint, ``found`` what was found there.
    """

    def __init__(self, message: str, *, position: int, entry: int, found: str) -> None:
        super().__init__(message)
        self.position = position
        self.entry = entry
        self.found = found


def _describe(char: str) -> str:
    name = _NAMED.get(char)
    if name is not None:
        return f"{name} ({char!r})"
    if char.isprintable():
        return repr(char)
    return f"{char!r} ({unicodedata.name(char, f'U+{ord(char):04X}')})"


def _fail(entry: int, position: int, found: str, problem: str) -> TrustedCaListError:
    return TrustedCaListError(
        f"trusted CA list, thumbprint {entry} at character {position}: {problem}",
        position=position,
        entry=entry,
        found=found,
    )


def _bad_character(text: str, at: int, entry: int, core_start: int) -> TrustedCaListError:
    char = text[at]
    found = _describe(char)
    run = at
    while run > core_start and text[run - 1] in _HEX:
        run -= 1
    if char == ":" and at - run == 2:
        hint = "bytes are written together or separated by spaces, not by colons"
    elif char in _SEPARATORS or char == ":":
        hint = "thumbprints are separated by commas only"
    elif char.isspace():
        hint = "only spaces may separate the bytes of a thumbprint"
    else:
        hint = "a thumbprint has only the hexadecimal digits 0-9 and A-F"
    return _fail(entry, at + 1, found, f"found {found}; {hint}")


def _separator_after_blanks(text: str, at: int, end: int) -> int:
    """Where a run of blanks starting at ``at`` ends in a separator, the separator's offset
    (so "AB\t;CD" is reported as a semicolon, not a tab); otherwise ``at``."""
    after = at
    while after < end and text[after] in _BLANKS:
        after += 1
    if after > at and after < end and (text[after] in _SEPARATORS or text[after] == ":"):
        return after
    return at


def _parse_entry(
    text: str, start: int, end: int, entry: int, body_start: int, body_end: int
) -> str:
    """The thumbprint in text[start:end] (one comma-separated entry), as lower-case hex."""
    core_start, core_end = start, end
    while core_start < core_end and text[core_start] in _BLANKS:
        core_start += 1
    while core_end > core_start and text[core_end - 1] in _BLANKS:
        core_end -= 1
    if core_start == core_end:  # point at the comma that ends the entry, or the last one
        position = end + 1 if end < body_end else start
        if end == body_end and start > body_start:
            problem = "is empty (a comma at the end of the list)"
        elif start == body_start:
            problem = "is empty (a comma at the start of the list)"
        else:
            problem = "is empty (two commas in a row)"
        raise _fail(entry, position, "nothing", problem)
    groups: list[tuple[int, str]] = []  # (offset, hex digits) of the runs between spaces
    run_start: int | None = None
    for at in range(core_start, core_end):
        char = text[at]
        if char in _HEX:
            if run_start is None:
                run_start = at
        elif char == " ":
            if run_start is not None:
                groups.append((run_start, text[run_start:at]))
                run_start = None
        else:
            raise _bad_character(
                text, _separator_after_blanks(text, at, core_end), entry, core_start
            )
    if run_start is not None:
        groups.append((run_start, text[run_start:core_end]))
    digits = "".join(g for _, g in groups)
    if len(groups) > 1:
        for offset, group in groups:
            if len(group) != 2:
                raise _fail(
                    entry,
                    offset + 1,
                    repr(group),
                    f"found the group {group!r}; when the bytes are separated by spaces "
                    "each is two hex digits",
                )
    if len(digits) != THUMBPRINT_HEX_DIGITS:
        hint = ""
        if len(digits) == 64:
            hint = " (64 is a SHA-256; the list takes SHA-1 thumbprints)"
        raise _fail(
            entry,
            core_start + 1,
            f"{len(digits)} hex digits",
            f"found {len(digits)} hex digits; a SHA-1 thumbprint has {THUMBPRINT_HEX_DIGITS}{hint}",
        )
    return digits.lower()


def parse_trusted_ca_list(text: str) -> frozenset[str]:
    """The thumbprints of a trusted CA list, lower-case hex; TrustedCaListError if malformed."""
    body_end = len(text.rstrip(_AROUND_TEXT))
    body_start = len(text) - len(text.lstrip(_AROUND_TEXT))
    if body_start >= body_end:
        return frozenset()
    thumbprints: set[str] = set()
    start, entry = body_start, 1
    while True:
        comma = text.find(",", start, body_end)
        end = body_end if comma < 0 else comma
        thumbprints.add(_parse_entry(text, start, end, entry, body_start, body_end))
        if comma < 0:
            return frozenset(thumbprints)
        start, entry = comma + 1, entry + 1


def format_thumbprint(thumbprint: str, *, spaced: bool = True) -> str:
    """A thumbprint as the reference product writes it: upper case, bytes apart or together."""
    digits = thumbprint.replace(" ", "").upper()
    if not spaced:
        return digits
    return " ".join(digits[i : i + 2] for i in range(0, len(digits), 2))


def format_trusted_ca_list(thumbprints: Iterable[str], *, spaced: bool = True) -> str:
    """A trusted CA list for the given thumbprints (sorted, so the text is stable)."""
    return ",".join(format_thumbprint(t, spaced=spaced) for t in sorted(thumbprints))


def sha1_thumbprint(der: bytes) -> str:
    """The SHA-1 thumbprint of a DER certificate, as the trusted CA list holds it."""
    return hashlib.sha1(der).hexdigest()
