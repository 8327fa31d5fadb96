"""The admin's trusted CA list: comma-separated SHA-1 thumbprints in the reference product's
format, read exactly, and every other spelling refused with the position and what was found."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openmtd.engines.network.thumbprints import (
    TrustedCaListError,
    format_thumbprint,
    format_trusted_ca_list,
    parse_trusted_ca_list,
    sha1_thumbprint,
)

A = hashlib.sha1(b"a").hexdigest()  # 86f7e437faa5a7fce15d1ddcb9eaeaea377667b8
B = hashlib.sha1(b"b").hexdigest()
A_SPACED = "86 F7 E4 37 FA A5 A7 FC E1 5D 1D DC B9 EA EA EA 37 76 67 B8"


def error(text: str) -> TrustedCaListError:
    with pytest.raises(TrustedCaListError) as caught:
        parse_trusted_ca_list(text)
    assert isinstance(caught.value, ValueError)
    return caught.value


# --- accepted spellings -------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        A,
        A.upper(),
        A_SPACED,
        A_SPACED.lower(),
        "86f7E437FAa5a7fce15d1ddcb9eaeaea377667B8",
        f"  {A_SPACED}  ",
        f"{A}\n",  # the line break an editor adds at the end
        "86  F7 E4 37 FA A5 A7 FC E1 5D 1D DC B9 EA EA EA 37 76 67 B8",
    ],
)
def test_one_thumbprint_in_any_accepted_spelling(text: str) -> None:
    assert parse_trusted_ca_list(text) == frozenset({A})


@pytest.mark.parametrize(
    "text",
    [
        f"{A},{B}",
        f"{A_SPACED}, {B.upper()}",
        f"{A} ,\t{B}",
        f"{A_SPACED},{B},{A}",
    ],
)
def test_several_thumbprints(text: str) -> None:
    assert parse_trusted_ca_list(text) == frozenset({A, B})


@pytest.mark.parametrize("text", ["", " ", "\n", " \t\r\n "])
def test_an_empty_list_is_valid(text: str) -> None:
    assert parse_trusted_ca_list(text) == frozenset()


# --- refused spellings ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "position", "found", "hint"),
    [
        (f"{A};{B}", 41, "a semicolon (';')", "separated by commas only"),
        (f"{A}\n{B}", 41, "a line break ('\\n')", "separated by commas only"),
        (f"{A}\r\n{B}", 41, "a carriage return ('\\r')", "separated by commas only"),
        (f"{A}|{B}", 41, "a pipe ('|')", "separated by commas only"),
        (f"{A}:{B}", 41, "a colon (':')", "separated by commas only"),
        (A_SPACED.replace(" ", ":"), 3, "a colon (':')", "not by colons"),
        (A_SPACED.replace(" ", "-"), 3, "a hyphen ('-')", "hexadecimal digits"),
        (A_SPACED.replace(" ", "\t", 1), 3, "a tab ('\\t')", "only spaces"),
        (A_SPACED.replace(" ", "\u00a0", 1), 3, "a no-break space", "only spaces"),
        ("86f7e437fga5a7fce15d1ddcb9eaeaea377667b8", 10, "'g'", "hexadecimal digits"),
        (f"{A},0x{B[2:]}", 43, "'x'", "hexadecimal digits"),
        (f"{A},\u200b{B}", 42, "ZERO WIDTH SPACE", "hexadecimal digits"),
    ],
)
def test_other_separators_and_characters_are_refused(
    text: str, position: int, found: str, hint: str
) -> None:
    e = error(text)
    assert e.position == position
    assert found in e.found
    assert f"character {position}:" in str(e)
    assert found in str(e) and hint in str(e)


def test_the_entry_number_is_given() -> None:
    e = error(f"{A}, {B}, {A};{B}")
    assert e.entry == 3
    assert str(e).startswith("trusted CA list, thumbprint 3 at character 125:")


@pytest.mark.parametrize(
    ("text", "position", "message"),
    [
        (A[:-1], 1, "found 39 hex digits; a SHA-1 thumbprint has 40"),
        (A + "0", 1, "found 41 hex digits"),
        ("ab" * 32, 1, "found 64 hex digits; a SHA-1 thumbprint has 40 (64 is a SHA-256"),
        (f"{A}, 1234", 43, "found 4 hex digits"),
        ("86F7 E437" + A_SPACED[9:], 1, "found the group '86F7'"),
        (A_SPACED[:10] + " " + A_SPACED[10:], 10, "found the group '3'"),
        (A_SPACED + " AB", 1, "found 42 hex digits"),
        (f"{A},,{B}", 42, "is empty (two commas in a row)"),
        (f"{A},", 41, "is empty (a comma at the end of the list)"),
        (f"{A}, \n", 41, "is empty (a comma at the end of the list)"),
        (f",{A}", 1, "is empty (a comma at the start of the list)"),
        (",", 1, "is empty (a comma at the start of the list)"),
    ],
)
def test_wrong_lengths_and_empty_entries(text: str, position: int, message: str) -> None:
    e = error(text)
    assert e.position == position
    assert message in str(e)


# --- formatting and hashing -------------------------------------------------------------------


def test_formatting_round_trips() -> None:
    assert format_thumbprint(A) == A_SPACED
    assert format_thumbprint(A, spaced=False) == A.upper()
    assert format_thumbprint(A_SPACED, spaced=False) == A.upper()
    text = format_trusted_ca_list({B, A})
    assert text == ",".join(format_thumbprint(t) for t in sorted({A, B}))
    assert parse_trusted_ca_list(text) == {A, B}
    assert format_trusted_ca_list([]) == ""
    assert sha1_thumbprint(b"a") == A


# --- properties -----------------------------------------------------------------------------

_thumbprints = st.binary(min_size=20, max_size=20).map(bytes.hex)


@st.composite
def _spelled(draw: st.DrawFn, thumbprint: str) -> str:
    spaced = draw(st.booleans())
    text = format_thumbprint(thumbprint, spaced=spaced)
    cases = draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    text = "".join(c.lower() if low else c for c, low in zip(text, cases, strict=True))
    before = draw(st.sampled_from(["", " ", "  ", "\t", " \t "]))
    after = draw(st.sampled_from(["", " ", "\t "]))
    return before + text + after


@st.composite
def _lists(draw: st.DrawFn) -> tuple[list[str], str]:
    values = draw(st.lists(_thumbprints, max_size=8))
    return values, ",".join(draw(_spelled(v)) for v in values)


@given(_lists())
def test_generated_lists_round_trip(case: tuple[list[str], str]) -> None:
    values, text = case
    assert parse_trusted_ca_list(text) == frozenset(values)


@given(st.lists(_thumbprints, max_size=6), st.booleans())
def test_formatted_lists_round_trip(values: list[str], spaced: bool) -> None:
    text = format_trusted_ca_list(values, spaced=spaced)
    assert parse_trusted_ca_list(text) == frozenset(values)
    assert parse_trusted_ca_list(text.lower()) == frozenset(values)


@given(
    st.one_of(
        st.text(),
        st.text(alphabet="0123456789abcdefABCDEF ,;:|\n\t-"),
        _lists().map(lambda case: case[1]),
    )
)
def test_any_text_is_a_list_or_a_precise_error(text: str) -> None:
    try:
        parsed = parse_trusted_ca_list(text)
    except TrustedCaListError as e:
        assert 1 <= e.position <= len(text)
        assert e.entry >= 1 and e.found
        assert str(e).startswith(f"trusted CA list, thumbprint {e.entry} at character ")
        return
    assert all(len(t) == 40 and t == t.lower() for t in parsed)
    assert all(int(t, 16) >= 0 for t in parsed)


@given(_lists(), st.sampled_from([";", "\n", "|", "\r\n", "/"]))
def test_a_foreign_separator_between_two_thumbprints_is_refused(
    case: tuple[list[str], str], separator: str
) -> None:
    values, text = case
    if len(values) < 2:
        return
    bad = text.replace(",", separator, 1)
    e = error(bad)
    assert e.position == bad.index(separator) + 1
    assert "commas only" in str(e)
