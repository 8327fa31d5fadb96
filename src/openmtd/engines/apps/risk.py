"""Risk factors of an APK and the verdict they add up to (pure: no I/O, no clock).

The score
---------
Every factor carries a weight in points; the score is the sum of the weights, capped at 100.

    score >= 70        malicious
    40 <= score < 70   potentially unwanted
    score < 40         clean

The weights are chosen so that one ordinary feature never decides alone: an app asking for
INTERNET and CAMERA has no factor at all; a lone accessibility service (screen readers, password
managers, automation tools) scores 10; the banking-trojan triad (accessibility service + overlay
+ SMS) scores 55, potentially unwanted on its own, and malicious as soon as one more strong sign
joins it (a hidden launcher icon, 20, or a YARA rule hit, 40 by default). Combinations replace
their parts rather than adding to them: the triad is counted instead of "accessibility +
overlay", which is counted instead of "accessibility service".

Static factors (weight)
-----------------------
    perm.accessibility-overlay-sms   55  accessibility service + SYSTEM_ALERT_WINDOW + SMS access
    perm.accessibility-overlay       30  accessibility service + SYSTEM_ALERT_WINDOW
    perm.accessibility               10  an accessibility service alone
    perm.stalkerware-set             30  location + 3 kinds of personal data + start at boot
    component.device-admin           15  a device-administrator receiver
    component.notification-listener  10  reads every notification
    perm.install-packages            10  installs other APKs
    manifest.hidden-launcher         20  no launcher icon, yet components that run
    manifest.debuggable              10  android:debuggable="true"
    manifest.cleartext                5  android:usesCleartextTraffic="true"
    signer.none                      25  no signature (Android refuses to install it)
    signer.debug                     15  signed with the SDK's debug certificate
    signer.v1-only                   10  only JAR (v1) signing although it targets API 30+
    sdk.old-target                   15  targets an API level below 23 (no runtime permissions)

Factors of `judge_app` (the installed app on a device)
-------------------------------------------------------
    indicator.block     100  an app indicator says Block: malicious whatever else is known
    indicator.warn       40  an app indicator says Warn: at least potentially unwanted
    indicator.audit       0  recorded, the verdict is unchanged
    indicator.allow       0  the admin allowed the app: clean, heuristics and YARA overridden
    install.sideloaded   10  installed from outside a store and outside the MDM
    apk.unparseable       0  the APK could not be analysed (kept when an indicator decides)

YARA hits (`yara.<namespace>.<rule>`) weigh what the rule's meta `weight` says (default 40).

Confidence
----------
high    an app indicator decides (Block, Warn, Allow), or a YARA rule of severity "high" hit;
medium  the verdict is not clean and rests on heuristics: permission combinations, manifest and
        signing factors, YARA rules of lower severity;
low     otherwise (a clean verdict is the absence of evidence, not proof of innocence).
Unparseable verdicts have confidence "high": the bytes certainly could not be analysed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from openmtd.domain.apps import (
    ApkFacts,
    ApkVerdict,
    AppReputation,
    AppVerdictKind,
    Component,
    ComponentKind,
    RiskFactor,
)
from openmtd.domain.enums import InstallSource
from openmtd.domain.web import IndicatorAction

MALICIOUS_AT = 70
UNWANTED_AT = 40
MAX_SCORE = 100
MODERN_TARGET_SDK = 30  # Android 11: APKs targeting it must carry a v2 or v3 signature
RUNTIME_PERMISSIONS_SDK = 23  # Android 6: dangerous permissions are asked for at run time

_P = "android.permission."
ACCESSIBILITY = _P + "BIND_ACCESSIBILITY_SERVICE"
OVERLAY = _P + "SYSTEM_ALERT_WINDOW"
SMS = (_P + "RECEIVE_SMS", _P + "READ_SMS", _P + "SEND_SMS")
DEVICE_ADMIN = _P + "BIND_DEVICE_ADMIN"
DEVICE_ADMIN_ENABLED = "android.app.action.DEVICE_ADMIN_ENABLED"
NOTIFICATION_LISTENER = _P + "BIND_NOTIFICATION_LISTENER_SERVICE"
INSTALL = (_P + "REQUEST_INSTALL_PACKAGES", _P + "INSTALL_PACKAGES")
BOOT = _P + "RECEIVE_BOOT_COMPLETED"
BOOT_ACTIONS = (
    "android.intent.action.BOOT_COMPLETED",
    "android.intent.action.LOCKED_BOOT_COMPLETED",
    "android.intent.action.QUICKBOOT_POWERON",
)
LOCATION = (
    _P + "ACCESS_FINE_LOCATION",
    _P + "ACCESS_COARSE_LOCATION",
    _P + "ACCESS_BACKGROUND_LOCATION",
)
# The kinds of personal data stalkerware collects, each with the permissions that read it.
PERSONAL_DATA: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("microphone", (_P + "RECORD_AUDIO",)),
    ("camera", (_P + "CAMERA",)),
    ("call log", (_P + "READ_CALL_LOG", _P + "PROCESS_OUTGOING_CALLS")),
    ("SMS", (_P + "READ_SMS", _P + "RECEIVE_SMS")),
    ("contacts", (_P + "READ_CONTACTS",)),
)
STALKERWARE_MIN_KINDS = 3

WEIGHTS: dict[str, int] = {
    "perm.accessibility-overlay-sms": 55,
    "perm.accessibility-overlay": 30,
    "perm.accessibility": 10,
    "perm.stalkerware-set": 30,
    "component.device-admin": 15,
    "component.notification-listener": 10,
    "perm.install-packages": 10,
    "manifest.hidden-launcher": 20,
    "manifest.debuggable": 10,
    "manifest.cleartext": 5,
    "signer.none": 25,
    "signer.debug": 15,
    "signer.v1-only": 10,
    "sdk.old-target": 15,
    "indicator.block": 100,
    "indicator.warn": UNWANTED_AT,
    "indicator.audit": 0,
    "indicator.allow": 0,
    "install.sideloaded": 10,
    "apk.unparseable": 0,
}
YARA_DEFAULT_WEIGHT = 40


@dataclass(frozen=True, slots=True)
class YaraFactor(RiskFactor):
    """A YARA rule hit: a risk factor that also carries the rule's meta `severity`."""

    severity: str = "medium"  # "low" | "medium" | "high"


def _factor(factor_id: str, explanation: str) -> RiskFactor:
    return RiskFactor(id=factor_id, weight=WEIGHTS[factor_id], explanation=explanation)


def _short(name: str) -> str:
    """android.permission.READ_SMS -> READ_SMS (other namespaces stay whole)."""
    return name.removeprefix(_P)


def _names(components: Iterable[Component], limit: int = 3) -> str:
    items = [c.name for c in components]
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _runs_at_boot(c: Component) -> bool:
    return c.kind is ComponentKind.RECEIVER and any(a in BOOT_ACTIONS for a in c.actions)


def static_factors(facts: ApkFacts) -> list[RiskFactor]:
    """Every risk factor the manifest and the signature show, strongest combinations first."""
    perms = set(facts.permissions)
    enabled = [c for c in facts.components if c.enabled]
    out: list[RiskFactor] = []

    a11y = [
        c
        for c in enabled
        if c.kind is ComponentKind.SERVICE
        and (
            c.permission == ACCESSIBILITY
            or "android.accessibilityservice.AccessibilityService" in c.actions
        )
    ]
    overlay = OVERLAY in perms
    sms = [p for p in SMS if p in perms]
    if a11y and overlay and sms:
        out.append(
            _factor(
                "perm.accessibility-overlay-sms",
                f"Banking-trojan pattern: accessibility service {_names(a11y)} can read and "
                f"drive the screen, SYSTEM_ALERT_WINDOW can draw fake login screens over other "
                f"apps, and {', '.join(_short(p) for p in sms)} can intercept one-time codes.",
            )
        )
    elif a11y and overlay:
        out.append(
            _factor(
                "perm.accessibility-overlay",
                f"Accessibility service {_names(a11y)} together with SYSTEM_ALERT_WINDOW can "
                "read other apps' screens and draw over them (overlay attacks).",
            )
        )
    elif a11y:
        out.append(
            _factor(
                "perm.accessibility",
                f"Accessibility service {_names(a11y)} can read the screen and act for the user "
                "(common in assistive tools; risky only with other signs).",
            )
        )

    located = [p for p in LOCATION if p in perms]
    kinds = [kind for kind, needs in PERSONAL_DATA if any(p in perms for p in needs)]
    if located and len(kinds) >= STALKERWARE_MIN_KINDS and BOOT in perms:
        out.append(
            _factor(
                "perm.stalkerware-set",
                f"Stalkerware permission set: location ({', '.join(map(_short, located))}), "
                f"{', '.join(kinds)}, and RECEIVE_BOOT_COMPLETED to restart after every reboot.",
            )
        )

    admins = [
        c
        for c in enabled
        if c.kind is ComponentKind.RECEIVER
        and (c.permission == DEVICE_ADMIN or DEVICE_ADMIN_ENABLED in c.actions)
    ]
    if admins:
        out.append(
            _factor(
                "component.device-admin",
                f"Device-administrator receiver {_names(admins)} (BIND_DEVICE_ADMIN) can lock "
                "the screen, wipe the device and resist uninstallation.",
            )
        )
    listeners = [
        c
        for c in enabled
        if c.kind is ComponentKind.SERVICE and c.permission == NOTIFICATION_LISTENER
    ]
    if listeners:
        out.append(
            _factor(
                "component.notification-listener",
                f"Notification listener {_names(listeners)} "
                "(BIND_NOTIFICATION_LISTENER_SERVICE) reads every notification, including "
                "messages and one-time codes.",
            )
        )
    installs = [p for p in INSTALL if p in perms]
    if installs:
        out.append(
            _factor(
                "perm.install-packages",
                f"{' and '.join(map(_short, installs))} lets it install other APKs (droppers).",
            )
        )

    if not facts.has_launcher and enabled:
        boot = [c for c in enabled if _runs_at_boot(c)]
        listed = boot + [c for c in enabled if c not in boot]
        out.append(
            _factor(
                "manifest.hidden-launcher",
                f"No launcher icon, yet {len(enabled)} component(s) can run "
                f"({_names(listed)}{', started at boot' if boot else ''}): "
                "the user cannot easily see or open it.",
            )
        )
    if facts.debuggable:
        out.append(
            _factor(
                "manifest.debuggable",
                'android:debuggable="true": any computer on USB can attach a debugger and read '
                "the app's data (a development build, never a store release).",
            )
        )
    if facts.uses_cleartext_traffic:
        out.append(
            _factor(
                "manifest.cleartext",
                'android:usesCleartextTraffic="true": the app may send data over unencrypted HTTP.',
            )
        )

    out.extend(_signing_factors(facts))

    target = facts.target_sdk if facts.target_sdk is not None else (facts.min_sdk or 1)
    if target < RUNTIME_PERMISSIONS_SDK:
        declared = "" if facts.target_sdk is not None else " (not declared, so minSdk applies)"
        out.append(
            _factor(
                "sdk.old-target",
                f"Targets API level {target}{declared}, below 23: dangerous permissions are "
                "granted at install time without runtime prompts.",
            )
        )
    return out


def _signing_factors(facts: ApkFacts) -> list[RiskFactor]:
    if not facts.signers:
        return [
            _factor(
                "signer.none",
                "The APK is not signed: it cannot come from any store and Android refuses to "
                "install it as it is.",
            )
        ]
    out: list[RiskFactor] = []
    debug = [s for s in facts.signers if s.debug]
    if debug:
        out.append(
            _factor(
                "signer.debug",
                f"Signed with the Android SDK debug certificate ({debug[0].subject}, SHA-256 "
                f"{debug[0].sha256[:16]}…): a development build anyone can re-sign.",
            )
        )
    target = facts.target_sdk or 0
    if set(facts.signature_schemes) <= {"v1"} and target >= MODERN_TARGET_SDK:
        out.append(
            _factor(
                "signer.v1-only",
                f"Only JAR (v1) signing although it targets API level {target}: Android 11+ "
                "requires v2/v3 for such apps, and v1 alone leaves parts of the APK unprotected.",
            )
        )
    return out


def _score(factors: Iterable[RiskFactor]) -> int:
    return max(0, min(MAX_SCORE, sum(f.weight for f in factors)))


def _kind(score: int) -> AppVerdictKind:
    if score >= MALICIOUS_AT:
        return AppVerdictKind.MALICIOUS
    if score >= UNWANTED_AT:
        return AppVerdictKind.POTENTIALLY_UNWANTED
    return AppVerdictKind.CLEAN


def _confidence(kind: AppVerdictKind, factors: Sequence[RiskFactor]) -> str:
    if any(isinstance(f, YaraFactor) and f.severity == "high" and f.weight > 0 for f in factors):
        return "high"
    if kind in (AppVerdictKind.MALICIOUS, AppVerdictKind.POTENTIALLY_UNWANTED):
        return "medium"
    return "low"


def verdict_from_factors(
    factors: Sequence[RiskFactor], *, facts: ApkFacts | None = None
) -> ApkVerdict:
    """Score, verdict and confidence of a list of factors (no indicator involved)."""
    score = _score(factors)
    kind = _kind(score)
    return ApkVerdict(kind, score, _confidence(kind, factors), tuple(factors), facts=facts)


def static_verdict(facts: ApkFacts, yara_factors: Sequence[RiskFactor]) -> ApkVerdict:
    """The verdict on one APK from its manifest, its signature and the YARA hits in its code."""
    return verdict_from_factors([*static_factors(facts), *yara_factors], facts=facts)


def judge_app(
    *,
    static: ApkVerdict | None,
    reputation: AppReputation | None,
    install_source: InstallSource | None,
) -> ApkVerdict:
    """The verdict on an app on a device: the cached static verdict of its APK (None when the
    server has none), the app indicators that matched it, and how it was installed.

    An indicator's action decides first (Allow > Block > Warn, as `AppReputation.decision`
    chose); Audit only records; without an indicator the factors add up as in `static_verdict`.
    An unparseable static verdict stays unparseable unless an indicator decides.
    """
    facts = static.facts if static is not None else None
    base: list[RiskFactor] = list(static.factors) if static is not None else []
    if install_source is InstallSource.SIDELOADED:
        base.append(
            _factor(
                "install.sideloaded",
                "Installed from outside an app store and outside the MDM (sideloaded).",
            )
        )
    decision = reputation.decision if reputation is not None else None
    action = decision.action if decision is not None else None
    reason = decision.reason.rstrip(". ") if decision is not None else ""
    unparseable = static is not None and static.verdict is AppVerdictKind.UNPARSEABLE
    if unparseable and action in (
        IndicatorAction.ALLOW,
        IndicatorAction.BLOCK,
        IndicatorAction.WARN,
    ):
        assert static is not None
        base.insert(
            0, _factor("apk.unparseable", f"The APK could not be analysed: {static.problem}")
        )

    if decision is not None and action is IndicatorAction.ALLOW:
        overridden = sum(1 for f in base if f.weight > 0)
        note = f"; {overridden} risk factor(s) overridden" if overridden else ""
        allow = _factor("indicator.allow", f"Allowed by the administrator: {reason}{note}.")
        kept = [f for f in base if f.weight == 0]
        return ApkVerdict(AppVerdictKind.CLEAN, 0, "high", (allow, *kept), facts=facts)
    if decision is not None and action is IndicatorAction.BLOCK:
        block = _factor("indicator.block", f"Blocked by app indicator: {reason}.")
        return ApkVerdict(AppVerdictKind.MALICIOUS, MAX_SCORE, "high", (block, *base), facts=facts)
    if decision is not None and action is IndicatorAction.WARN:
        warn = _factor("indicator.warn", f"Flagged by app indicator (Warn): {reason}.")
        factors = [warn, *base]
        score = _score(factors)
        return ApkVerdict(_kind(score), score, "high", tuple(factors), facts=facts)

    audits = [
        _factor("indicator.audit", f"Recorded by app indicator (Audit): {m.reason.rstrip('. ')}.")
        for m in (reputation.matches if reputation is not None else ())
        if m.action is IndicatorAction.AUDIT
    ]
    factors = [*base, *audits]
    if unparseable:
        assert static is not None
        return replace(static, factors=tuple(factors))
    return verdict_from_factors(factors, facts=facts)
