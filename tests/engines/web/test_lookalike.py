"""Lookalike heuristics: each positive asserts its explanation; the negatives cover the guards."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openmtd.domain.enums import Severity
from openmtd.domain.errors import InvalidInput
from openmtd.domain.web import IndicatorAction, MatchKind, WebMatch
from openmtd.engines.web import brands
from openmtd.engines.web.lookalike import (
    HEURISTICS,
    LookalikeDetector,
    LookalikePolicy,
    registrable_domain,
    script_of,
    skeleton,
)

DETECTOR = LookalikeDetector(LookalikePolicy(protected=("contoso.com",)))


def fired(host: str, detector: LookalikeDetector = DETECTOR) -> dict[str, WebMatch]:
    """The matches by heuristic id (at most one per heuristic)."""
    matches = detector.check(host)
    by_id = {m.meta.source: m for m in matches}
    assert len(by_id) == len(matches), matches
    assert [m.meta.source for m in matches] == [h for h in HEURISTICS if h in by_id]
    return by_id


def only(host: str, heuristic: str, detector: LookalikeDetector = DETECTOR) -> WebMatch:
    found = fired(host, detector)
    assert heuristic in found, (host, found)
    return found[heuristic]


def assert_lookalike(match: WebMatch, heuristic: str, brand: str) -> None:
    assert match.meta.kind is MatchKind.HEURISTIC
    assert match.meta.source == heuristic
    assert match.action is IndicatorAction.WARN
    assert match.meta.severity is Severity.INFORMATIONAL
    assert match.meta.category == "Phishing"
    assert match.meta.title == f"Possible lookalike of {brand}"
    assert match.meta.description
    assert match.indicator_type is None
    assert match.expression == brand


# -- registrable_domain ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("example.com", "example.com"),
        ("www.example.com", "example.com"),
        ("example.co.uk", "example.co.uk"),
        ("login.example.co.uk", "example.co.uk"),
        ("a.b.example.com.au", "example.com.au"),
        ("WWW.Example.COM.", "example.com"),
        # private section: each hosting customer is a registrable domain of its own
        ("user.github.io", "user.github.io"),
        ("a.b.user.github.io", "user.github.io"),
        ("foo.blogspot.com", "foo.blogspot.com"),
        ("bucket.s3.amazonaws.com", "bucket.s3.amazonaws.com"),
        # unknown TLDs end in a one-label suffix
        ("paypal.com.evil.example", "evil.example"),
        # IDN: punycode in, punycode out; Unicode input is converted
        ("test.xn--p1ai", "test.xn--p1ai"),
        ("www.пример.рф", "xn--e1afmkfd.xn--p1ai"),
        ("www.ck", "www.ck"),  # an exception rule (!www.ck) under the wildcard *.ck
    ],
)
def test_registrable_domain(host: str, expected: str) -> None:
    assert registrable_domain(host) == expected


@pytest.mark.parametrize(
    "host",
    [
        "github.io",  # a bare (private) suffix
        "co.uk",
        "com",
        "localhost",  # a single label
        "192.0.2.1",
        "10.1",  # IPv4 in a short spelling
        "0x7f.0x1",
        "::1",
        "[2001:db8::1]",
        "",
        ".",
        "a..b",
        "a b.com",
        "http://example.com/",
        "x" * 64 + ".com",  # a label over 63 characters
        ("a" * 60 + ".") * 5 + "com",  # a name over 253 characters
    ],
)
def test_registrable_domain_none(host: str) -> None:
    assert registrable_domain(host) is None
    assert DETECTOR.check(host) == ()


# -- the Unicode data ---------------------------------------------------------------------------


def test_skeletons_follow_the_uts39_data() -> None:
    assert skeleton("pаypal") == skeleton("paypal") == "paypal"  # Cyrillic а
    assert skeleton("microsoft") == skeleton("rnicrosoft") == "rnicrosoft"  # the data: m -> rn
    assert skeleton("paypa1") == "paypal"  # digit one -> l
    assert skeleton("g00gle") == "google"  # zero -> O, lowercased for host names
    assert skeleton("ɡoogle") == "google"  # LATIN SMALL LETTER SCRIPT G
    assert skeleton("ⅿ") == "rn"  # SMALL ROMAN NUMERAL ONE THOUSAND
    assert skeleton("аррӏе") == "apple"  # all Cyrillic, palochka corrected to l
    assert skeleton("netflix") == "netflix"


def test_scripts() -> None:
    assert script_of("a") == "Latin"
    assert script_of("а") == "Cyrillic"
    assert script_of("α") == "Greek"
    assert script_of("日") == "Han"
    assert script_of("カ") == "Katakana"
    assert script_of("1") == "Common"
    assert script_of("-") == "Common"
    assert script_of("\u0301") == "Inherited"
    assert script_of("\ue000") == "Unknown"  # private use


# -- confusable -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "brand", "reason"),
    [
        (
            "xn--pypal-4ve.com",  # pаypal.com, Cyrillic а
            "paypal.com",
            "xn--pypal-4ve.com looks like paypal.com: its skeleton equals paypal.com's "
            "(Cyrillic 'а' U+0430 for Latin 'a')",
        ),
        (
            "paypa1.com",
            "paypal.com",
            "paypa1.com looks like paypal.com: its skeleton equals paypal.com's "
            "(digit '1' for Latin 'l')",
        ),
        (
            "rnicrosoft.com",
            "microsoft.com",
            "rnicrosoft.com looks like microsoft.com: its skeleton equals microsoft.com's "
            "('rn' for Latin 'm')",
        ),
        (
            "micros0ft.net",
            "microsoft.com",
            "micros0ft.net looks like microsoft.com: its skeleton equals microsoft.com's "
            "(digit '0' for Latin 'o')",
        ),
        (
            "xn--80ak6aa92e.com",  # аррӏе.com, all Cyrillic
            "apple.com",
            "xn--80ak6aa92e.com looks like apple.com: its skeleton equals apple.com's "
            "(Cyrillic 'а' U+0430 for Latin 'a', Cyrillic 'р' U+0440 for Latin 'p', "
            "Cyrillic 'ӏ' U+04CF for Latin 'l', Cyrillic 'е' U+0435 for Latin 'e')",
        ),
        (
            "paypal.corn",  # the suffix imitates .com
            "paypal.com",
            "paypal.corn looks like paypal.com: its skeleton equals paypal.com's "
            "('rn' for Latin 'm')",
        ),
        (
            "c0ntoso.com",  # the organisation's own domain
            "contoso.com",
            "c0ntoso.com looks like contoso.com: its skeleton equals contoso.com's "
            "(digit '0' for Latin 'o')",
        ),
        (
            "1ive.com",  # short brands are protected from homoglyphs too
            "live.com",
            "1ive.com looks like live.com: its skeleton equals live.com's "
            "(digit '1' for Latin 'l')",
        ),
        (
            "login.paypa1.github.io",  # on a hosting platform's private suffix
            "paypal.com",
            "paypa1.github.io looks like paypal.com: its skeleton equals paypal.com's "
            "(digit '1' for Latin 'l')",
        ),
    ],
)
def test_confusable(host: str, brand: str, reason: str) -> None:
    match = only(host, "confusable")
    assert_lookalike(match, "confusable", brand)
    assert match.reason == reason


def test_confusable_unicode_input_is_judged_like_its_punycode() -> None:
    assert DETECTOR.check("pаypal.com") == DETECTOR.check("xn--pypal-4ve.com")


# -- edit-distance --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "brand", "reason"),
    [
        (
            "paypall.com",
            "paypal.com",
            "paypall.com looks like paypal.com: 'paypall' is one edit from 'paypal' (an extra 'l')",
        ),
        (
            "gooogle.com",
            "google.com",
            "gooogle.com looks like google.com: 'gooogle' is one edit from 'google' (an extra 'o')",
        ),
        (
            "netflx.net",  # another suffix
            "netflix.com",
            "netflx.net looks like netflix.com: 'netflx' is one edit from 'netflix' "
            "(a missing 'i')",
        ),
        (
            "micros0ft.com",
            "microsoft.com",
            "micros0ft.com looks like microsoft.com: 'micros0ft' is one edit from 'microsoft' "
            "('0' instead of 'o')",
        ),
        (
            "papyal.com",
            "paypal.com",
            "papyal.com looks like paypal.com: 'papyal' is one edit from 'paypal' "
            "('y' and 'p' swapped)",
        ),
        (
            "pay-pal.com",
            "paypal.com",
            "pay-pal.com looks like paypal.com: 'pay-pal' is one edit from 'paypal' (an extra '-')",
        ),
        (
            "xn--paypl-jra.com",  # paypäl.com
            "paypal.com",
            "xn--paypl-jra.com looks like paypal.com: 'paypäl' is one edit from 'paypal' "
            "('ä' U+00E4 instead of 'a')",
        ),
        (
            "paypal.co",  # the brand's label, a typo in the suffix
            "paypal.com",
            "paypal.co looks like paypal.com: its suffix '.co' is one edit from '.com' "
            "(a missing 'm')",
        ),
        (
            "paypal.cm",
            "paypal.com",
            "paypal.cm looks like paypal.com: its suffix '.cm' is one edit from '.com' "
            "(a missing 'o')",
        ),
        (
            "docusign.co",  # two brand domains share the label: the nearer suffix is named
            "docusign.com",
            "docusign.co looks like docusign.com: its suffix '.co' is one edit from '.com' "
            "(a missing 'm')",
        ),
        (
            "contosso.com",
            "contoso.com",
            "contosso.com looks like contoso.com: 'contosso' is one edit from 'contoso' "
            "(an extra 's')",
        ),
    ],
)
def test_edit_distance(host: str, brand: str, reason: str) -> None:
    match = only(host, "edit-distance")
    assert_lookalike(match, "edit-distance", brand)
    assert match.reason == reason


def test_edit_distance_prefers_the_brand_under_the_same_suffix() -> None:
    assert only("docusing.net", "edit-distance").expression == "docusign.net"
    assert only("docusing.com", "edit-distance").expression == "docusign.com"


@pytest.mark.parametrize(
    "host",
    [
        # short brand labels (under five characters) are not compared
        "upss.com",
        "dhi.com",
        "ebey.com",
        "ups.co",
        # everyday-word brand labels and their neighbours
        "chose.com",
        "chasse.com",
        "apply.com",
        "ample.com",
        "offices.com",
        "slick.com",
        "stack.com",
        # everyday words one edit from a distinctive brand
        "email.com",
        "mail.com",
        "papal.com",
        "finance.com",
        "cloud.com",
        "venom.com",
        # two edits away
        "paypaal1.com",
        "amazzoon.org",
        # the brand's name under another suffix (its country sites and defensive registrations)
        "paypal.de",
        "amazon.co.uk",
        "google.com.br",
        "zoom.com",
    ],
)
def test_edit_distance_guards(host: str) -> None:
    assert "edit-distance" not in fired(host)


# -- embedding ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "brand", "reason"),
    [
        (
            "paypal.com-login.example.net",
            "paypal.com",
            "paypal.com-login.example.net writes out paypal.com in front of its real registrable "
            "domain example.net",
        ),
        (
            "paypal.com.evil.example",
            "paypal.com",
            "paypal.com.evil.example writes out paypal.com in front of its real registrable "
            "domain evil.example",
        ),
        (
            "www.paypal.com.s3.amazonaws.com",  # a storage bucket anyone can name
            "paypal.com",
            "www.paypal.com.s3.amazonaws.com writes out paypal.com in front of its real "
            "registrable domain com.s3.amazonaws.com",
        ),
        (
            "secure-paypal-login.example.net",
            "paypal.com",
            "secure-paypal-login.example.net uses the name 'paypal' of paypal.com in "
            "'secure-paypal-login', but its registrable domain is example.net",
        ),
        (
            "paypal-login.github.io",
            "paypal.com",
            "paypal-login.github.io uses the name 'paypal' of paypal.com in 'paypal-login', but "
            "its registrable domain is paypal-login.github.io",
        ),
        (
            "paypal.account-verify.net",  # the bare name as a subdomain, with a lure word
            "paypal.com",
            "paypal.account-verify.net pairs the name 'paypal' of paypal.com with the lure word "
            "'account', but its registrable domain is account-verify.net",
        ),
        (
            "apple-id-verify.com",  # an everyday-word brand needs a lure word
            "apple.com",
            "apple-id-verify.com pairs the name 'apple' of apple.com with the lure word 'id', but "
            "its registrable domain is apple-id-verify.com",
        ),
        (
            "ups-parcel-tracking.net",  # so does a short one
            "ups.com",
            "ups-parcel-tracking.net pairs the name 'ups' of ups.com with the lure word 'parcel', "
            "but its registrable domain is ups-parcel-tracking.net",
        ),
        (
            "apple-com-shop.net",  # ... or the brand's suffix right after it
            "apple.com",
            "apple-com-shop.net writes apple.com as 'apple-com' in 'apple-com-shop', but its "
            "registrable domain is apple-com-shop.net",
        ),
        (
            "xn--secure-pypal-login-ywo.example.net",  # secure-pаypal-login, Cyrillic а
            "paypal.com",
            "xn--secure-pypal-login-ywo.example.net imitates the name 'paypal' of paypal.com "
            "with look-alike characters in 'secure-pаypal-login' (xn--secure-pypal-login-ywo), "
            "but its registrable domain is example.net",
        ),
        (
            "contoso-login.example",
            "contoso.com",
            "contoso-login.example uses the name 'contoso' of contoso.com in 'contoso-login', "
            "but its registrable domain is contoso-login.example",
        ),
    ],
)
def test_embedding(host: str, brand: str, reason: str) -> None:
    match = only(host, "embedding")
    assert_lookalike(match, "embedding", brand)
    assert match.reason == reason


@pytest.mark.parametrize(
    "host",
    [
        # everyday words and short names without a lure word
        "apple-pie-recipes.com",
        "pop-ups.com",
        "live-score.net",
        "home-office.com",
        "apple.stackexchange.com",
        # a company's tenant on a SaaS platform: the bare brand name as a subdomain
        "netflix.wd1.myworkdayjobs.com",
        # CDN names that embed their customers' domains
        "www.paypal.com.edgekey.net",
        "e1234.a.akamaiedge.net",
        "www.paypal.com.cdn.cloudflare.net",
        # the brands' own other domains
        "google-analytics.com",
        "paypal-objects.com",
        "youtube-nocookie.com",
        "m.media-amazon.com",
        # the brand's name alone as a hosting customer's name
        "facebook.github.io",
        # a brand domain's text without its boundaries
        "x.company.com",
        "mypaypal.com.example",
    ],
)
def test_embedding_guards(host: str) -> None:
    assert "embedding" not in fired(host)


# -- mixed-script ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "scripts", "reason"),
    [
        (
            "xn--pypal-4ve.com",
            "Latin+Cyrillic",
            "xn--pypal-4ve.com mixes Latin and Cyrillic letters in one label: "
            "'pаypal' (xn--pypal-4ve)",
        ),
        (
            "xn--hell-85d.com",  # hellо.com, no brand in sight
            "Latin+Cyrillic",
            "xn--hell-85d.com mixes Latin and Cyrillic letters in one label: "
            "'hellо' (xn--hell-85d)",
        ),
        (
            "secure.xn--bnk-news-16g.com",
            "Latin+Cyrillic",
            "secure.xn--bnk-news-16g.com mixes Latin and Cyrillic letters in one label: "
            "'bаnk-news' (xn--bnk-news-16g)",
        ),
        (
            "xn--pyal-6nd48d.com",  # pаyπal: Latin, Cyrillic а and Greek π
            "Latin+Cyrillic+Greek",
            "xn--pyal-6nd48d.com mixes Latin, Cyrillic and Greek letters in one label: "
            "'pаyπal' (xn--pyal-6nd48d)",
        ),
        (
            "xn--ggle-news-q1ga.xn--bnk-news-16g.example",  # in a subdomain label too
            "Latin+Greek+Cyrillic",
            "xn--ggle-news-q1ga.xn--bnk-news-16g.example mixes Latin, Greek and Cyrillic letters "
            "in its labels: 'gοοgle-news' (xn--ggle-news-q1ga), 'bаnk-news' (xn--bnk-news-16g)",
        ),
    ],
)
def test_mixed_script(host: str, scripts: str, reason: str) -> None:
    match = only(host, "mixed-script")
    assert match.meta.kind is MatchKind.HEURISTIC
    assert match.action is IndicatorAction.WARN
    assert match.meta.title == f"Mixed-script domain name ({scripts})"
    assert match.meta.category == "Phishing"
    assert match.expression == scripts
    assert match.reason == reason


@pytest.mark.parametrize(
    "host",
    [
        "xn--mnchen-3ya.de",  # münchen: Latin only
        "xn--e1afmkfd.xn--p1ai",  # пример.рф: Cyrillic only
        "xn--eckwd4c7c5976acvb2w6i.jp",  # 日本語ドメイン: Han with Katakana, allowed
        "xn--p8s937b4q9bkkuslr.kr",  # 한국어漢字: Hangul with Han, allowed
        "xn--80ak6aa92e.com",  # аррӏе: one script (a confusable, not a mix)
        "xn--zz-invalid.com",  # not valid punycode: nothing to decode
    ],
)
def test_mixed_script_negatives(host: str) -> None:
    assert "mixed-script" not in fired(host)


# -- the guards shared by every heuristic ---------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "paypal.com",
        "www.paypal.com",
        "login.paypal.com",
        "accounts.google.com",
        "contoso.com",
        "mail.contoso.com",
        "example.com",
        "wikipedia.org",
        "stackoverflow.com",
        "apple.co",  # Apple's short links, one edit from apple.com
    ],
)
def test_brands_and_unrelated_names_are_quiet(host: str) -> None:
    assert DETECTOR.check(host) == ()


def test_every_builtin_brand_and_its_subdomains_are_quiet() -> None:
    for domain in brands.BUILTIN_BRANDS:
        assert registrable_domain(domain) == domain
        assert DETECTOR.check(domain) == (), domain
        assert DETECTOR.check(f"www.{domain}") == (), domain
    for domain in brands.BRAND_OWNED:
        assert DETECTOR.check(domain) == (), domain


def test_builtin_data_is_consistent() -> None:
    labels = {d.split(".")[0] for d in brands.BUILTIN_BRANDS}
    assert len(brands.BUILTIN_BRANDS) == len(set(brands.BUILTIN_BRANDS))
    assert 60 <= len(brands.BUILTIN_BRANDS) <= 120
    assert labels >= brands.COMMON_WORD_LABELS
    assert not brands.NEAR_WORDS & labels


def test_known_good_domains_and_their_subdomains_are_never_flagged() -> None:
    policy = LookalikePolicy(known_good=("paypa1.com", "partner.example"))
    detector = LookalikeDetector(policy)
    assert detector.check("paypa1.com") == ()
    assert detector.check("www.paypa1.com") == ()
    assert detector.check("secure-paypal-login.partner.example") == ()
    assert fired("secure-paypal-login.other.example", detector)


def test_disabled_heuristics_stay_silent() -> None:
    detector = LookalikeDetector(LookalikePolicy(disabled=frozenset({"confusable"})))
    assert set(fired("paypa1.com", detector)) == {"edit-distance"}
    detector = LookalikeDetector(LookalikePolicy(disabled=frozenset({"mixed-script"})))
    assert set(fired("xn--pypal-4ve.com", detector)) == {"confusable", "edit-distance"}
    everything = LookalikeDetector(LookalikePolicy(disabled=frozenset(HEURISTICS)))
    for host in ("paypa1.com", "paypal.com.evil.example", "xn--pypal-4ve.com"):
        assert everything.check(host) == ()


@pytest.mark.parametrize(
    "actions",
    [
        {"confusable": IndicatorAction.BLOCK, "embedding": IndicatorAction.AUDIT},
        (("confusable", IndicatorAction.BLOCK), ("embedding", IndicatorAction.AUDIT)),
    ],
)
def test_per_heuristic_actions_are_honoured(actions: object) -> None:
    policy = LookalikePolicy(actions=actions)  # type: ignore[arg-type]
    detector = LookalikeDetector(policy)
    found = fired("paypa1.com", detector)
    assert found["confusable"].action is IndicatorAction.BLOCK
    assert found["edit-distance"].action is IndicatorAction.WARN
    assert fired("paypal.com.evil.example", detector)["embedding"].action is IndicatorAction.AUDIT
    assert policy.action("mixed-script") is IndicatorAction.WARN


def test_policy_is_frozen_hashable_and_normalised() -> None:
    as_mapping = LookalikePolicy(actions={"embedding": IndicatorAction.BLOCK})
    as_pairs = LookalikePolicy(actions=(("embedding", IndicatorAction.BLOCK),))
    assert as_mapping == as_pairs
    assert hash(as_mapping) == hash(as_pairs)
    assert as_mapping.actions == (("embedding", IndicatorAction.BLOCK),)
    one = LookalikePolicy(protected="contoso.com", known_good="a.example")  # type: ignore[arg-type]
    assert one.protected == ("contoso.com",)
    assert one.known_good == ("a.example",)
    with pytest.raises(AttributeError):
        as_mapping.include_builtin = False  # type: ignore[misc]


def test_policy_rejects_unknown_heuristics_and_actions() -> None:
    with pytest.raises(InvalidInput, match="unknown lookalike heuristic 'typo'"):
        LookalikePolicy(disabled=frozenset({"typo"}))
    with pytest.raises(InvalidInput, match="unknown lookalike heuristic"):
        LookalikePolicy(actions={"typo": IndicatorAction.BLOCK})
    with pytest.raises(InvalidInput, match="not an indicator action"):
        LookalikePolicy(actions=(("embedding", "Explode"),))  # type: ignore[arg-type]


def test_protected_domains_are_registrable_domains() -> None:
    detector = LookalikeDetector(
        LookalikePolicy(protected=("Login.Contoso.COM.", "fabrikam.co.uk"))
    )
    assert detector.protected_domains[-2:] == ("contoso.com", "fabrikam.co.uk")
    assert only("fabrikarn.co.uk", "confusable", detector).expression == "fabrikam.co.uk"
    for bad in ("co.uk", "192.0.2.1", "not a domain"):
        with pytest.raises(InvalidInput, match="protected domain"):
            LookalikeDetector(LookalikePolicy(protected=(bad,)))
    with pytest.raises(InvalidInput, match="known-good domain"):
        LookalikeDetector(LookalikePolicy(known_good=("a b",)))


def test_without_builtin_brands_only_the_organisation_is_protected() -> None:
    detector = LookalikeDetector(LookalikePolicy(protected=("contoso.com",), include_builtin=False))
    assert detector.protected_domains == ("contoso.com",)
    assert detector.check("paypa1.com") == ()
    assert set(fired("c0ntoso.com", detector)) == {"confusable", "edit-distance"}
    assert detector.check("www.contoso.com.edgekey.net") == ()  # CDN names stay known good
    assert fired("www.contoso.com.evil.example", detector)["embedding"].expression == "contoso.com"


def test_a_tiny_cache_gives_the_same_answers() -> None:
    detector = LookalikeDetector(LookalikePolicy(), cache_size=2)
    hosts = ["paypa1.com", "example.com", "paypal.com.evil.example", "paypa1.com"] * 3
    assert [detector.check(h) for h in hosts] == [DETECTOR.check(h) for h in hosts]


# -- never raises ---------------------------------------------------------------------------

_LABEL = st.one_of(
    st.text("abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=24),
    st.text("abcdefghijklmnopqrstuvwxyz0123456789-", max_size=24).map(lambda s: "xn--" + s),
    st.sampled_from(["paypal", "com", "paypal-login", "xn--pypal-4ve", "apple", "github", "io"]),
)
_HOSTS = st.lists(_LABEL, min_size=1, max_size=6).map(".".join)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(), st.text(max_size=300).map(str.lower), _HOSTS))
def test_check_and_registrable_domain_never_raise(text: str) -> None:
    domain = registrable_domain(text)
    for match in DETECTOR.check(text):
        assert domain is not None
        assert match.meta.source in HEURISTICS
        assert domain in match.reason
        match.reason.encode("utf-8")  # printable: no lone surrogates in explanations


@settings(max_examples=300, deadline=None)
@given(_HOSTS)
def test_checks_are_deterministic(host: str) -> None:
    fresh = LookalikeDetector(LookalikePolicy(protected=("contoso.com",)))
    assert fresh.check(host) == DETECTOR.check(host)
