"""The editable app -> product mapping and its CSV form."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openmtd.engines.vulns.mapping import (
    DEFAULT_MAPPING,
    AppMapping,
    MappingProblem,
    MappingRow,
    PackageKey,
    mapping_to_csv,
    package_key,
    parse_mapping_csv,
)


def test_default_mapping_knows_well_known_apps_on_both_platforms() -> None:
    assert DEFAULT_MAPPING.products_for("org.telegram.messenger") == (
        "cpe:2.3:a:telegram:telegram",
    )
    assert DEFAULT_MAPPING.products_for("ph.telegra.Telegraph") == ("cpe:2.3:a:telegram:telegram",)
    assert DEFAULT_MAPPING.products_for("com.whatsapp") == ("cpe:2.3:a:whatsapp:whatsapp",)
    assert DEFAULT_MAPPING.products_for("net.whatsapp.WhatsApp") == ("cpe:2.3:a:whatsapp:whatsapp",)
    assert DEFAULT_MAPPING.products_for("org.mozilla.firefox") == ("cpe:2.3:a:mozilla:firefox",)
    assert DEFAULT_MAPPING.products_for("org.mozilla.ios.Firefox") == ("cpe:2.3:a:mozilla:firefox",)
    assert DEFAULT_MAPPING.products_for("com.android.chrome") == ("cpe:2.3:a:google:chrome",)
    assert DEFAULT_MAPPING.products_for("com.google.chrome.ios") == ("cpe:2.3:a:google:chrome",)
    assert DEFAULT_MAPPING.products_for("com.microsoft.teams") == ("cpe:2.3:a:microsoft:teams",)
    assert DEFAULT_MAPPING.products_for("com.microsoft.skype.teams") == (
        "cpe:2.3:a:microsoft:teams",
    )


def test_unknown_apps_map_to_nothing() -> None:
    assert DEFAULT_MAPPING.products_for("com.contoso.expenses") == ()
    assert DEFAULT_MAPPING.products_for("") == ()
    assert DEFAULT_MAPPING.products_for(None) == ()


def test_identifiers_are_looked_up_without_regard_to_case() -> None:
    assert DEFAULT_MAPPING.products_for("NET.WHATSAPP.WHATSAPP") == ("cpe:2.3:a:whatsapp:whatsapp",)


def test_from_rows_keeps_every_product_of_an_app_in_canonical_form() -> None:
    mapping = AppMapping.from_rows(
        [
            ("com.example.app", "CPE:2.3:a:Example:App:*:*:*:*:*:android:*:*"),
            ("com.example.app", "pkg:maven/com.example/app-core@1.2.3?type=aar#sub"),
            ("com.example.app", "Maven:com.example:app-core"),
            MappingRow("com.example.app", "cpe:2.3:a:example:app"),  # same as the first
        ]
    )
    assert mapping.products_for("com.example.app") == (
        "cpe:2.3:a:example:app",
        "maven:com.example:app-core",
        "pkg:maven/com.example/app-core",
    )
    assert len(mapping) == 3


@pytest.mark.parametrize(
    ("identifier", "product"),
    [
        ("", "cpe:2.3:a:telegram:telegram"),
        ("com.example app", "cpe:2.3:a:telegram:telegram"),
        ("com.example.app", "telegram"),
        ("com.example.app", "cpe:2.3:a:*:telegram"),
        ("com.example.app", "cpe:2.3:x:telegram:telegram"),
        ("com.example.app", "pkg:maven"),
        ("com.example.app", ""),
    ],
)
def test_from_rows_rejects_bad_rows(identifier: str, product: str) -> None:
    with pytest.raises(ValueError, match="row 0"):
        AppMapping.from_rows([(identifier, product)])


def test_merged_mapping_has_the_rows_of_both() -> None:
    extra = AppMapping.from_rows([("com.whatsapp", "cpe:2.3:a:meta:whatsapp")])
    merged = DEFAULT_MAPPING.merged(extra)
    assert merged.products_for("com.whatsapp") == (
        "cpe:2.3:a:meta:whatsapp",
        "cpe:2.3:a:whatsapp:whatsapp",
    )
    assert len(merged) == len(DEFAULT_MAPPING) + 1


# --- package keys ------------------------------------------------------------------------------


def test_package_key_of_a_full_cpe_keeps_the_target_software_apart() -> None:
    assert package_key("cpe:2.3:a:mozilla:firefox:*:*:*:*:*:iphone_os:*:*") == PackageKey(
        "cpe:2.3:a:mozilla:firefox", "iphone_os"
    )
    assert package_key("cpe:2.3:a:google:chrome:*:*:*:*:*:*:*:*") == PackageKey(
        "cpe:2.3:a:google:chrome", ""
    )
    assert package_key("cpe:2.3:a:telegram:telegram") == PackageKey("cpe:2.3:a:telegram:telegram")
    assert package_key("cpe:/a:whatsapp:whatsapp:2.19") == PackageKey("cpe:2.3:a:whatsapp:whatsapp")


def test_package_key_of_purls_and_osv_names() -> None:
    assert package_key("pkg:npm/%40scope/name@1.0.0") == PackageKey("pkg:npm/%40scope/name")
    assert package_key("pkg:Maven/com.squareup.okhttp3/okhttp") == PackageKey(
        "pkg:maven/com.squareup.okhttp3/okhttp"
    )
    assert package_key("Maven:com.squareup.okhttp3:okhttp") == PackageKey(
        "maven:com.squareup.okhttp3:okhttp"
    )
    assert package_key("crates.io:openssl") == PackageKey("crates.io:openssl")


@pytest.mark.parametrize(
    "text", ["", "telegram", "cpe:2.3:a", "pkg:", "pkg:/x", ":name", "eco:", "a b:c", None, 3]
)
def test_package_key_of_non_identifiers_is_none(text: object) -> None:
    assert package_key(text) is None


@given(st.text(max_size=80))
def test_package_key_never_raises(text: str) -> None:
    key = package_key(text)
    if key is not None:
        assert package_key(key.key) is not None


# --- CSV ---------------------------------------------------------------------------------------


def test_csv_round_trip() -> None:
    text = mapping_to_csv(DEFAULT_MAPPING)
    assert text.startswith("identifier,product\n")
    assert "com.whatsapp,cpe:2.3:a:whatsapp:whatsapp\n" in text
    parsed = parse_mapping_csv(text)
    assert parsed.problems == ()
    assert parsed.mapping == DEFAULT_MAPPING


def test_csv_reports_bad_lines_with_their_numbers_and_keeps_the_good_ones() -> None:
    text = (
        "identifier,product\n"  # 1: header
        "# admin additions\n"  # 2: comment
        "com.contoso.expenses,cpe:2.3:a:contoso:expenses\n"  # 3: good
        "\n"  # 4: blank
        "com.contoso.crm\n"  # 5: one field
        "com.contoso.crm,cpe:2.3:a:contoso:crm,extra\n"  # 6: three fields
        "not an id,cpe:2.3:a:contoso:crm\n"  # 7: bad identifier
        "com.contoso.crm,contoso crm\n"  # 8: bad product
        ' "com.contoso.crm" , "pkg:maven/com.contoso/crm" \n'  # 9: good, quoted
        "com.contoso.expenses,cpe:2.3:a:contoso:expenses\n"  # 10: duplicate of 3
        'com.contoso.x,"unterminated\n'  # 11: broken quoting
    )
    parsed = parse_mapping_csv(text)
    assert [problem.line for problem in parsed.problems] == [5, 6, 7, 8, 10, 11]
    assert parsed.problems[0] == MappingProblem(5, "expected 'identifier,product', got 1 fields")
    assert "not an Android package name" in parsed.problems[2].reason
    assert "not a product identifier" in parsed.problems[3].reason
    assert parsed.problems[4] == MappingProblem(10, "same as line 3; ignored")
    assert parsed.mapping.products_for("com.contoso.expenses") == ("cpe:2.3:a:contoso:expenses",)
    assert parsed.mapping.products_for("com.contoso.crm") == ("pkg:maven/com.contoso/crm",)


def test_csv_that_is_not_text_is_one_problem() -> None:
    parsed = parse_mapping_csv(b"com.whatsapp,cpe:2.3:a:whatsapp:whatsapp")
    assert len(parsed.mapping) == 0
    assert parsed.problems == (MappingProblem(0, "the mapping is not text"),)


@given(st.text(max_size=300))
def test_parse_mapping_csv_never_raises(text: str) -> None:
    parsed = parse_mapping_csv(text)
    for problem in parsed.problems:
        assert 1 <= problem.line <= max(1, len(text.splitlines()))
    assert parse_mapping_csv(mapping_to_csv(parsed.mapping)).mapping == parsed.mapping
