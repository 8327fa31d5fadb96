"""Web protection's vocabulary: indicators, their actions, and verdicts that explain themselves."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from openmtd.domain.enums import Severity


class IndicatorType(StrEnum):
    """What an indicator's value names.

    Web types (the admin CSV spells them DomainName, Url, IpAddress) are judged by
    engines.web; app types (FileSha256/FileSha1/FileMd5, CertificateThumbprint, and our
    PackageName) by engines.apps. Hash values are lower-case hex.
    """

    DOMAIN = "domain"  # a registered name; covers all its subdomains
    URL = "url"  # host + path prefix (+ exact query when given)
    IP = "ip"  # one IPv4/IPv6 address or a CIDR network
    FILE_SHA256 = "file_sha256"  # an APK file's hash
    FILE_SHA1 = "file_sha1"
    FILE_MD5 = "file_md5"
    CERT_SHA256 = "cert_sha256"  # a signing certificate's thumbprint (of its DER encoding)
    CERT_SHA1 = "cert_sha1"
    CERT_MD5 = "cert_md5"
    PACKAGE = "package"  # an Android package name (or iOS bundle id), exact

    @property
    def is_web(self) -> bool:
        return self in _WEB_TYPES

    @property
    def is_app(self) -> bool:
        return self not in _WEB_TYPES


_WEB_TYPES = frozenset({IndicatorType.DOMAIN, IndicatorType.URL, IndicatorType.IP})


class IndicatorAction(StrEnum):
    """What happens when an indicator matches.

    On the same target the reference product's order applies: Allow > Warn > Block. Audit is
    "allow, and record a detection", so it ranks right after Allow.
    """

    ALLOW = "Allow"
    AUDIT = "Audit"
    WARN = "Warn"
    BLOCK = "Block"

    @property
    def precedence(self) -> int:
        """Lower wins when two indicators name the same target."""
        return _PRECEDENCE[self]

    @property
    def lets_through(self) -> bool:
        return self in (IndicatorAction.ALLOW, IndicatorAction.AUDIT)


_PRECEDENCE = {
    IndicatorAction.ALLOW: 0,
    IndicatorAction.AUDIT: 1,
    IndicatorAction.WARN: 2,
    IndicatorAction.BLOCK: 3,
}


class MatchKind(StrEnum):
    """Where a verdict came from."""

    INDICATOR = "indicator"  # an admin's custom indicator
    FEED = "feed"  # a threat-intelligence feed
    HEURISTIC = "heuristic"  # a list-free phishing heuristic (lookalike domains)
    BUILTIN = "builtin"  # the product's own, e.g. the pilot's test target


@dataclass(frozen=True, slots=True)
class IndicatorMeta:
    """Everything about an indicator except its value; many indicators of a feed share one."""

    kind: MatchKind
    source: str  # indicator id, feed name, heuristic id or builtin name
    action: IndicatorAction
    severity: Severity = Severity.INFORMATIONAL
    title: str = ""
    description: str = ""
    recommended_actions: str = ""
    category: str = ""
    mitre_techniques: tuple[str, ...] = ()
    generate_alert: bool = True
    expires_at: datetime | None = None
    device_groups: tuple[str, ...] = ()  # device tags; empty means every device

    def applies(self, *, now: datetime, device_groups: frozenset[str] | None) -> bool:
        """Unexpired, and scoped to one of the device's groups (None: any device, e.g. a check)."""
        if self.expires_at is not None and self.expires_at <= now:
            return False
        if not self.device_groups or device_groups is None:
            return True
        return not device_groups.isdisjoint(self.device_groups)


@dataclass(frozen=True, slots=True)
class Indicator:
    """One web indicator. `value` is canonical: see engines.web.canonical.canonical_indicator."""

    type: IndicatorType
    value: str
    meta: IndicatorMeta


@dataclass(slots=True)
class WebMatch:
    """One indicator, feed entry, heuristic or builtin that matched, and why.

    Not frozen for speed, like WebVerdict; treat it as immutable.
    """

    meta: IndicatorMeta
    indicator_type: IndicatorType | None  # None for heuristics
    expression: str  # what matched: "example.com", "example.com/login/", "10.0.0.0/8", a brand
    reason: str  # one sentence a person can read

    @property
    def action(self) -> IndicatorAction:
        return self.meta.action


@dataclass(slots=True)
class WebVerdict:
    """The answer for one URL or host: the deciding match, every match, and an explanation.

    Not frozen only for speed (a frozen dataclass costs four times as much to create, and one
    is created for every lookup); treat it as immutable.
    """

    target: str  # the canonical URL or host that was judged
    decision: WebMatch | None
    matches: tuple[WebMatch, ...] = field(default=())
    problem: str = ""  # set when the input could not be judged as a URL (e.g. no host)

    @property
    def action(self) -> IndicatorAction | None:
        """None: nothing matched, the request goes through unremarked."""
        return self.decision.action if self.decision else None

    @property
    def blocks(self) -> bool:
        return self.action is IndicatorAction.BLOCK

    @property
    def warns(self) -> bool:
        return self.action is IndicatorAction.WARN

    @property
    def explanation(self) -> str:
        if self.problem:
            return f"{self.target or '(empty)'}: {self.problem}"
        if self.decision is None:
            return f"{self.target}: no indicator, feed or heuristic matched; allowed."
        d = self.decision
        text = f"{self.target}: {d.action.value} — {d.reason}"
        others = len(self.matches) - 1
        if others > 0:
            text += f" ({others} other match{'es' if others > 1 else ''} overruled)"
        return text
