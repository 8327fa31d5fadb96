"""Canonical URLs and hosts, and the lookup expressions built from them.

The URL rules are Google Safe Browsing's ("URLs and Hashing", API v4), so a URL written any of
the ways a browser accepts reduces to one string that indicators and feeds can be matched on:

1. Surrounding spaces and control characters are stripped; tab, CR and LF are removed anywhere.
2. The fragment (from the first ``#``) is dropped.
3. The URL is percent-unescaped repeatedly until nothing changes.
4. The host loses its leading and trailing dots, runs of dots become one, an IPv4 address in any
   legal form (decimal, octal, hex, fewer than four parts) becomes a dotted quad, and the host
   is lowercased. The port and any ``user:password@`` are dropped.
5. The path resolves ``/./`` and ``/../`` and collapses runs of slashes; the query is untouched.
6. Every byte <= 0x20 or >= 0x7F, ``#`` and ``%`` is percent-escaped (uppercase hex).

Beyond the v4 text, following Safe Browsing v5 and the browsers:

* A bracketed IPv6 host is written compressed (``[2001:db8::1]``); an IPv4-mapped
  (``::ffff:1.2.3.4``) or NAT64 (``64:ff9b::1.2.3.4``) address becomes its IPv4 address.
* A non-ASCII host is converted to punycode with UTS 46 mapping (``idna``). When that fails the
  host stays in its escaped form and ``CanonicalUrl.idn_problem`` says why; nothing raises.
* Backslashes before the query count as ``/`` and ``http:host`` / ``http:///host`` name the host
  ``host``, as browsers read them for http(s), ftp and ws(s).
* Text given as ``str`` is taken as UTF-8. Code points U+DC80..U+DCFF (what
  ``bytes.decode("utf-8", "surrogateescape")`` makes of undecodable bytes) stand for those raw
  bytes, so a caller holding raw bytes can pass them through losslessly.

``canonicalize`` raises ``InvalidUrl`` only for input longer than ``MAX_URL_LENGTH`` characters
or without a host; every other input, however broken, produces a result. The result is a fixed
point: canonicalizing ``str(result)`` gives the same result again.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from urllib.parse import unquote_to_bytes

import idna

from openmtd.domain.errors import InvalidInput
from openmtd.domain.web import IndicatorType
from openmtd.engines.apps.identifiers import InvalidAppIdentifier, canonical_app_indicator

MAX_URL_LENGTH = 8192


class InvalidUrl(InvalidInput):
    """A URL, host or indicator value that cannot be canonicalized; the message says why."""

    code = "invalid_url"


@dataclass(slots=True)
class CanonicalUrl:
    """A URL in Safe Browsing canonical form, split into the parts lookups need.

    Treat it as immutable; it is not frozen only because a frozen dataclass costs about four
    times as much to create, and one is created for every URL judged.
    """

    scheme: str  # lowercase; "http" when the input had none
    host: str  # lowercase ASCII/punycode or escaped; IPv4 dotted quad; IPv6 without brackets
    path: str  # starts with "/", canonical and escaped
    query: str | None  # without the "?"; None when absent, "" when the URL ends in "?"
    host_is_ip: bool
    idn_problem: str = ""  # why a non-ASCII host could not be converted to punycode
    # The whole URL when the input was canonical already (saves rebuilding it); not compared.
    text: str = field(default="", compare=False, repr=False)

    def __str__(self) -> str:
        if self.text:
            return self.text
        host = f"[{self.host}]" if self.host_is_ip and ":" in self.host else self.host
        if self.query is None:
            return f"{self.scheme}://{host}{self.path}"
        return f"{self.scheme}://{host}{self.path}?{self.query}"

    @property
    def expression(self) -> str:
        """Host, path and query without the scheme: what indicators and feeds are matched on."""
        if self.query is None:
            return self.host + self.path
        return f"{self.host}{self.path}?{self.query}"


# --- the fast path -------------------------------------------------------------------------------

# An http(s) URL that is already canonical: lowercase ASCII host whose last label starts with a
# letter (so it cannot be an IPv4 address in any form), an optional port (dropped), a path of
# printable ASCII without "%", "#", "\", "//", "." or ".." segments, and a query without "%"/"#".
_FAST_URL = re.compile(
    r"(https?)://"
    r"((?:[a-z0-9-]+\.)*[a-z][a-z0-9-]*)"
    r"(?::[0-9]{1,5})?"
    r"((?:/(?!\.\.?(?:[/?]|\Z))[^\x00-\x20\x7f-\U0010ffff/?#%\\]+)*/?)"
    r"(?:\?([^\x00-\x20\x7f-\U0010ffff#%]*))?"
)

# --- the full algorithm --------------------------------------------------------------------------

_STRIPPED = "".join(chr(c) for c in range(0x21))  # C0 controls and space, at either end
_REMOVED = str.maketrans("", "", "\t\r\n")
_ESCAPES = {b: f"%{b:02X}" for b in range(256) if b <= 0x20 or b >= 0x7F or b in b"#%"}
_SCHEME = re.compile(rb"([A-Za-z][A-Za-z0-9+.\-]*):")
# Schemes whose URLs always have a host, so "http:host" and "http:///host" name "host".
_SPECIAL_SCHEMES = frozenset({b"http", b"https", b"ftp", b"ws", b"wss"})
_DOTS = re.compile(rb"\.{2,}")
_IPV4_PART = re.compile(rb"0[xX][0-9a-fA-F]*|[0-9]+")
_DOTTED_QUAD = re.compile(
    r"(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}"
    r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
)
# Characters that would change how a canonical URL re-parses if IDNA mapping produced them.
_UNSAFE_IN_HOST = re.compile(r"[\x00-\x20\x7f-\U0010ffff#%/:?@\[\\\]]")
_HOST_NAME = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*")
# A host that is canonical already: lowercase ASCII labels of 1..63 characters, at most 253 in
# all, whose last label does not start with a digit (so no IPv4 spelling can match: every
# numeric form, decimal, octal or 0x-hex, starts with a digit).
_CANONICAL_NAME = re.compile(
    r"(?=[a-z0-9_.-]{1,253}\Z)(?:[a-z0-9_-]{1,63}\.)*[a-z_-][a-z0-9_-]{0,62}"
)
_IPV4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def canonicalize(url: str) -> CanonicalUrl:
    """The Safe Browsing canonical form of `url`.

    Raises InvalidUrl when `url` is longer than MAX_URL_LENGTH characters or names no host.
    """
    if len(url) > MAX_URL_LENGTH:
        raise InvalidUrl(
            f"URL is {len(url)} characters long, more than the {MAX_URL_LENGTH} allowed",
            length=len(url),
        )
    m = _FAST_URL.fullmatch(url)
    if m is not None:
        if m[3] and m.end(2) == m.start(3):  # a path, and no port to drop: url is the result
            return CanonicalUrl(m[1], m[2], m[3], m[4], False, "", url)
        return CanonicalUrl(m[1], m[2], m[3] or "/", m[4], False)
    return _canonicalize_slow(url)


def _canonicalize_slow(url: str) -> CanonicalUrl:
    """The full algorithm; canonicalize() takes a shortcut for URLs that are already canonical."""
    text = url.strip(_STRIPPED).translate(_REMOVED)
    text = text.partition("#")[0]
    data = _unescape(_to_bytes(text))

    scheme = "http"
    m = _SCHEME.match(data)
    if m is not None:
        name = m[1].lower()
        after = data[m.end() :]
        if name in _SPECIAL_SCHEMES:
            scheme, data = name.decode("ascii"), after.lstrip(b"/\\")
        elif after.startswith(b"//"):
            scheme, data = name.decode("ascii"), after[2:]
    elif data[:1] in (b"/", b"\\"):
        if data[1:2] not in (b"/", b"\\"):
            raise _no_host(url)
        data = data.lstrip(b"/\\")

    before, question, query = data.partition(b"?")
    before = before.replace(b"\\", b"/")
    authority, slash, path = before.partition(b"/")
    host_port = authority.rpartition(b"@")[2]
    if host_port.startswith(b"[") and b"]" in host_port:
        host_raw = host_port[: host_port.index(b"]") + 1]
    else:
        host_raw = host_port.partition(b":")[0]

    host, host_is_ip, idn_problem = _url_host(host_raw, url)
    return CanonicalUrl(
        scheme,
        host,
        _escape(_canonical_path(slash + path)),
        _escape(query) if question else None,
        host_is_ip,
        idn_problem,
    )


def _no_host(url: str) -> InvalidUrl:
    shown = url if len(url) <= 80 else url[:77] + "..."
    return InvalidUrl(f"no host in URL {shown!r}", url=shown)


def _to_bytes(text: str) -> bytes:
    """UTF-8, except that U+DC80..U+DCFF stand for raw bytes and other lone surrogates pass."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return b"".join(
            bytes((ord(c) - 0xDC00,))
            if "\udc80" <= c <= "\udcff"
            else c.encode("utf-8", "surrogatepass")
            for c in text
        )


def _unescape(data: bytes) -> bytes:
    """Percent-unescape until nothing changes (invalid escapes stay as they are)."""
    while b"%" in data:
        decoded = unquote_to_bytes(data)
        if len(decoded) == len(data):
            break
        data = decoded
    return data


def _escape(data: bytes) -> str:
    return data.decode("latin-1").translate(_ESCAPES)


def _canonical_path(path: bytes) -> bytes:
    """Resolve "." and ".." segments (an empty segment counts as one), then drop empty ones."""
    if len(path) <= 1:
        return b"/"
    segments = path.split(b"/")[1:]
    kept: list[bytes] = []
    for segment in segments:
        if segment == b"..":
            if kept:
                kept.pop()
        elif segment != b".":
            kept.append(segment)
    names = [s for s in kept if s]
    if not names:
        return b"/"
    trailing = b"/" if segments[-1] in (b"", b".", b"..") else b""
    return b"/" + b"/".join(names) + trailing


def _url_host(raw: bytes, url: str) -> tuple[str, bool, str]:
    """(canonical host, is an IP address, IDN problem) for a URL's unescaped host bytes."""
    if raw.startswith(b"[") and raw.endswith(b"]"):
        address = _ipv6(raw[1:-1].decode("latin-1"))
        if address is not None:
            return address, True, ""
    name = _DOTS.sub(b".", raw).strip(b".")
    if not name:
        raise _no_host(url)
    dotted = _ipv4(name)
    if dotted is not None:
        return dotted, True, ""
    name = name.lower()
    if name.isascii():
        return _escape(name), False, ""
    try:
        text = name.decode("utf-8")
    except UnicodeDecodeError:
        return _escape(name), False, "the host is not valid UTF-8, so it has no punycode form"
    converted, problem = _to_punycode(text)
    if not problem:
        ascii_name = _DOTS.sub(b".", converted.encode("ascii")).strip(b".")
        if ascii_name:
            dotted = _ipv4(ascii_name)
            if dotted is not None:
                return dotted, True, ""
            return ascii_name.decode("ascii"), False, ""
        problem = "IDNA mapping left no host name"
    return _escape(name), False, problem


def _to_punycode(text: str) -> tuple[str, str]:
    """(ASCII host, "") via UTS 46 mapping and punycode, or ("", why it failed)."""
    try:
        mapped = idna.uts46_remap(text, std3_rules=False, transitional=False)
    except (UnicodeError, ValueError) as e:
        return "", f"IDNA mapping failed: {e}"
    labels: list[str] = []
    for label in mapped.split("."):
        if label.isascii():
            labels.append(label)
            continue
        try:
            labels.append(idna.alabel(label).decode("ascii"))
        except (UnicodeError, ValueError) as e:
            return "", f"IDNA conversion failed: {e}"
    result = ".".join(labels)
    if _UNSAFE_IN_HOST.search(result):
        return "", "IDNA mapping produced characters that are not allowed in a host"
    return result, ""


def _ipv4(name: bytes) -> str | None:
    """The dotted quad for any legal IPv4 spelling (inet_aton style), or None."""
    parts = name.split(b".")
    if len(parts) > 4:
        return None
    values: list[int] = []
    for part in parts:
        if _IPV4_PART.fullmatch(part) is None:
            return None
        if part[:2] in (b"0x", b"0X"):
            digits, base = part[2:], 16
        elif len(part) > 1 and part[:1] == b"0":
            digits, base = part[1:], 8
        else:
            digits, base = part, 10
        digits = digits.lstrip(b"0")
        if len(digits) > 12:  # far beyond 2**32 in any base; also keeps int() cheap
            return None
        try:
            values.append(int(digits, base) if digits else 0)
        except ValueError:  # 8 or 9 in an octal part
            return None
    *head, last = values
    if any(v > 255 for v in head) or last >= 1 << (8 * (5 - len(values))):
        return None
    number = last
    for i, v in enumerate(head):
        number |= v << (24 - 8 * i)
    return f"{number >> 24}.{(number >> 16) & 255}.{(number >> 8) & 255}.{number & 255}"


def _ipv6(text: str) -> str | None:
    """The compressed form of an IPv6 address (zone dropped), IPv4 for mapped/NAT64, or None."""
    try:
        address = ipaddress.IPv6Address(text.partition("%")[0])
    except ValueError:
        return None
    return str(_unmapped(address))


def _unmapped(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    if address in _IPV4_MAPPED or address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


# --- bare hosts and indicators -------------------------------------------------------------------


def canonical_host(host: str) -> str:
    """The canonical form of a bare host or domain name (a DNS query, a domain indicator).

    One trailing dot is stripped, the name is lowercased and converted to punycode (UTS 46),
    IPv4 addresses in any legal spelling become dotted quads and IPv6 addresses (bracketed or
    not) are compressed. Raises InvalidUrl for an empty name, an invalid IDN, an invalid address,
    empty labels, labels over 63 or names over 253 characters, and characters a host cannot hold
    (anything but letters, digits, "-", "_" and ".").
    """
    if _CANONICAL_NAME.fullmatch(host) is not None:
        return host  # the common case (DNS queries, CONNECT hosts), checked in one regex
    if not host:
        raise InvalidUrl("empty host name")
    shown = host if len(host) <= 80 else host[:77] + "..."
    if (host.startswith("[") and host.endswith("]")) or ":" in host:
        address = _ipv6(host.removeprefix("[").removesuffix("]"))
        if address is None:
            raise InvalidUrl(f"{shown!r} is not a valid IPv6 address", host=shown)
        return address
    name = host
    if not name.isascii():
        name, problem = _to_punycode(name)
        if problem:
            raise InvalidUrl(f"{shown!r}: {problem}", host=shown)
    name = name.lower().removesuffix(".")
    if not name:
        raise InvalidUrl(f"{shown!r} has no host name", host=shown)
    if _HOST_NAME.fullmatch(name) is None:
        if ".." in name or name.startswith(".") or name.endswith("."):
            raise InvalidUrl(f"{shown!r} has an empty label", host=shown)
        raise InvalidUrl(
            f"{shown!r} contains characters that cannot be part of a host name"
            " (only letters, digits, '-', '_' and '.' can)",
            host=shown,
        )
    dotted = _ipv4(name.encode("ascii"))
    if dotted is not None:
        return dotted
    if len(name) > 253 or any(len(label) > 63 for label in name.split(".")):
        raise InvalidUrl(
            f"{shown!r} is too long for a DNS name (labels up to 63, names up to 253)",
            host=shown,
        )
    return name


def canonical_indicator(type: IndicatorType, value: str) -> str:
    """The canonical value of an indicator, as stored in `Indicator.value` and matched on.

    DOMAIN: a host name ("*.example.com" and "https://example.com/..." are accepted and reduce to
    "example.com"); it must have at least two labels or be an IP address. URL: the canonical
    expression without scheme, "host/path" or "host/path?query". IP: one address or a CIDR
    network ("10.0.0.0/8", "2001:db8::/32", "192.0.2.1"). App types (file hashes, certificate
    thumbprints, package names): see engines.apps.identifiers. Raises InvalidUrl for a bad
    value of any type.
    """
    text = value.strip()
    if type is IndicatorType.DOMAIN:
        return _domain_indicator(text)
    if type is IndicatorType.URL:
        return canonicalize(text).expression
    if type is IndicatorType.IP:
        return _ip_indicator(text)
    try:
        return canonical_app_indicator(type, text)
    except InvalidAppIdentifier as e:
        raise InvalidUrl(e.message, **e.details) from e


def _domain_indicator(text: str) -> str:
    if "://" in text:
        host = canonical_host(canonicalize(text).host)
    else:
        host = canonical_host(text.removeprefix("*."))
    if "." not in host and ":" not in host:
        raise InvalidUrl(
            f"domain indicator {text!r} names a single label such as a top-level domain;"
            " give a registered domain like example.com",
            value=text,
        )
    return host


def _ip_indicator(text: str) -> str:
    raw = text.removeprefix("[").removesuffix("]") if text.startswith("[") else text
    try:
        if "/" in raw:
            network = ipaddress.ip_network(raw, strict=False)
        else:
            address = ipaddress.ip_address(raw.partition("%")[0])
            if isinstance(address, ipaddress.IPv6Address):
                return str(_unmapped(address))
            return str(address)
    except ValueError as e:
        raise InvalidUrl(
            f"{text!r} is not an IP address or CIDR network: {e}", value=text[:80]
        ) from e
    if isinstance(network, ipaddress.IPv6Network) and (
        network.subnet_of(_IPV4_MAPPED) or network.subnet_of(_NAT64)
    ):
        base = int(network.network_address) & 0xFFFFFFFF
        network = ipaddress.IPv4Network((base, network.prefixlen - 96))
    if network.prefixlen == network.max_prefixlen:
        return str(network.network_address)
    return str(network)


# --- lookup expressions --------------------------------------------------------------------------


def host_suffixes(host: str) -> tuple[str, ...]:
    """The hosts Safe Browsing looks up for `host`, most specific first.

    The exact host, then up to four more formed from its last five labels by removing leading
    labels, never the top-level domain alone. An IP address yields only itself.
    """
    if not host:
        return ()
    if ":" in host or _DOTTED_QUAD.fullmatch(host):
        return (host,)
    labels = host.split(".")[-5:]
    suffixes = [host]
    for i in range(len(labels) - 1):
        suffix = ".".join(labels[i:])
        if suffix != host:
            suffixes.append(suffix)
    return tuple(suffixes)


def path_prefixes(path: str, query: str | None) -> tuple[str, ...]:
    """The paths Safe Browsing looks up: path with query, path, then "/" and up to three more
    directory prefixes, one component at a time, each ending in "/"."""
    prefixes = [f"{path}?{query}", path] if query is not None else [path]
    directory = "/"
    prefixes.append(directory)
    for component in [c for c in path.split("/")[1:-1] if c][:3]:
        directory += component + "/"
        prefixes.append(directory)
    return tuple(dict.fromkeys(prefixes))


def lookup_expressions(url: CanonicalUrl) -> tuple[str, ...]:
    """Every host suffix x path prefix expression for `url` (at most 30), in Safe Browsing order."""
    paths = path_prefixes(url.path, url.query)
    expressions = dict.fromkeys(h + p for h in host_suffixes(url.host) for p in paths)
    return tuple(expressions)[:30]
