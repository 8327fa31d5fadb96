"""URL canonicalization per Safe Browsing, bare hosts, indicator values and lookup expressions."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from openmtd.domain.errors import InvalidInput
from openmtd.domain.web import IndicatorType
from openmtd.engines.web.canonical import (
    _FAST_URL,
    MAX_URL_LENGTH,
    CanonicalUrl,
    InvalidUrl,
    _canonicalize_slow,
    _unescape,
    canonical_host,
    canonical_indicator,
    canonicalize,
    host_suffixes,
    lookup_expressions,
    path_prefixes,
)

# --- canonical_host ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("example.com", "example.com"),
        ("WWW.Example.COM", "www.example.com"),
        ("example.com.", "example.com"),
        ("_dmarc.example.com", "_dmarc.example.com"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("BÜCHER.example.", "xn--bcher-kva.example"),
        ("ｅｘａｍｐｌｅ。ｃｏｍ", "example.com"),  # UTS 46 maps full-width letters and dots
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("192.168.0.1", "192.168.0.1"),
        ("0300.0250.0.1", "192.168.0.1"),
        ("0xc0a80001", "192.168.0.1"),
        ("3232235521", "192.168.0.1"),
        ("192.168.1", "192.168.0.1"),
        ("2001:0DB8:0000::1", "2001:db8::1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("::ffff:10.0.0.1", "10.0.0.1"),
        ("localhost", "localhost"),
    ],
)
def test_canonical_host(host: str, expected: str) -> None:
    assert canonical_host(host) == expected


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("", "empty host name"),
        (".", "has no host name"),
        ("example.com/path", "characters that cannot be part of a host name"),
        ("exa mple.com", "characters that cannot be part of a host name"),
        (" example.com", "characters that cannot be part of a host name"),
        ("example.com\n", "characters that cannot be part of a host name"),
        ("user@example.com", "characters that cannot be part of a host name"),
        ("ex%41mple.com", "characters that cannot be part of a host name"),
        ("example..com", "empty label"),
        (".example.com", "empty label"),
        ("example.com..", "empty label"),
        ("example.com:443", "not a valid IPv6 address"),
        ("[not-an-address]", "not a valid IPv6 address"),
        ("a_ü.example", "IDNA conversion failed"),
        ("\u0663\u0041.example", "IDNA"),  # Arabic-Indic digit then Latin: bidi rule
        ("a" * 64 + ".example", "too long for a DNS name"),
        (".".join(["a" * 60] * 5), "too long for a DNS name"),
    ],
)
def test_canonical_host_rejects(host: str, reason: str) -> None:
    with pytest.raises(InvalidUrl, match=reason) as raised:
        canonical_host(host)
    assert raised.value.code == "invalid_url"
    assert isinstance(raised.value, InvalidInput)


# --- canonical_indicator -----------------------------------------------------------------------

DOMAIN, URL, IP = IndicatorType.DOMAIN, IndicatorType.URL, IndicatorType.IP


@pytest.mark.parametrize(
    ("type_", "value", "expected"),
    [
        (DOMAIN, "Example.COM", "example.com"),
        (DOMAIN, "  example.com.  ", "example.com"),
        (DOMAIN, "*.example.com", "example.com"),
        (DOMAIN, "https://Login.Example.com:8443/path?q#frag", "login.example.com"),
        (DOMAIN, "http://user:pass@example.com/", "example.com"),
        (DOMAIN, "bücher.example", "xn--bcher-kva.example"),
        (DOMAIN, "192.0.2.1", "192.0.2.1"),
        (DOMAIN, "2001:db8::1", "2001:db8::1"),
        (DOMAIN, "http://[2001:db8::1]/", "2001:db8::1"),
        (URL, "http://www.example.com/login", "www.example.com/login"),
        (URL, "HTTPS://Example.com", "example.com/"),
        (URL, "example.com/a/../b/?x=1#top", "example.com/b/?x=1"),
        (URL, "http://example.com/q?", "example.com/q?"),
        (URL, "http://[2001:DB8::1]:8080/x", "2001:db8::1/x"),
        (URL, "http://3279880203/blah", "195.127.0.11/blah"),
        (IP, "10.1.2.3/8", "10.0.0.0/8"),
        (IP, "10.0.0.0/8", "10.0.0.0/8"),
        (IP, "192.0.2.7", "192.0.2.7"),
        (IP, "192.0.2.7/32", "192.0.2.7"),
        (IP, " 192.0.2.7 ", "192.0.2.7"),
        (IP, "2001:0db8::/32", "2001:db8::/32"),
        (IP, "2001:db8::1/128", "2001:db8::1"),
        (IP, "2001:DB8:0:0::1", "2001:db8::1"),
        (IP, "[2001:db8::1]", "2001:db8::1"),
        (IP, "::ffff:192.0.2.7", "192.0.2.7"),
        (IP, "::ffff:192.0.2.0/120", "192.0.2.0/24"),
        (IP, "64:ff9b::192.0.2.7", "192.0.2.7"),
    ],
)
def test_canonical_indicator(type_: IndicatorType, value: str, expected: str) -> None:
    assert canonical_indicator(type_, value) == expected


@pytest.mark.parametrize(
    ("type_", "value", "reason"),
    [
        (DOMAIN, "", "empty host name"),
        (DOMAIN, "   ", "empty host name"),
        (DOMAIN, "com", "single label"),
        (DOMAIN, "*.com", "single label"),
        (DOMAIN, "example.com/path", "cannot be part of a host name"),
        (DOMAIN, "*.*.example.com", "cannot be part of a host name"),
        (DOMAIN, "http:///", "no host"),
        (DOMAIN, "http://a_ü.example/", "cannot be part of a host name"),
        (URL, "", "no host"),
        (URL, "/just/a/path", "no host"),
        (URL, "http://example.com/" + "a" * MAX_URL_LENGTH, "more than the 8192 allowed"),
        (IP, "", "not an IP address"),
        (IP, "example.com", "not an IP address"),
        (IP, "256.0.0.1", "not an IP address"),
        (IP, "10.0.0.0/33", "not an IP address"),
        (IP, "2001:db8::/129", "not an IP address"),
        (IP, "10.0.0.1 /8", "not an IP address"),
    ],
)
def test_canonical_indicator_rejects(type_: IndicatorType, value: str, reason: str) -> None:
    with pytest.raises(InvalidUrl, match=reason):
        canonical_indicator(type_, value)


# --- canonicalize: the Safe Browsing vectors ---------------------------------------------------

# Every example of "URLs and Hashing" (Safe Browsing API v4), in its order. The spec's
# "http://\x01\x80.com/" is a byte string; "\udc80" is how Python's surrogateescape spells the
# raw byte 0x80 in a str, which canonicalize() turns back into that byte.
SAFE_BROWSING_VECTORS = [
    ("http://host/%25%32%35", "http://host/%25"),
    ("http://host/%25%32%35%25%32%35", "http://host/%25%25"),
    ("http://host/%2525252525252525", "http://host/%25"),
    ("http://host/asdf%25%32%35asd", "http://host/asdf%25asd"),
    ("http://host/%%%25%32%35asd%%", "http://host/%25%25%25asd%25%25"),
    ("http://www.google.com/", "http://www.google.com/"),
    (
        "http://%31%36%38%2e%31%38%38%2e%39%39%2e%32%36/%2E%73%65%63%75%72%65/"
        "%77%77%77%2E%65%62%61%79%2E%63%6F%6D/",
        "http://168.188.99.26/.secure/www.ebay.com/",
    ),
    (
        "http://195.127.0.11/uploads/%20%20%20%20/.verify/"
        ".eBaysecure=updateuserdataxplimnbqmn-xplmvalidateinfoswqpcmlx=hgplmcx/",
        "http://195.127.0.11/uploads/%20%20%20%20/.verify/"
        ".eBaysecure=updateuserdataxplimnbqmn-xplmvalidateinfoswqpcmlx=hgplmcx/",
    ),
    (
        "http://host%23.com/"
        "%257Ea%2521b%2540c%2523d%2524e%25f%255E00%252611%252A22%252833%252944_55%252B",
        "http://host%23.com/~a!b@c%23d$e%25f^00&11*22(33)44_55+",
    ),
    ("http://3279880203/blah", "http://195.127.0.11/blah"),
    ("http://www.google.com/blah/..", "http://www.google.com/"),
    ("www.google.com/", "http://www.google.com/"),
    ("www.google.com", "http://www.google.com/"),
    ("http://www.evil.com/blah#frag", "http://www.evil.com/blah"),
    ("http://www.GOOgle.com/", "http://www.google.com/"),
    ("http://www.google.com.../", "http://www.google.com/"),
    ("http://www.google.com/foo\tbar\rbaz\n2", "http://www.google.com/foobarbaz2"),
    ("http://www.google.com/q?", "http://www.google.com/q?"),
    ("http://www.google.com/q?r?", "http://www.google.com/q?r?"),
    ("http://www.google.com/q?r?s", "http://www.google.com/q?r?s"),
    ("http://evil.com/foo#bar#baz", "http://evil.com/foo"),
    ("http://evil.com/foo;", "http://evil.com/foo;"),
    ("http://evil.com/foo?bar;", "http://evil.com/foo?bar;"),
    ("http://\x01\udc80.com/", "http://%01%80.com/"),
    ("http://notrailingslash.com", "http://notrailingslash.com/"),
    ("http://www.gotaport.com:1234/", "http://www.gotaport.com/"),
    ("  http://www.google.com/  ", "http://www.google.com/"),
    (" http://www.google.com/ ", "http://www.google.com/"),
    ("http:// leadingspace.com/", "http://%20leadingspace.com/"),
    ("http://%20leadingspace.com/", "http://%20leadingspace.com/"),
    ("%20leadingspace.com/", "http://%20leadingspace.com/"),
    ("https://www.securesite.com/", "https://www.securesite.com/"),
    ("http://host.com/ab%23cd", "http://host.com/ab%23cd"),
    ("http://host.com//twoslashes?more//slashes", "http://host.com/twoslashes?more//slashes"),
]


@pytest.mark.parametrize(("url", "expected"), SAFE_BROWSING_VECTORS)
def test_safe_browsing_vectors(url: str, expected: str) -> None:
    canonical = canonicalize(url)
    assert str(canonical) == expected
    assert canonicalize(expected) == canonical


def test_parts_of_a_canonical_url() -> None:
    c = canonicalize("HTTPS://User:Secret@Login.Example.co.uk:8443/a/./b/../c?x=1&y=%41#frag")
    assert c == CanonicalUrl("https", "login.example.co.uk", "/a/c", "x=1&y=A", False)
    assert c.expression == "login.example.co.uk/a/c?x=1&y=A"
    assert str(c) == "https://login.example.co.uk/a/c?x=1&y=A"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://www.google.com/foo/./bar", "http://www.google.com/foo/bar"),
        ("http://a.com/../b", "http://a.com/b"),
        ("http://a.com/a/b/../../../c/", "http://a.com/c/"),
        ("http://a.com/a/.", "http://a.com/a/"),
        ("http://a.com/a/b/..?q", "http://a.com/a/?q"),
        ("http://a.com/a//../b", "http://a.com/a/b"),  # ".." removes the empty component
        ("http://a.com/%2e%2E/x", "http://a.com/x"),
        ("http://a.com/.hidden/..x/", "http://a.com/.hidden/..x/"),
        ("http://a.com?q", "http://a.com/?q"),
        ("http://a.com/a%3Fb", "http://a.com/a?b"),  # the unescaped "?" starts the query
        ("http://a.com/b%C3%BCcher/é", "http://a.com/b%C3%BCcher/%C3%A9"),
        ("http://a.com/%0a%09x", "http://a.com/%0A%09x"),
        ("http://a.com/%zz%4", "http://a.com/%25zz%254"),
        ("http://a.com/?q=a%23b#c", "http://a.com/?q=a%23b"),
    ],
)
def test_paths_and_queries(url: str, expected: str) -> None:
    assert str(canonicalize(url)) == expected


# --- canonicalize: hosts -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("http://3279880203/", "195.127.0.11"),
        ("http://0300.0250.0.1/", "192.168.0.1"),
        ("http://0xc0a80001/", "192.168.0.1"),
        ("http://0XC0.0Xa8.0x0.0x1/", "192.168.0.1"),
        ("http://192.168.1/", "192.168.0.1"),
        ("http://192.11010305/", "192.168.1.1"),
        ("http://192.168.0.1./", "192.168.0.1"),
        ("http://0x/", "0.0.0.0"),
        ("http://0/", "0.0.0.0"),
        ("http://4294967295/", "255.255.255.255"),
        ("http://%31%32%37.1/", "127.0.0.1"),
    ],
)
def test_ipv4_forms(url: str, host: str) -> None:
    c = canonicalize(url)
    assert (c.host, c.host_is_ip) == (host, True)
    assert host_suffixes(c.host) == (host,)


@pytest.mark.parametrize(
    "host",
    ["4294967296", "256.1.1.1", "1.2.3.4.5", "08.1.2.3", "1.0x1g.2.3", "9" * 5000, "1.2.3.0x"],
)
def test_numbers_that_are_not_ipv4_stay_names(host: str) -> None:
    c = canonicalize(f"http://{host}/")
    assert c.host_is_ip is (host == "1.2.3.0x")  # "0x" alone is 0, as browsers read it
    if not c.host_is_ip:
        assert c.host == host.lower()


@pytest.mark.parametrize(
    ("url", "host", "text"),
    [
        ("http://[2001:0DB8:0000:0000::1]/", "2001:db8::1", "http://[2001:db8::1]/"),
        ("http://[2001:db8::1]:8080/a?b", "2001:db8::1", "http://[2001:db8::1]/a?b"),
        ("http://[::1]", "::1", "http://[::1]/"),
        ("http://[fe80::1%25eth0]/", "fe80::1", "http://[fe80::1]/"),
        ("http://[::ffff:1.2.3.4]/", "1.2.3.4", "http://1.2.3.4/"),
        ("http://[64:ff9b::1.2.3.4]/", "1.2.3.4", "http://1.2.3.4/"),
    ],
)
def test_ipv6_hosts(url: str, host: str, text: str) -> None:
    c = canonicalize(url)
    assert (c.host, c.host_is_ip, str(c)) == (host, True, text)
    assert host_suffixes(c.host) == (host,)


def test_invalid_ipv6_literal_is_kept_as_a_name() -> None:
    c = canonicalize("http://[1:2:3]:80/")
    assert (c.host, c.host_is_ip, str(c)) == ("[1:2:3]", False, "http://[1:2:3]/")


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("http://bücher.example/", "xn--bcher-kva.example"),
        ("http://B%C3%BCcher.Example/", "xn--bcher-kva.example"),
        ("http://www.ñandú.example./", "www.xn--and-6ma2c.example"),
        ("http://ｅｘａｍｐｌｅ．ｃｏｍ/", "example.com"),
        ("http://１２７．０．０．１/", "127.0.0.1"),
        ("http://faß.de/", "xn--fa-hia.de"),  # non-transitional: ß is kept
    ],
)
def test_idn_hosts_become_punycode(url: str, host: str) -> None:
    c = canonicalize(url)
    assert c.host == host
    assert c.idn_problem == ""
    assert c.host_is_ip is (host == "127.0.0.1")


@pytest.mark.parametrize(
    ("url", "host", "problem"),
    [
        ("http://a_ü.example/", "a_%C3%BC.example", "IDNA conversion failed"),
        ("http://\u0663a.example/", "%D9%A3a.example", "IDNA"),
        ("http://%FF%FE.example/", "%FF%FE.example", "not valid UTF-8"),
        ("http://a\uff0fb.example/", "a%EF%BC%8Fb.example", "not allowed in a host"),  # ／ -> /
        ("http://x\uff05\uff14\uff11.example/", "x%EF%BC%85%EF%BC%94%EF%BC%91.example", ""),
    ],
)
def test_invalid_idn_keeps_the_escaped_host(url: str, host: str, problem: str) -> None:
    c = canonicalize(url)
    assert c.host == host
    assert problem in c.idn_problem
    assert c.idn_problem
    assert canonicalize(str(c)) == c


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://user:pass@example.com/x", "http://example.com/x"),
        ("http://user@example.com", "http://example.com/"),
        ("http://a@b@example.com:99/", "http://example.com/"),
        ("http://evil.com%40good.com/", "http://good.com/"),
        ("user:pass@example.com/x", "http://example.com/x"),
        ("http://example.com:99999999999999999999999/", "http://example.com/"),
        ("http://example.com:bad:port/p", "http://example.com/p"),
        ("http:\\\\example.com\\a\\b?c\\d", "http://example.com/a/b?c\\d"),
        ("http:example.com/x", "http://example.com/x"),
        ("https:///example.com/x", "https://example.com/x"),
        ("//example.com/x", "http://example.com/x"),
        ("FTP://Example.com/f", "ftp://example.com/f"),
        ("chrome-extension://abc/x", "chrome-extension://abc/x"),
        ("localhost:8080/status", "http://localhost/status"),
        ("http://exa\x00mple.com/\x00", "http://exa%00mple.com/"),  # trailing NUL stripped
        ("\x00http://example.com/\x7f", "http://example.com/%7F"),
        ("http://example.com/\ud800", "http://example.com/%ED%A0%80"),
        ("http://Example.COM/Path/Case?Q=Case", "http://example.com/Path/Case?Q=Case"),
    ],
)
def test_awkward_urls(url: str, expected: str) -> None:
    assert str(canonicalize(url)) == expected


@pytest.mark.parametrize(
    "url",
    ["", "   ", "http://", "http:///", "https://:443/", "http://user@/", "http://.../x", "/x",
     "#frag", "?q", "http://%2e%2e/"],
)  # fmt: skip
def test_no_host_raises(url: str) -> None:
    with pytest.raises(InvalidUrl, match="no host") as raised:
        canonicalize(url)
    assert raised.value.code == "invalid_url"


def test_overlong_url_raises() -> None:
    url = "http://example.com/" + "a" * (MAX_URL_LENGTH - 19)
    assert len(canonicalize(url).path) == MAX_URL_LENGTH - 18
    with pytest.raises(InvalidUrl, match="8193 characters long, more than the 8192 allowed"):
        canonicalize(url + "a")


def test_deep_escape_nesting_is_unwound() -> None:
    url = "http://host/%" + "25" * 4000 + "41"
    assert str(canonicalize(url)) == "http://host/A"


# --- lookup expressions ------------------------------------------------------------------------


def test_expressions_of_the_spec_examples() -> None:
    assert lookup_expressions(canonicalize("http://a.b.c/1/2.html?param=1")) == (
        "a.b.c/1/2.html?param=1",
        "a.b.c/1/2.html",
        "a.b.c/",
        "a.b.c/1/",
        "b.c/1/2.html?param=1",
        "b.c/1/2.html",
        "b.c/",
        "b.c/1/",
    )
    assert lookup_expressions(canonicalize("http://a.b.c.d.e.f.g/1.html")) == (
        "a.b.c.d.e.f.g/1.html",
        "a.b.c.d.e.f.g/",
        "c.d.e.f.g/1.html",
        "c.d.e.f.g/",
        "d.e.f.g/1.html",
        "d.e.f.g/",
        "e.f.g/1.html",
        "e.f.g/",
        "f.g/1.html",
        "f.g/",
    )
    assert lookup_expressions(canonicalize("http://1.2.3.4/1/")) == ("1.2.3.4/1/", "1.2.3.4/")


def test_host_suffixes() -> None:
    assert host_suffixes("a.b.c") == ("a.b.c", "b.c")
    assert host_suffixes("a.b.c.d.e.f.g") == (
        "a.b.c.d.e.f.g",
        "c.d.e.f.g",
        "d.e.f.g",
        "e.f.g",
        "f.g",
    )
    assert host_suffixes("b.c.d.e.f") == ("b.c.d.e.f", "c.d.e.f", "d.e.f", "e.f")
    assert host_suffixes("localhost") == ("localhost",)
    assert host_suffixes("1.2.3.4") == ("1.2.3.4",)
    assert host_suffixes("2001:db8::1") == ("2001:db8::1",)
    assert host_suffixes("1.2.3.256") == ("1.2.3.256", "2.3.256", "3.256")  # not an address
    assert host_suffixes("") == ()


def test_path_prefixes() -> None:
    assert path_prefixes("/1/2.html", "param=1") == ("/1/2.html?param=1", "/1/2.html", "/", "/1/")
    assert path_prefixes("/", None) == ("/",)
    assert path_prefixes("/", "") == ("/?", "/")
    assert path_prefixes("/1/", None) == ("/1/", "/")
    assert path_prefixes("/a/b/c/d/e/f.html", None) == (
        "/a/b/c/d/e/f.html",
        "/",
        "/a/",
        "/a/b/",
        "/a/b/c/",
    )


def test_at_most_thirty_expressions() -> None:
    expressions = lookup_expressions(canonicalize("http://a.b.c.d.e.f.g/1/2/3/4/5.html?x=y"))
    assert len(expressions) == len(set(expressions)) == 30
    assert expressions[:6] == (
        "a.b.c.d.e.f.g/1/2/3/4/5.html?x=y",
        "a.b.c.d.e.f.g/1/2/3/4/5.html",
        "a.b.c.d.e.f.g/",
        "a.b.c.d.e.f.g/1/",
        "a.b.c.d.e.f.g/1/2/",
        "a.b.c.d.e.f.g/1/2/3/",
    )


# --- properties --------------------------------------------------------------------------------


def check_canonical(url: str) -> CanonicalUrl | None:
    """canonicalize() raises only InvalidUrl; its output is printable ASCII and a fixed point."""
    try:
        canonical = canonicalize(url)
    except InvalidUrl:
        return None
    text = str(canonical)
    assert all(0x20 < ord(ch) < 0x7F for ch in text), text
    assert canonical.path.startswith("/")
    assert canonical.host
    again = canonicalize(text)
    assert again == canonical, (url, text, str(again))
    try:
        host = canonical_host(canonical.host)
    except InvalidUrl:
        pass  # an escaped or over-long name that DNS cannot carry
    else:
        assert host == canonical.host
    return canonical


@settings(max_examples=1000)
@given(st.text(max_size=200))
@example("http://\ud800/")
@example("http://[::1%")
@example("\\\\x")
@example("http:%2f%2fexample.com")
def test_arbitrary_text_never_breaks_canonicalize(url: str) -> None:
    check_canonical(url)


_HEX = "0123456789abcdefABCDEF"
_CHUNKS = st.one_of(
    st.sampled_from(
        [
            ".", "..", "/", "//", "%", "%2", "%25", "%2e", "%2E", "%2f", "%3F", "%23", "%40",
            "%3a", "%5c", "\\", "?", "#", "@", ":", "[", "]", "0x", "0", "255", "ü", "。",
            "ß", "\u0663", "\uff0f", "\uff05", "\t", " ", "\x00", "\udc80", "xn--", "-", "_",
        ]
    ),
    st.text(alphabet=_HEX, min_size=1, max_size=3).map(lambda h: "%" + h),
    st.text(alphabet="abcXYZ019", min_size=1, max_size=6),
    st.text(max_size=3),
)  # fmt: skip
_PIECE = st.lists(_CHUNKS, max_size=6).map("".join)
_SCHEMES = st.sampled_from(
    ["http://", "https://", "HTTP://", "ftp://", "http:", "x-y://", "", "//"]
)
_HOSTS = st.one_of(
    _PIECE,
    st.sampled_from(
        ["example.com", "WWW.Example.co.uk", "bücher.example", "[2001:db8::1]", "[::ffff:1.2.3.4]",
         "3279880203", "0x7f.1", "017700000001", "1.2.3", "a..b...", "[zz]"]
    ),
)  # fmt: skip
_URLS = st.builds(
    lambda scheme, user, host, port, path, query, fragment: (
        scheme + user + host + port + path + query + fragment
    ),
    _SCHEMES,
    st.sampled_from(["", "user@", "u:p@", "@"]),
    _HOSTS,
    st.sampled_from(["", ":80", ":", ":99999999999", ":x"]),
    st.lists(_PIECE.map(lambda p: "/" + p), max_size=4).map("".join),
    st.one_of(st.just(""), _PIECE.map(lambda p: "?" + p)),
    st.one_of(st.just(""), _PIECE.map(lambda p: "#" + p)),
)


@settings(max_examples=2000)
@given(_URLS)
def test_url_shaped_text_is_canonicalized_to_a_fixed_point(url: str) -> None:
    check_canonical(url)


_LABEL = st.text(alphabet="abcz09-", min_size=1, max_size=5)
_SEGMENT = st.one_of(
    st.text(alphabet="abz09-._~!$&'()*+,;=:@", min_size=1, max_size=5),
    st.sampled_from([".", "..", "", "a%41", "x#y", "é", "A\\b", "a b"]),
)
_SIMPLE_URLS = st.builds(
    lambda scheme, labels, port, segments, slash, query: (
        f"{scheme}://{'.'.join(labels)}{port}{''.join('/' + s for s in segments)}{slash}{query}"
    ),
    st.sampled_from(["http", "https", "HTTP", "ftp"]),
    st.lists(_LABEL, min_size=1, max_size=4),
    st.sampled_from(["", ":8080", ":0", ":123456"]),
    st.lists(_SEGMENT, max_size=4),
    st.sampled_from(["", "/"]),
    st.one_of(
        st.just(""),
        st.text(alphabet="az09=&?/.\\%#", max_size=8).map(lambda q: "?" + q),
    ),
)


@settings(max_examples=2000)
@given(_SIMPLE_URLS)
@example("http://www.example.com/path/page.html?q=1")
@example("http://0x7f.example.com/")
@example("http://example.0x7f/")
@example("http://1.2.3.x4/")
def test_fast_path_agrees_with_the_full_algorithm(url: str) -> None:
    try:
        slow = _canonicalize_slow(url)
    except InvalidUrl:
        assert _FAST_URL.fullmatch(url) is None
        return
    assert canonicalize(url) == slow


def test_fast_path_takes_typical_urls() -> None:
    for url in [
        "http://www.example.com/path/page.html?q=1",
        "https://login.example.co.uk/",
        "https://cdn.example.net/static/app.min.js",
        "http://example.com",
        "https://api.example.com:8443/v1/items?id=7&sort=asc",
    ]:
        assert _FAST_URL.fullmatch(url) is not None, url
        assert canonicalize(url) == _canonicalize_slow(url)
    for url in ["http://1.2.3.4/", "http://a.com/%41", "http://a.com/./x", "http://A.com/"]:
        assert _FAST_URL.fullmatch(url) is None, url


def _unescape_by_passes(data: bytes) -> bytes:
    """The spec's wording, literally: one left-to-right pass at a time until nothing changes."""
    import re

    pattern = re.compile(rb"%([0-9A-Fa-f]{2})")
    while True:
        decoded = pattern.sub(lambda m: bytes((int(m[1], 16),)), data)
        if decoded == data:
            return data
        data = decoded


@given(st.lists(st.sampled_from(["%", "2", "5", "4", "1", "a", "F", "g", "%25", "%32"])))
def test_unescape_matches_the_spec_wording(chunks: list[str]) -> None:
    data = "".join(chunks).encode()
    assert _unescape(data) == _unescape_by_passes(data)
