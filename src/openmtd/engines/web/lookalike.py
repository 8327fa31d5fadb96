"""List-free phishing heuristics: host names that imitate a protected brand.

A host is judged by its registrable domain (eTLD+1) from the Public Suffix List bundled with
`publicsuffixlist` (works offline), with the ICANN *and* the private section: on hosting
platforms such as github.io, blogspot.com, web.app or azurewebsites.net each customer's name is
its own registrable domain, which is where phishing pages live. So "paypa1.github.io" is a site
of its own (and a lookalike of paypal.com), and github.io itself is a bare suffix. Names under a
TLD the list does not know are taken to end in a one-label suffix ("evil.example").

The protected brands are `brands.BUILTIN_BRANDS` (unless the policy turns them off) plus the
organisation's own domains. Four heuristics, each reported with its own id, action and reason:

confusable
    The UTS #39 skeleton of the registrable label (punycode decoded first) equals a brand's
    while the labels differ: "xn--pypal-4ve.com" (Cyrillic "а"), "paypa1.com", "rnicrosoft.com"
    (the data maps "m" to "rn"), "micros0ft.com". Skeletons are taken of the whole registrable
    domain too, which catches a confusable suffix ("paypal.corn"). The prototypes come from
    Unicode's confusables.txt as stored by `confusable-homoglyphs` (see `_prototypes`), with one
    correction (`_EXTRA_PROTOTYPES`: Cyrillic "ӏ" reads as "l", so "аррӏе.com" is caught). Domain
    names are case-insensitive, so the skeleton is lowercased and mapped again until it is
    stable: "0" maps to "O" in the data, and "O" is "o" in a host name.
edit-distance
    The registrable label is one Damerau-Levenshtein edit (an extra, missing, replaced or
    swapped character) from a brand's label, under any suffix ("paypall.com", "gooogle.net"),
    or the label is the brand's and the suffix is one edit from the brand's ("paypal.co").
    Brand labels are looked up in a symmetric-delete index (every label and its one-character
    deletions), so a check costs one dictionary lookup per character, not a loop over brands.
embedding
    A brand's domain is written out in front of someone else's registrable domain
    ("paypal.com.evil.example", "paypal.com-login.example.net"), or a brand's label is a
    "-"-separated token of a label ("secure-paypal-login.example.net"), also when spelled with
    look-alike characters in an IDN label (the tokens of its skeleton: "secure-pаypal-login").
mixed-script
    A label mixes letters of different scripts (Latin with Cyrillic, Greek, ...), whether or not
    it resembles a brand. The combinations UTS #39 allows for Chinese, Japanese and Korean
    (Latin with Han and Bopomofo, Hiragana and Katakana, or Hangul) are not reported. Scripts are
    Unicode's Scripts.txt property, from the range table `confusable-homoglyphs` ships.

False-positive guards:
- a brand's own registrable domain and its subdomains (login.paypal.com) are never judged, nor
  are the policy's known-good domains and their subdomains, the built-in brands' other domains
  (`brands.BRAND_OWNED`) and CDN names that embed customers' domains by construction
  (`brands.CDN_INFRASTRUCTURE`, e.g. www.paypal.com.edgekey.net);
- a brand's label under another suffix (paypal.de, amazon.co.uk) is the brand's own international
  or defensive registration far more often than not, so it is only reported when the suffix is
  one edit from the brand's ("paypal.co") or looks the same ("paypal.corn");
- edit-distance compares only distinctive brand labels: five characters or more and not an
  everyday word (`brands.COMMON_WORD_LABELS`: "chase" is one edit from "chose"), and never
  reports a candidate label that is itself an everyday word near a brand (`brands.NEAR_WORDS`:
  email.com is not a typo of gmail.com);
- embedding reports a distinctive brand label combined with other words ("paypal-support"), but
  a short or everyday brand label ("apple", "ups"), or a subdomain label that is only the brand
  label ("netflix.wd1.myworkdayjobs.com", a company's tenant on a SaaS platform), needs evidence:
  a lure word (`brands.LURE_WORDS`: "apple-id-verify", "ups-parcel-tracking") or the brand's
  suffix right after it ("apple-com-shop"). Labels shorter than three characters are not matched
  as tokens at all.

`LookalikeDetector.check` runs on hot paths (the DNS resolver and the HTTP proxy): everything is
precomputed at construction, results are kept in bounded LRU caches per host and per registrable
domain, and the detector is immutable (safe to share between threads). It never raises: a name
that is not a host name (or is an IP address, or a bare public suffix) simply matches nothing.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
import unicodedata
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

import idna
from publicsuffixlist import PublicSuffixList

from openmtd.domain.enums import Severity
from openmtd.domain.errors import InvalidInput
from openmtd.domain.web import IndicatorAction, IndicatorMeta, MatchKind, WebMatch
from openmtd.engines.web import brands

HEURISTICS: tuple[str, ...] = ("confusable", "edit-distance", "embedding", "mixed-script")
CONFUSABLE, EDIT_DISTANCE, EMBEDDING, MIXED_SCRIPT = HEURISTICS

_ORDER = {h: i for i, h in enumerate(HEURISTICS)}
_DESCRIPTIONS = {
    CONFUSABLE: "The domain name reads like a protected brand's: once look-alike characters are "
    "mapped to a common prototype (Unicode UTS #39 skeletons), the two are the same.",
    EDIT_DISTANCE: "The domain name is one typing slip (an extra, missing, replaced or swapped "
    "character) away from a protected brand's.",
    EMBEDDING: "A protected brand's name or domain appears inside a host name that belongs to "
    "someone else.",
    MIXED_SCRIPT: "A label of the host name mixes letters of different writing systems, which "
    "real names rarely do and homograph attacks rely on.",
}
_RECOMMENDED = (
    "Do not enter passwords or payment details here; open the brand's site from a bookmark or "
    "by typing its address."
)
_CATEGORY = "Phishing"

MIN_DISTINCTIVE_LENGTH = 5
"""Brand labels shorter than this are not compared by edit distance (too many real words)."""
MIN_TOKEN_LENGTH = 3
"""Brand labels shorter than this are not looked for as tokens by the embedding heuristic."""
DEFAULT_CACHE_SIZE = 32_768

_HOST = re.compile(r"(?:[a-z0-9_-]{1,63}\.)*[a-z0-9_-]{1,63}")
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")  # a last label like this makes an IPv4 address
_TOKEN = re.compile(r"[^.-]+")
_TOKEN_SPLIT = re.compile(r"[.-]")
_MAX_UNICODE_INPUT = 1024

# Script sets a single label may combine (UTS #39 "Highly Restrictive"); Common and Inherited
# characters (digits, "-", combining marks) go with any script.
_NEUTRAL_SCRIPTS = frozenset({"Common", "Inherited", "Unknown"})
_ALLOWED_SCRIPT_SETS = (
    frozenset({"Latin", "Han", "Hiragana", "Katakana"}),
    frozenset({"Latin", "Han", "Bopomofo"}),
    frozenset({"Latin", "Han", "Hangul"}),
)


# -- policy ----------------------------------------------------------------------------------

ActionSpec = Mapping[str, IndicatorAction] | tuple[tuple[str, IndicatorAction], ...]


@dataclass(frozen=True, slots=True)
class LookalikePolicy:
    """What to protect and how to act. Frozen and hashable.

    `actions` may be given as a mapping or as (heuristic, action) pairs; it is kept as sorted
    pairs. Heuristics without an entry warn. Unknown heuristic ids raise InvalidInput.
    """

    protected: tuple[str, ...] = ()  # the organisation's own (registrable) domains
    include_builtin: bool = True  # add brands.BUILTIN_BRANDS (and the brands' own domains)
    actions: ActionSpec = ()
    disabled: frozenset[str] = frozenset()  # heuristic ids turned off
    known_good: tuple[str, ...] = ()  # domains never flagged, with their subdomains

    def __post_init__(self) -> None:
        pairs = self.actions.items() if isinstance(self.actions, Mapping) else self.actions
        actions: dict[str, IndicatorAction] = {}
        for heuristic, action in pairs:
            _require_heuristic(heuristic)
            try:
                actions[heuristic] = IndicatorAction(action)
            except ValueError as e:
                raise InvalidInput(f"{action!r} is not an indicator action", field="actions") from e
        disabled = _strings(self.disabled)
        for heuristic in disabled:
            _require_heuristic(heuristic)
        object.__setattr__(self, "actions", tuple(sorted(actions.items())))
        object.__setattr__(self, "disabled", frozenset(disabled))
        object.__setattr__(self, "protected", _strings(self.protected))
        object.__setattr__(self, "known_good", _strings(self.known_good))

    def action(self, heuristic: str) -> IndicatorAction:
        """The configured action of one heuristic (Warn unless set)."""
        pairs = self.actions.items() if isinstance(self.actions, Mapping) else self.actions
        return dict(pairs).get(heuristic, IndicatorAction.WARN)


def _strings(values: Iterable[str]) -> tuple[str, ...]:
    """A tuple of the values; one string stands for itself, not for its characters."""
    return (values,) if isinstance(values, str) else tuple(values)


def _require_heuristic(heuristic: str) -> None:
    if heuristic not in HEURISTICS:
        raise InvalidInput(
            f"unknown lookalike heuristic {heuristic!r}; known: {', '.join(HEURISTICS)}",
            field="heuristic",
        )


# -- host names and the public suffix list ---------------------------------------------------


@functools.cache
def _psl() -> PublicSuffixList:
    # The bundled list, ICANN and private sections; unknown TLDs count as public suffixes.
    return PublicSuffixList(accept_unknown=True, only_icann=False)


def _canonical(host: object) -> str | None:
    """Lowercase ASCII host name without a trailing dot, or None if `host` cannot be one."""
    if not isinstance(host, str):
        return None
    name = host
    if not name.isascii():
        if len(name) > _MAX_UNICODE_INPUT:
            return None
        try:
            name = idna.encode(name, uts46=True).decode("ascii")
        except (UnicodeError, ValueError):
            return None
    name = name.lower()
    if name.endswith("."):
        name = name[:-1]
    if len(name) > 253 or _HOST.fullmatch(name) is None:
        return None
    return name


def _split(name: str) -> tuple[str, str] | None:
    """(the labels left of the public suffix, the suffix) of a canonical name.

    None for IPv4 addresses (in any spelling) and for names that are a public suffix.
    """
    if _NUMERIC_LABEL.fullmatch(name[name.rfind(".") + 1 :]):
        return None
    suffix = _psl().publicsuffix(name)
    if suffix is None or len(suffix) >= len(name):
        return None
    return name[: -len(suffix) - 1], suffix


def registrable_domain(host: str) -> str | None:
    """The registrable domain (eTLD+1) of a host name, e.g. "example.co.uk".

    The Public Suffix List's ICANN and private sections count ("user.github.io" is registrable).
    None for IP addresses, bare public suffixes, single labels and anything that is not a host
    name. Unicode names are converted to punycode first. Never raises.
    """
    name = _canonical(host)
    if name is None:
        return None
    parts = _split(name)
    if parts is None:
        return None
    left, suffix = parts
    return f"{left[left.rfind('.') + 1 :]}.{suffix}"


def _unicode_label(label: str) -> str:
    """The Unicode form of a punycode ("xn--") label; the label itself otherwise or if invalid."""
    if not label.startswith("xn--"):
        return label
    try:
        text = label[4:].encode("ascii").decode("punycode").lower()
    except (UnicodeError, ValueError):
        return label
    if not text or any(0xD800 <= ord(ch) <= 0xDFFF for ch in text):
        return label
    return text


def _unicode_name(name: str) -> str:
    if "xn--" not in name:
        return name
    return ".".join(_unicode_label(label) for label in name.split("."))


# -- Unicode data: confusable prototypes and scripts -----------------------------------------


def _package_json(filename: str) -> Any:
    data = resources.files("confusable_homoglyphs").joinpath(filename).read_text("utf-8")
    return json.loads(data)


# Where the UTS #39 data disagrees with how a character renders in host names. CYRILLIC SMALL
# LETTER PALOCHKA is a bare vertical stroke, like "l" (its capital already maps to "l"), but the
# data gives it the prototype "i", which would miss the best-known homograph, "аррӏе.com".
_EXTRA_PROTOTYPES = {0x04CF: "l"}


def _unmark(text: str) -> str:
    # The package copies characters from the comments of confusables.txt, where right-to-left
    # characters are wrapped in LEFT-TO-RIGHT MARKs for display.
    return text.replace("\u200e", "")


@functools.cache
def _prototypes() -> dict[int, str]:
    """The UTS #39 prototype (NFD) of every confusable code point, as a str.translate table.

    `confusable-homoglyphs` stores Unicode's confusables.txt undirected: for each line
    "source ; prototype" each side lists the other. It can be turned back into the mapping
    because every line's source is a single code point that appears on no other line, so each
    connected group is a star: a prototype in the middle, listing its sources, each of which
    lists only the prototype. A group of two is one line: a multi-character side is the
    prototype, and otherwise the source is the side stored first (the file keeps line order).
    """
    raw = _package_json("confusables.json")
    neighbours: dict[str, list[str]] = {}
    for key, entries in raw.items():
        neighbours[_unmark(key)] = [_unmark(entry["c"]) for entry in entries]
    position = {key: i for i, key in enumerate(neighbours)}
    table: dict[int, str] = {}
    for key, near in neighbours.items():
        if len(near) > 1:  # a prototype with its sources
            for source in near:
                if len(source) == 1 and len(neighbours.get(source, ())) == 1:
                    table[ord(source)] = unicodedata.normalize("NFD", key)
        elif len(near) == 1:
            other = near[0]
            if len(neighbours.get(other, ())) != 1 or len(key) != 1:
                continue  # a source of a bigger group (handled there), or a prototype
            if len(other) > 1 or position[key] < position[other]:
                table[ord(key)] = unicodedata.normalize("NFD", other)
    table.update(_EXTRA_PROTOTYPES)
    return table


@functools.cache
def _ascii_sources() -> re.Pattern[str]:
    return re.compile("[" + re.escape("".join(chr(c) for c in _prototypes() if c < 0x80)) + "]")


def skeleton(text: str) -> str:
    """The UTS #39 skeleton of `text`, made case-insensitive for host names.

    NFD, map every character to its prototype, NFD again (UTS #39), then lowercase and repeat
    until nothing changes, because host names ignore case: "0" has the prototype "O", which a
    host name cannot tell from "o".
    """
    table = _prototypes()
    if text.isascii():  # NFD leaves ASCII alone
        current = text.lower()
        if _ascii_sources().search(current) is None:
            return current
    else:
        current = unicodedata.normalize("NFD", text.lower())
    for _ in range(4):
        mapped = unicodedata.normalize("NFD", current.translate(table)).lower()
        if mapped == current:
            break
        current = mapped
    return current


@functools.cache
def _script_table() -> tuple[tuple[int, ...], tuple[int, ...], tuple[str, ...]]:
    """Unicode's Scripts.txt as sorted ranges: (starts, ends, script names)."""
    raw = _package_json("categories.json")
    aliases: list[str] = [str(a).replace("_", " ").title() for a in raw["iso_15924_aliases"]]
    starts: list[int] = []
    ends: list[int] = []
    names: list[str] = []
    for start, end, alias, _category in sorted(raw["code_points_ranges"]):
        name = aliases[alias]
        if names and names[-1] == name and ends[-1] + 1 == start:
            ends[-1] = end
        else:
            starts.append(start)
            ends.append(end)
            names.append(name)
    return tuple(starts), tuple(ends), tuple(names)


def script_of(ch: str) -> str:
    """The Unicode script of one character ("Latin", "Cyrillic", "Common", ... or "Unknown")."""
    starts, ends, names = _script_table()
    code = ord(ch)
    i = bisect_right(starts, code) - 1
    if i >= 0 and code <= ends[i]:
        return names[i]
    return "Unknown"


def _mixed_scripts(label: str) -> tuple[str, ...]:
    """The scripts a label mixes, in order of appearance; () when it does not mix them."""
    seen: dict[str, None] = {}
    for ch in label:
        script = script_of(ch)
        if script not in _NEUTRAL_SCRIPTS:
            seen[script] = None
    if len(seen) < 2:
        return ()
    found = frozenset(seen)
    if any(found <= allowed for allowed in _ALLOWED_SCRIPT_SETS):
        return ()
    return tuple(seen)


# -- explanations ----------------------------------------------------------------------------


def _printable(text: str) -> str:
    return "".join(ch if ch.isprintable() else f"\\u{ord(ch):04x}" for ch in text)


def _quote(text: str) -> str:
    """'x', with code points for anything beyond ASCII."""
    shown = f"'{_printable(text)}'"
    if text.isascii():
        return shown
    return f"{shown} {' '.join(f'U+{ord(ch):04X}' for ch in text)}"


def _describe(text: str) -> str:
    """A character with its script ("Cyrillic 'а' U+0430", "digit '1'"); a sequence quoted."""
    if len(text) != 1:
        return _quote(text)
    if unicodedata.category(text) == "Nd":
        return f"digit {_quote(text)}"
    script = script_of(text)
    if script in _NEUTRAL_SCRIPTS:
        return _quote(text)
    return f"{script} {_quote(text)}"


def _differences(candidate: str, brand: str) -> str:
    """What was swapped for what, e.g. "Cyrillic 'а' U+0430 for Latin 'a'"."""
    found: list[str] = []
    matcher = difflib.SequenceMatcher(None, candidate, brand, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        ours, theirs = candidate[i1:i2], brand[j1:j2]
        pairs = list(zip(ours, theirs, strict=True)) if len(ours) == len(theirs) else []
        if not pairs:
            pairs = [(ours, theirs)]
        for a, b in pairs:
            if a == b:
                continue
            if a and b:
                text = f"{_describe(a)} for {_describe(b)}"
            elif a:
                text = f"an added {_describe(a)}"
            else:
                text = f"no {_describe(b)}"
            if text not in found:
                found.append(text)
    return ", ".join(found) or "no visible difference"


def _one_edit(candidate: str, brand: str) -> str | None:
    """How `candidate` is one Damerau-Levenshtein edit from `brand`, or None if it is not."""
    la, lb = len(candidate), len(brand)
    if abs(la - lb) > 1 or candidate == brand:
        return None
    i = 0
    shortest = min(la, lb)
    while i < shortest and candidate[i] == brand[i]:
        i += 1
    if la == lb:
        if candidate[i + 1 :] == brand[i + 1 :]:
            return f"{_quote(candidate[i])} instead of {_quote(brand[i])}"
        if (
            i + 1 < la
            and candidate[i] == brand[i + 1]
            and candidate[i + 1] == brand[i]
            and candidate[i + 2 :] == brand[i + 2 :]
        ):
            return f"{_quote(brand[i])} and {_quote(brand[i + 1])} swapped"
        return None
    if la > lb:
        if candidate[i + 1 :] == brand[i:]:
            return f"an extra {_quote(candidate[i])}"
        return None
    if candidate[i:] == brand[i + 1 :]:
        return f"a missing {_quote(brand[i])}"
    return None


def _has_run(parts: list[str], run: tuple[str, ...]) -> bool:
    size = len(run)
    return any(tuple(parts[i : i + size]) == run for i in range(len(parts) - size + 1))


def _deletions(text: str) -> list[str]:
    """The text and each of its one-character deletions (the symmetric-delete keys)."""
    keys = [text[:i] + text[i + 1 :] for i in range(len(text))]
    keys.append(text)
    return keys


# -- the detector ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Brand:
    domain: str  # canonical registrable domain, e.g. "paypal.com"
    label: str  # its label left of the suffix (ASCII, maybe punycode)
    suffix: str
    name: str  # the label in Unicode
    unicode_domain: str
    distinctive: bool  # compared by edit distance; embedded with other words is enough
    tokens: tuple[str, ...]  # the label split on "-"
    skeleton_tokens: tuple[str, ...]  # the skeleton of the Unicode label split on "-"
    suffix_tokens: tuple[str, ...]  # the suffix split on "."


@dataclass(frozen=True, slots=True)
class _DomainFindings:
    """What the registrable domain alone says (cached per registrable domain)."""

    trusted: bool
    matches: tuple[WebMatch, ...] = ()  # confusable and edit-distance
    name: str = ""  # the registrable label in Unicode
    mixed: tuple[str, ...] = ()  # scripts the registrable label mixes


_TRUSTED = _DomainFindings(trusted=True)


class LookalikeDetector:
    """Judges host names against the protected brands; see the module docstring.

    Everything is precomputed here. `cache_size` bounds each of the two LRU caches (results per
    host, findings per registrable domain). Raises InvalidInput for a protected domain without a
    registrable domain (an IP address, a public suffix) or a known-good entry that is not a host
    name.
    """

    def __init__(self, policy: LookalikePolicy, *, cache_size: int = DEFAULT_CACHE_SIZE) -> None:
        self.policy = policy
        self._enabled = frozenset(h for h in HEURISTICS if h not in policy.disabled)
        self._actions = {h: policy.action(h) for h in HEURISTICS}

        domains: dict[str, None] = {}
        if policy.include_builtin:
            domains.update(dict.fromkeys(brands.BUILTIN_BRANDS))
        for value in policy.protected:
            domain = registrable_domain(value)
            if domain is None:
                raise InvalidInput(
                    f"protected domain {value!r} is not a host name with a registrable domain",
                    field="protected",
                )
            domains[domain] = None
        self._brands = tuple(self._brand(domain) for domain in domains)
        self._brand_domains = frozenset(domains)

        known: set[str] = set(brands.CDN_INFRASTRUCTURE)
        if policy.include_builtin:
            known.update(brands.BRAND_OWNED)
        for value in policy.known_good:
            name = _canonical(value)
            if name is None:
                raise InvalidInput(
                    f"known-good domain {value!r} is not a host name", field="known_good"
                )
            known.add(name)
        self._known_good = frozenset(known)

        self._by_name: dict[str, list[_Brand]] = {}
        self._by_skeleton: dict[str, list[_Brand]] = {}
        self._by_domain_skeleton: dict[str, list[_Brand]] = {}
        self._deletes: dict[str, list[str]] = {}
        self._by_first_domain_token: dict[str, list[_Brand]] = {}
        self._by_first_label_token: dict[str, list[_Brand]] = {}
        self._by_first_skeleton_token: dict[str, list[_Brand]] = {}
        for brand in self._brands:
            self._by_name.setdefault(brand.name, []).append(brand)
            self._by_skeleton.setdefault(skeleton(brand.name), []).append(brand)
            self._by_domain_skeleton.setdefault(skeleton(brand.unicode_domain), []).append(brand)
            if brand.distinctive:
                for key in _deletions(brand.name):
                    names = self._deletes.setdefault(key, [])
                    if brand.name not in names:
                        names.append(brand.name)
            first = _TOKEN_SPLIT.split(brand.domain, maxsplit=1)[0]
            self._by_first_domain_token.setdefault(first, []).append(brand)
            if len(brand.name) >= MIN_TOKEN_LENGTH:
                if not brand.label.startswith("xn--"):
                    self._by_first_label_token.setdefault(brand.tokens[0], []).append(brand)
                first_skeleton = brand.skeleton_tokens[0]
                self._by_first_skeleton_token.setdefault(first_skeleton, []).append(brand)
        distinctive = [len(b.name) for b in self._brands if b.distinctive]
        self._shortest = min(distinctive, default=0) - 1
        self._longest = max(distinctive, default=0) + 1
        self._first_tokens = frozenset(self._by_first_domain_token) | frozenset(
            self._by_first_label_token
        )

        self._host_cache = functools.lru_cache(maxsize=cache_size)(self._check)
        self._domain_cache = functools.lru_cache(maxsize=cache_size)(self._judge_domain)

    @staticmethod
    def _brand(domain: str) -> _Brand:
        parts = _split(domain)
        if parts is None:  # built-in data is registrable by construction
            raise InvalidInput(f"brand {domain!r} has no registrable domain")
        label, suffix = parts
        name = _unicode_label(label)
        return _Brand(
            domain=domain,
            label=label,
            suffix=suffix,
            name=name,
            unicode_domain=f"{name}.{_unicode_name(suffix)}",
            distinctive=len(name) >= MIN_DISTINCTIVE_LENGTH
            and name not in brands.COMMON_WORD_LABELS,
            tokens=tuple(label.split("-")),
            skeleton_tokens=tuple(skeleton(name).split("-")),
            suffix_tokens=tuple(suffix.split(".")),
        )

    @property
    def protected_domains(self) -> tuple[str, ...]:
        """The protected registrable domains, built-in first."""
        return tuple(b.domain for b in self._brands)

    def check(self, host: str) -> tuple[WebMatch, ...]:
        """Every heuristic that fires for `host` (canonical ASCII), in HEURISTICS order.

        Never raises: anything that is not a host name, IP addresses and bare public suffixes
        match nothing.
        """
        if not isinstance(host, str) or not self._enabled:
            return ()
        return self._host_cache(host)

    # -- per host ----------------------------------------------------------------------------

    def _check(self, host: str) -> tuple[WebMatch, ...]:
        name = _canonical(host)
        if name is None:
            return ()
        parts = _split(name)
        if parts is None:
            return ()
        left, suffix = parts
        label = left[left.rfind(".") + 1 :]
        found = self._domain_cache(f"{label}.{suffix}", label, suffix)
        if found.trusted:
            return ()
        matches = list(found.matches)
        reg = f"{label}.{suffix}"
        if EMBEDDING in self._enabled:
            embedded = self._embedding(name, left, reg)
            if embedded is not None:
                matches.append(embedded)
        if MIXED_SCRIPT in self._enabled:
            mixed = self._mixed_script(name, left, found)
            if mixed is not None:
                matches.append(mixed)
        matches.sort(key=lambda m: _ORDER[m.meta.source])
        return tuple(matches)

    def _embedding(self, host: str, left: str, reg: str) -> WebMatch | None:
        tokens = _TOKEN_SPLIT.split(left)
        idn = "xn--" in left
        if not idn and self._first_tokens.isdisjoint(tokens):
            return None  # the usual case: no token of the name is a brand's
        written = self._written_out(host, left, reg)
        if written is not None:
            return written
        if idn:
            tokens = _TOKEN_SPLIT.split(_unicode_name(left))
        labels = left.split(".")
        last = len(labels) - 1
        for index, label in enumerate(labels):
            text = _unicode_label(label) if idn else label
            found = self._brand_tokens(host, reg, text, index == last, tokens)
            if found is None and text != label:
                found = self._lookalike_tokens(host, reg, label, text, index == last)
            if found is not None:
                return found
        return None

    def _written_out(self, host: str, left: str, reg: str) -> WebMatch | None:
        """A brand's domain written out: "paypal.com.evil.example", "paypal.com-login.example"."""
        for token in _TOKEN.finditer(left):
            start = token.start()
            for brand in self._by_first_domain_token.get(token.group(), ()):
                end = start + len(brand.domain)
                if left.startswith(brand.domain, start) and (end == len(left) or left[end] in ".-"):
                    return self._match(
                        EMBEDDING,
                        brand,
                        f"{host} writes out {brand.domain} in front of its real registrable "
                        f"domain {reg}",
                    )
        return None

    def _brand_tokens(
        self, host: str, reg: str, label: str, registrable: bool, tokens: list[str]
    ) -> WebMatch | None:
        """A brand's label as "-"-separated tokens of a label: "secure-paypal-login"."""
        parts = label.split("-")
        for i, part in enumerate(parts):
            for brand in self._by_first_label_token.get(part, ()):
                size = len(brand.tokens)
                if tuple(parts[i : i + size]) != brand.tokens:
                    continue
                if registrable and size == len(parts):
                    continue  # the brand's own name under another suffix
                reason = self._embedding_reason(host, reg, label, parts, i, brand, tokens)
                if reason is not None:
                    return self._match(EMBEDDING, brand, reason)
        return None

    def _lookalike_tokens(
        self, host: str, reg: str, label: str, text: str, registrable: bool
    ) -> WebMatch | None:
        """A brand's label spelled with look-alike characters inside an IDN label."""
        parts = skeleton(text).split("-")
        plain = text.split("-")
        for i, part in enumerate(parts):
            for brand in self._by_first_skeleton_token.get(part, ()):
                size = len(brand.skeleton_tokens)
                if tuple(parts[i : i + size]) != brand.skeleton_tokens:
                    continue
                if registrable and size == len(parts):
                    continue  # the whole registrable label: the confusable heuristic's case
                if _has_run(plain, brand.tokens):
                    continue  # spelled plainly, and judged as such by _brand_tokens
                return self._match(
                    EMBEDDING,
                    brand,
                    f"{host} imitates the name '{brand.label}' of {brand.domain} with look-alike "
                    f"characters in '{_printable(text)}' ({label}), but its registrable domain "
                    f"is {reg}",
                )
        return None

    @staticmethod
    def _embedding_reason(
        host: str,
        reg: str,
        label: str,
        parts: list[str],
        at: int,
        brand: _Brand,
        tokens: list[str],
    ) -> str | None:
        alone = len(brand.tokens) == len(parts)
        where = f"but its registrable domain is {reg}"
        if brand.distinctive and not alone:
            return f"{host} uses the name '{brand.label}' of {brand.domain} in '{label}', {where}"
        after = parts[at + len(brand.tokens) : at + len(brand.tokens) + len(brand.suffix_tokens)]
        if tuple(after) == brand.suffix_tokens:
            return (
                f"{host} writes {brand.domain} as '{'-'.join(brand.tokens + brand.suffix_tokens)}'"
                f" in '{label}', {where}"
            )
        lure = next((t for t in tokens if t in brands.LURE_WORDS and t not in brand.tokens), None)
        if lure is not None:
            return (
                f"{host} pairs the name '{brand.label}' of {brand.domain} with the lure word "
                f"'{lure}', {where}"
            )
        return None

    def _mixed_script(self, host: str, left: str, found: _DomainFindings) -> WebMatch | None:
        offending: list[tuple[str, str]] = []  # (label, its Unicode form)
        scripts: dict[str, None] = {}
        if "xn--" in left:
            for label in left.split(".")[:-1]:
                if label.startswith("xn--"):
                    text = _unicode_label(label)
                    mixed = _mixed_scripts(text)
                    if mixed:
                        offending.append((label, text))
                        scripts.update(dict.fromkeys(mixed))
        if found.mixed:
            offending.append((left[left.rfind(".") + 1 :], found.name))
            scripts.update(dict.fromkeys(found.mixed))
        if not offending:
            return None
        names = list(scripts)
        spoken = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
        shown = ", ".join(f"'{_printable(text)}' ({label})" for label, text in offending[:3])
        noun = "one label" if len(offending) == 1 else "its labels"
        expression = "+".join(names)
        meta = self._meta(MIXED_SCRIPT, f"Mixed-script domain name ({expression})")
        reason = f"{host} mixes {spoken} letters in {noun}: {shown}"
        return WebMatch(meta=meta, indicator_type=None, expression=expression, reason=reason)

    # -- per registrable domain --------------------------------------------------------------

    def _trusted(self, reg: str) -> bool:
        if reg in self._brand_domains:
            return True
        name = reg
        while True:
            if name in self._known_good:
                return True
            dot = name.find(".")
            if dot < 0:
                return False
            name = name[dot + 1 :]

    def _judge_domain(self, reg: str, label: str, suffix: str) -> _DomainFindings:
        if self._trusted(reg):
            return _TRUSTED
        name = _unicode_label(label)
        matches: list[WebMatch] = []
        if CONFUSABLE in self._enabled:
            confusable = self._confusable(reg, label, suffix, name)
            if confusable is not None:
                matches.append(confusable)
        if EDIT_DISTANCE in self._enabled:
            typo = self._edit_distance(reg, suffix, name)
            if typo is not None:
                matches.append(typo)
        mixed = _mixed_scripts(name) if MIXED_SCRIPT in self._enabled and name != label else ()
        return _DomainFindings(trusted=False, matches=tuple(matches), name=name, mixed=mixed)

    def _confusable(self, reg: str, label: str, suffix: str, name: str) -> WebMatch | None:
        alike = self._by_skeleton.get(skeleton(name))
        if alike is None:  # a whole-domain match needs the labels' skeletons to match too
            return None
        for brand in alike:
            if brand.label != label:
                return self._match(
                    CONFUSABLE,
                    brand,
                    f"{reg} looks like {brand.domain}: its skeleton equals {brand.domain}'s "
                    f"({_differences(name, brand.name)})",
                )
        whole = f"{name}.{_unicode_name(suffix)}"
        for brand in self._by_domain_skeleton.get(skeleton(whole), ()):
            if brand.domain != reg:
                return self._match(
                    CONFUSABLE,
                    brand,
                    f"{reg} looks like {brand.domain}: its skeleton equals {brand.domain}'s "
                    f"({_differences(whole, brand.unicode_domain)})",
                )
        return None

    def _edit_distance(self, reg: str, suffix: str, name: str) -> WebMatch | None:
        own = self._by_name.get(name)
        if own is not None:
            # A brand's name under another suffix: reported only when the suffix is a typo.
            for brand in own:
                edit = _one_edit(suffix, brand.suffix) if brand.distinctive else None
                if edit is not None:
                    return self._match(
                        EDIT_DISTANCE,
                        brand,
                        f"{reg} looks like {brand.domain}: its suffix '.{suffix}' is one edit "
                        f"from '.{brand.suffix}' ({edit})",
                    )
            return None
        if name in brands.NEAR_WORDS or not self._shortest <= len(name) <= self._longest:
            return None
        # Symmetric delete: a brand within one edit shares a key (the name or a one-character
        # deletion of it) with the candidate; the keys are checked against the index at once.
        hits = self._deletes.keys() & _deletions(name)
        if not hits:
            return None
        candidates = {brand_name for key in hits for brand_name in self._deletes[key]}
        for brand_name in sorted(candidates):
            edit = _one_edit(name, brand_name)
            if edit is None:
                continue
            same_name = self._by_name[brand_name]
            brand = next((b for b in same_name if b.suffix == suffix), same_name[0])
            return self._match(
                EDIT_DISTANCE,
                brand,
                f"{reg} looks like {brand.domain}: '{_printable(name)}' is one edit from "
                f"'{brand.name}' ({edit})",
            )
        return None

    # -- results -----------------------------------------------------------------------------

    def _meta(self, heuristic: str, title: str) -> IndicatorMeta:
        return IndicatorMeta(
            kind=MatchKind.HEURISTIC,
            source=heuristic,
            action=self._actions[heuristic],
            severity=Severity.INFORMATIONAL,
            title=title,
            description=_DESCRIPTIONS[heuristic],
            recommended_actions=_RECOMMENDED,
            category=_CATEGORY,
        )

    def _match(self, heuristic: str, brand: _Brand, reason: str) -> WebMatch:
        return WebMatch(
            meta=self._meta(heuristic, f"Possible lookalike of {brand.domain}"),
            indicator_type=None,
            expression=brand.domain,
            reason=reason,
        )
