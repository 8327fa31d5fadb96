"""Web verdicts: indicators compiled into layers, looked up per URL, host or IP, explained.

Semantics (the reference product's, see PRODUCT.md):
- a domain indicator covers the domain and every subdomain;
- a URL indicator ``host/path`` covers that host and its subdomains (a Safe Browsing host-suffix
  expression) and every resource under the path; one with a query matches that query exactly;
- an IP indicator is one address or a CIDR network;
- the most specific match decides: the longer host expression, then the longer path (for IPs:
  an exact URL on that IP, then the longest network prefix);
- on the same specificity Allow > Audit > Warn > Block;
- expired indicators, and indicators scoped to device groups the device is not in, do not match;
- the pilot's test target smartscreentestratings2.net is always blocked as phishing (builtin:
  no indicator can allow it);
- the lookalike heuristics speak only when no indicator matched; the most severe one decides.

An index is immutable. It is made of layers (one per feed, one for the custom indicators) so that
a change rebuilds one layer, not millions of entries.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import NamedTuple

from openmtd.domain.enums import Severity
from openmtd.domain.web import (
    Indicator,
    IndicatorAction,
    IndicatorMeta,
    IndicatorType,
    MatchKind,
    WebMatch,
    WebVerdict,
)
from openmtd.engines.web.canonical import (
    CanonicalUrl,
    InvalidUrl,
    canonical_host,
    canonicalize,
)
from openmtd.engines.web.hosttable import HostTable
from openmtd.engines.web.lookalike import LookalikeDetector
from openmtd.engines.web.wire import IndicatorSet

PILOT_TEST_TARGET = "smartscreentestratings2.net"
PILOT_TEST_META = IndicatorMeta(
    kind=MatchKind.BUILTIN,
    source="pilot-test-target",
    action=IndicatorAction.BLOCK,
    severity=Severity.INFORMATIONAL,
    title="Phishing test page",
    description="The reference product's anti-phishing test target; openmtd always blocks it.",
    recommended_actions="Nothing to do: this proves web protection works on the device.",
    category="Phishing",
)

_IPV4_BITS = 32
_IPV6_BITS = 128


class _Candidate(NamedTuple):
    """One matching indicator before the decision (a tuple: made on every hit, cheaply)."""

    meta: IndicatorMeta
    type: IndicatorType
    expression: str
    specificity: tuple[int, int]


def _path_covers(prefix: str, query: str | None, path: str, url_query: str | None) -> bool:
    if query is not None:
        return path == prefix and url_query == query
    if path == prefix or prefix == "/":
        return True
    if prefix.endswith("/"):
        return path.startswith(prefix)
    return path.startswith(prefix + "/")


class IndexLayer:
    """The indicators of one source (a feed, or the custom indicators), compiled."""

    __slots__ = (
        "_domains",
        "_ip_exact",
        "_ip_nets",
        "_keys",
        "_mask",
        "_max_labels",
        "_metas",
        "_url_hosts",
        "_url_labels",
        "count",
        "name",
    )

    def __init__(self, name: str) -> None:
        self.name = name
        self.count = 0
        self._metas: list[IndicatorMeta] = []
        self._domains = HostTable()
        self._max_labels = 0  # labels of the longest domain indicator
        self._keys = self._domains.keys  # the table's arrays, read directly by match_host
        self._mask = self._domains.mask
        # host -> ((path, query, meta index), ...)
        self._url_hosts: dict[str, tuple[tuple[str, str | None, int], ...]] = {}
        self._url_labels = 0  # labels of the longest URL indicator host
        self._ip_exact: dict[str, tuple[int, ...]] = {}
        # (version, prefix length) -> {network address as int: meta indexes}
        self._ip_nets: dict[tuple[int, int], dict[int, tuple[int, ...]]] = {}

    @classmethod
    def build(cls, name: str, indicators: Iterable[Indicator]) -> IndexLayer:
        """From Indicator objects (tests, small sets); sets use build_set. App indicators are
        skipped (see build_entries)."""
        metas: dict[IndicatorMeta, int] = {}
        entries = [(i.type, i.value, metas.setdefault(i.meta, len(metas))) for i in indicators]
        return cls.build_entries(name, list(metas), entries)

    @classmethod
    def build_set(cls, indicator_set: IndicatorSet) -> IndexLayer:
        return cls.build_entries(indicator_set.name, indicator_set.metas, indicator_set.entries)

    @classmethod
    def build_entries(
        cls,
        name: str,
        metas: Sequence[IndicatorMeta],
        entries: Iterable[tuple[IndicatorType, str, int]],
    ) -> IndexLayer:
        """The layer for (type, canonical value, index into metas) entries.

        App-type entries (file hashes, certificates, packages: engines.apps judges those) are
        skipped and not counted, so one indicator set can carry both kinds.
        """
        layer = cls(name)
        layer._metas = list(metas)
        domains: list[tuple[str, int]] = []
        urls: dict[str, list[tuple[str, str | None, int]]] = {}
        domain_type, url_type = IndicatorType.DOMAIN, IndicatorType.URL
        ip_type = IndicatorType.IP
        count = 0
        for kind, value, m in entries:
            if kind is domain_type:
                if (value[-1].isdigit() or ":" in value) and _looks_like_ip(value):
                    layer._add_ip(value, m)
                else:
                    domains.append((value, m))
            elif kind is url_type:
                host, _, rest = value.partition("/")
                path, sep, query = ("/" + rest).partition("?")
                urls.setdefault(host, []).append((path, query if sep else None, m))
            elif kind is ip_type:
                layer._add_ip(value, m)
            else:
                continue
            count += 1
        layer.count = count
        layer._domains = HostTable.build(domains)
        layer._max_labels = max((d.count(".") + 1 for d, _ in domains), default=0)
        layer._keys = layer._domains.keys
        layer._mask = layer._domains.mask
        layer._url_hosts = {h: tuple(v) for h, v in urls.items()}
        layer._url_labels = max(
            (h.count(".") + 1 for h in urls if not (h[-1].isdigit() or ":" in h)), default=0
        )
        return layer

    def _add_ip(self, value: str, meta: int) -> None:
        if "/" not in value:
            self._ip_exact[value] = (*self._ip_exact.get(value, ()), meta)
            return
        net = ipaddress.ip_network(value, strict=False)
        bucket = self._ip_nets.setdefault((net.version, net.prefixlen), {})
        key = int(net.network_address)
        bucket[key] = (*bucket.get(key, ()), meta)

    @property
    def nbytes(self) -> int:
        """The host table's arrays (the bulk of a big feed's memory)."""
        return self._domains.nbytes

    def match_name(
        self, host: str, path: str | None, query: str | None, out: list[_Candidate]
    ) -> None:
        """Domain indicators on the host or a parent domain, and (with a path) URL indicators
        whose host expression is the host or a parent and whose path covers the path.

        One walk over the host's suffixes, shortest first, probing only as many labels as the
        longest indicator has (a domain indicator always has two or more). The domain table's
        probe is inlined: this loop is the hottest code of web protection.
        """
        keys = self._keys
        mask = self._mask
        domain_labels = self._max_labels
        url_labels = self._url_labels if path is not None else 0
        labels = domain_labels if domain_labels > url_labels else url_labels
        pos = host.rfind(".")
        if url_labels:  # the last label alone can be a URL indicator's host ("intranet/x")
            entries = self._url_hosts.get(host[pos + 1 :])
            if entries is not None:
                self._url_hit(host[pos + 1 :], entries, path or "/", query, out)
        n = 1
        while n < labels and pos >= 0:
            pos = host.rfind(".", 0, pos)
            n += 1
            name = host[pos + 1 :]
            if n <= url_labels:
                entries = self._url_hosts.get(name)
                if entries is not None:
                    self._url_hit(name, entries, path or "/", query, out)
            if n <= domain_labels:
                key = hash(name) or 1
                i = key & mask
                while True:
                    slot = keys[i]
                    if slot == key:
                        self._domain_hit(name, i, out)
                        break
                    if slot == 0:
                        break
                    i = (i + 1) & mask

    def _domain_hit(self, name: str, slot: int, out: list[_Candidate]) -> None:
        table = self._domains
        spec = (len(name), 0)
        out.extend(
            _Candidate(self._metas[m], IndicatorType.DOMAIN, name, spec)
            for m in table.values(table.value_at(slot))
        )

    def _url_hit(
        self,
        name: str,
        entries: tuple[tuple[str, str | None, int], ...],
        path: str,
        query: str | None,
        out: list[_Candidate],
    ) -> None:
        out.extend(
            _url_candidate(self._metas[m], name, prefix, q)
            for prefix, q, m in entries
            if _path_covers(prefix, q, path, query)
        )

    def match_url_on_ip(
        self, host: str, path: str, query: str | None, out: list[_Candidate]
    ) -> None:
        """URL indicators on exactly this IP host."""
        entries = self._url_hosts.get(host)
        if entries is not None:
            self._url_hit(host, entries, path, query, out)

    def match_ip(
        self, ip: ipaddress.IPv4Address | ipaddress.IPv6Address, out: list[_Candidate]
    ) -> None:
        text = str(ip)
        bits = _IPV4_BITS if ip.version == 4 else _IPV6_BITS
        out.extend(
            _Candidate(self._metas[m], IndicatorType.IP, text, (bits, 0))
            for m in self._ip_exact.get(text, ())
        )
        if not self._ip_nets:
            return
        value = int(ip)
        for (version, prefix), bucket in self._ip_nets.items():
            if version != ip.version:
                continue
            key = (value >> (bits - prefix)) << (bits - prefix) if prefix else 0
            hits = bucket.get(key, ())
            if hits:
                expression = f"{_ip_from(key, version)}/{prefix}"
                out.extend(
                    _Candidate(self._metas[m], IndicatorType.IP, expression, (prefix, 0))
                    for m in hits
                )


def _url_candidate(meta: IndicatorMeta, host: str, prefix: str, query: str | None) -> _Candidate:
    expression = host + prefix + (f"?{query}" if query is not None else "")
    spec = (len(host), len(prefix) + (len(query) + 1 if query is not None else 0))
    return _Candidate(meta, IndicatorType.URL, expression, spec)


def _ip_from(value: int, version: int) -> str:
    if version == 4:
        return str(ipaddress.IPv4Address(value))
    return str(ipaddress.IPv6Address(value))


def _looks_like_ip(value: str) -> bool:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return True


def _parse_ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _reason(c: _Candidate) -> str:
    meta = c.meta
    label = f" ({meta.title})" if meta.title else ""
    if meta.kind is MatchKind.INDICATOR:
        return f"custom {c.type.value} indicator {meta.source} on {c.expression}{label}"
    if meta.kind is MatchKind.FEED:
        return f"feed '{meta.source}' lists {c.type.value} {c.expression}{label}"
    return f"{meta.title or meta.source}: {c.expression} is {meta.description or 'listed'}"


def _as_match(c: _Candidate) -> WebMatch:
    return WebMatch(meta=c.meta, indicator_type=c.type, expression=c.expression, reason=_reason(c))


_PILOT_SUFFIX = "." + PILOT_TEST_TARGET


def _pilot_match(host: str) -> WebMatch | None:
    if host.endswith(PILOT_TEST_TARGET) and (
        host == PILOT_TEST_TARGET or host.endswith(_PILOT_SUFFIX)
    ):
        return WebMatch(
            meta=PILOT_TEST_META,
            indicator_type=IndicatorType.DOMAIN,
            expression=PILOT_TEST_TARGET,
            reason=f"builtin: {PILOT_TEST_TARGET} is the anti-phishing test target, always blocked",
        )
    return None


class WebIndex:
    """Layers of indicators plus the lookalike heuristics; answers verdicts."""

    __slots__ = ("_builtin", "_layers", "_lookalike")

    def __init__(
        self,
        layers: Sequence[IndexLayer] = (),
        *,
        lookalike: LookalikeDetector | None = None,
        builtin: bool = True,
    ) -> None:
        self._layers = tuple(layers)
        self._lookalike = lookalike
        self._builtin = builtin  # False only for an index that must judge nothing (policy off)

    @property
    def layers(self) -> tuple[IndexLayer, ...]:
        return self._layers

    @property
    def count(self) -> int:
        return sum(layer.count for layer in self._layers)

    def replace_layer(self, layer: IndexLayer) -> WebIndex:
        """A new index with `layer` in place of the one of the same name (or added)."""
        kept = [old for old in self._layers if old.name != layer.name]
        return WebIndex([*kept, layer], lookalike=self._lookalike)

    def without_layer(self, name: str) -> WebIndex:
        return WebIndex([x for x in self._layers if x.name != name], lookalike=self._lookalike)

    def with_lookalike(self, lookalike: LookalikeDetector | None) -> WebIndex:
        return WebIndex(self._layers, lookalike=lookalike)

    # -- entry points ---------------------------------------------------------------------

    def check_url(
        self, url: str, *, now: datetime, device_groups: frozenset[str] | None = None
    ) -> WebVerdict:
        """A full URL (canonicalized here); an unusable URL gets a verdict with a problem."""
        try:
            canonical = canonicalize(url)
        except InvalidUrl as e:
            return WebVerdict(target=url[:200], decision=None, problem=e.message)
        return self.check_canonical(canonical, now=now, device_groups=device_groups)

    def check_host(
        self, host: str, *, now: datetime, device_groups: frozenset[str] | None = None
    ) -> WebVerdict:
        """A bare host name or IP (a DNS query, an HTTPS CONNECT): domain and IP indicators."""
        try:
            name = canonical_host(host)
        except InvalidUrl as e:
            return WebVerdict(target=host[:200], decision=None, problem=e.message)
        return self._judge(name, None, None, now, device_groups, name)

    def check_canonical(
        self, url: CanonicalUrl, *, now: datetime, device_groups: frozenset[str] | None = None
    ) -> WebVerdict:
        return self._judge(url.host, url.path, url.query, now, device_groups, str(url))

    # -- the decision ---------------------------------------------------------------------

    def _judge(
        self,
        host: str,
        path: str | None,
        query: str | None,
        now: datetime,
        device_groups: frozenset[str] | None,
        target: str,
    ) -> WebVerdict:
        """Positional arguments only: this runs for every lookup, and keywords cost."""
        if self._builtin and host.endswith(PILOT_TEST_TARGET):
            pilot = _pilot_match(host)
            if pilot is not None:
                return WebVerdict(target, pilot, (pilot,))
        found: list[_Candidate] = []
        ip = _parse_ip(host) if host[0].isdigit() or ":" in host else None
        if ip is None:
            for layer in self._layers:
                layer.match_name(host, path, query, found)
        else:
            for layer in self._layers:
                layer.match_ip(ip, found)
                if path is not None:
                    layer.match_url_on_ip(host, path, query, found)
        if found:
            live = [c for c in found if c.meta.applies(now=now, device_groups=device_groups)]
            if live:
                return self._decide(target, live, exact_ip=ip is not None)
        if ip is None and self._lookalike is not None:
            heuristics = self._lookalike.check(host)
            if heuristics:
                strongest = max(heuristics, key=lambda m: m.action.precedence)
                return WebVerdict(target=target, decision=strongest, matches=heuristics)
        return WebVerdict(target, None)

    @staticmethod
    def _decide(target: str, live: list[_Candidate], *, exact_ip: bool) -> WebVerdict:
        if len(live) == 1:  # the common case: one indicator matched
            only = _as_match(live[0])
            return WebVerdict(target, only, (only,))

        def rank(c: _Candidate) -> tuple[int, int, int]:
            spec = c.specificity
            if exact_ip and c.type is IndicatorType.URL:
                spec = (_IPV6_BITS + 1, spec[1])  # an exact URL on the IP beats any network
            return (spec[0], spec[1], -c.meta.action.precedence)

        ordered = sorted(live, key=rank, reverse=True)
        matches = tuple(_as_match(c) for c in ordered)
        return WebVerdict(target=target, decision=matches[0], matches=matches)


def build_index(
    layers: Iterable[tuple[str, Iterable[Indicator]]],
    *,
    lookalike: LookalikeDetector | None = None,
) -> WebIndex:
    """Convenience: one layer per (name, indicators) pair."""
    return WebIndex([IndexLayer.build(n, inds) for n, inds in layers], lookalike=lookalike)
