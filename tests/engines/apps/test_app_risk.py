"""Risk factors and verdicts on manifests we describe directly (no APK needed)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from openmtd.domain.apps import (
    ApkFacts,
    ApkVerdict,
    AppMatch,
    AppReputation,
    AppVerdictKind,
    Component,
    ComponentKind,
    RiskFactor,
    SigningCertificate,
)
from openmtd.domain.enums import InstallSource
from openmtd.domain.web import IndicatorAction, IndicatorMeta, IndicatorType, MatchKind
from openmtd.engines.apps.risk import (
    WEIGHTS,
    YaraFactor,
    judge_app,
    static_factors,
    static_verdict,
)

P = "android.permission."
LAUNCHER = Component(
    ComponentKind.ACTIVITY,
    "com.example.app.MainActivity",
    True,
    actions=("android.intent.action.MAIN",),
    categories=("android.intent.category.LAUNCHER",),
)
A11Y = Component(
    ComponentKind.SERVICE,
    "com.example.app.HelperService",
    True,
    permission=P + "BIND_ACCESSIBILITY_SERVICE",
    actions=("android.accessibilityservice.AccessibilityService",),
)
BOOT = Component(
    ComponentKind.RECEIVER,
    "com.example.app.Boot",
    True,
    actions=("android.intent.action.BOOT_COMPLETED",),
)
ADMIN = Component(
    ComponentKind.RECEIVER,
    "com.example.app.Admin",
    True,
    permission=P + "BIND_DEVICE_ADMIN",
    actions=("android.app.action.DEVICE_ADMIN_ENABLED",),
)
SIGNER = SigningCertificate(
    sha256="ab" * 32,
    sha1="cd" * 20,
    md5="ef" * 16,
    subject="CN=Example Corp,O=Example,C=DE",
    issuer="CN=Example Corp,O=Example,C=DE",
    not_before="2024-01-01T00:00:00+00:00",
    not_after="2054-01-01T00:00:00+00:00",
    schemes=("v2", "v3"),
    debug=False,
)


def facts(
    *permissions: str, components: tuple[Component, ...] = (LAUNCHER,), **changes: object
) -> ApkFacts:
    base = ApkFacts(
        sha256="00" * 32,
        sha1="11" * 20,
        md5="22" * 16,
        size=1234,
        package="com.example.app",
        version_code=1,
        version_name="1.0",
        min_sdk=24,
        target_sdk=34,
        label="Example",
        permissions=tuple(P + p for p in permissions),
        components=components,
        debuggable=False,
        allow_backup=None,
        uses_cleartext_traffic=None,
        network_security_config="",
        has_launcher=any(c is LAUNCHER for c in components),
        signers=(SIGNER,),
        signature_schemes=("v2", "v3"),
        dex_files=("classes.dex",),
        native_libraries=(),
        entry_count=5,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def ids(factors: list[RiskFactor] | tuple[RiskFactor, ...]) -> list[str]:
    return [f.id for f in factors]


def test_ordinary_camera_app_is_clean_without_factors() -> None:
    v = static_verdict(facts("INTERNET", "CAMERA"), [])
    assert v.verdict is AppVerdictKind.CLEAN
    assert v.score == 0 and v.factors == () and v.confidence == "low"
    assert v.facts is not None and v.facts.package == "com.example.app"


def test_lone_accessibility_service_is_explained_but_clean() -> None:
    v = static_verdict(facts("INTERNET", components=(LAUNCHER, A11Y)), [])
    assert ids(v.factors) == ["perm.accessibility"]
    assert "com.example.app.HelperService" in v.factors[0].explanation
    assert v.verdict is AppVerdictKind.CLEAN


def test_banking_trojan_triad_replaces_its_parts_and_is_unwanted() -> None:
    f = facts("SYSTEM_ALERT_WINDOW", "RECEIVE_SMS", "READ_SMS", components=(LAUNCHER, A11Y))
    v = static_verdict(f, [])
    assert ids(v.factors) == ["perm.accessibility-overlay-sms"]
    text = v.factors[0].explanation
    for name in ("HelperService", "SYSTEM_ALERT_WINDOW", "RECEIVE_SMS", "READ_SMS"):
        assert name in text
    assert v.verdict is AppVerdictKind.POTENTIALLY_UNWANTED
    assert v.confidence == "medium"


def test_triad_with_hidden_launcher_is_malicious() -> None:
    f = facts("SYSTEM_ALERT_WINDOW", "SEND_SMS", "RECEIVE_BOOT_COMPLETED", components=(A11Y, BOOT))
    v = static_verdict(f, [])
    assert ids(v.factors) == ["perm.accessibility-overlay-sms", "manifest.hidden-launcher"]
    hidden = v.factors[1].explanation
    assert "No launcher icon" in hidden and "com.example.app.Boot" in hidden
    assert "started at boot" in hidden
    assert v.verdict is AppVerdictKind.MALICIOUS and v.score == 75


def test_triad_with_a_yara_hit_is_malicious_with_the_rules_confidence() -> None:
    f = facts("SYSTEM_ALERT_WINDOW", "READ_SMS", components=(LAUNCHER, A11Y))
    medium = YaraFactor("yara.builtin.banker.x", 40, "Overlay injects.", severity="medium")
    v = static_verdict(f, [medium])
    assert v.verdict is AppVerdictKind.MALICIOUS and v.confidence == "medium"
    assert ids(v.factors)[-1] == "yara.builtin.banker.x"
    high = replace(medium, severity="high")
    assert static_verdict(f, [high]).confidence == "high"


def test_accessibility_with_overlay() -> None:
    v = static_verdict(facts("SYSTEM_ALERT_WINDOW", components=(LAUNCHER, A11Y)), [])
    assert ids(v.factors) == ["perm.accessibility-overlay"]
    assert "draw over them" in v.factors[0].explanation
    assert v.verdict is AppVerdictKind.CLEAN


def test_stalkerware_set_needs_location_three_kinds_and_boot() -> None:
    perms = ("ACCESS_FINE_LOCATION", "RECORD_AUDIO", "READ_CALL_LOG", "READ_CONTACTS")
    assert static_factors(facts(*perms)) == []  # no boot permission
    f = facts(*perms, "RECEIVE_BOOT_COMPLETED", components=(BOOT,))
    v = static_verdict(f, [])
    assert ids(v.factors) == ["perm.stalkerware-set", "manifest.hidden-launcher"]
    text = v.factors[0].explanation
    assert "ACCESS_FINE_LOCATION" in text and "microphone, call log, contacts" in text
    assert v.verdict is AppVerdictKind.POTENTIALLY_UNWANTED
    # A messenger with the same permissions and a launcher icon stays clean.
    messenger = facts(*perms, "RECEIVE_BOOT_COMPLETED", components=(LAUNCHER, BOOT))
    assert static_verdict(messenger, []).verdict is AppVerdictKind.CLEAN


def test_admin_listener_installer() -> None:
    listener = Component(
        ComponentKind.SERVICE, "com.example.app.N", True, P + "BIND_NOTIFICATION_LISTENER_SERVICE"
    )
    f = facts("REQUEST_INSTALL_PACKAGES", components=(LAUNCHER, ADMIN, listener))
    got = {x.id: x for x in static_factors(f)}
    assert set(got) == {
        "component.device-admin",
        "component.notification-listener",
        "perm.install-packages",
    }
    assert "com.example.app.Admin" in got["component.device-admin"].explanation
    assert "com.example.app.N" in got["component.notification-listener"].explanation
    assert "REQUEST_INSTALL_PACKAGES" in got["perm.install-packages"].explanation


def test_disabled_components_do_not_count() -> None:
    off = replace(A11Y, enabled=False)
    assert static_factors(facts("SYSTEM_ALERT_WINDOW", components=(LAUNCHER, off))) == []


def test_manifest_and_signing_factors() -> None:
    debug_cert = replace(SIGNER, subject="CN=Android Debug,O=Android,C=US", debug=True)
    f = facts(
        debuggable=True,
        uses_cleartext_traffic=True,
        signers=(replace(debug_cert, schemes=("v1",)),),
        signature_schemes=("v1",),
        target_sdk=33,
    )
    got = {x.id: x.explanation for x in static_factors(f)}
    assert set(got) == {
        "manifest.debuggable",
        "manifest.cleartext",
        "signer.debug",
        "signer.v1-only",
    }
    assert "CN=Android Debug" in got["signer.debug"] and "abababab" in got["signer.debug"]
    assert "API level 33" in got["signer.v1-only"]
    v = static_verdict(f, [])
    assert v.score == 40 and v.verdict is AppVerdictKind.POTENTIALLY_UNWANTED


def test_unsigned_and_old_target() -> None:
    got = {x.id: x.explanation for x in static_factors(facts(signers=(), target_sdk=19))}
    assert set(got) == {"signer.none", "sdk.old-target"}
    assert "not signed" in got["signer.none"]
    assert "API level 19" in got["sdk.old-target"]
    undeclared = static_factors(facts(target_sdk=None, min_sdk=None))
    assert "not declared" in undeclared[0].explanation and "API level 1 (" in (
        undeclared[0].explanation
    )
    assert static_factors(facts(target_sdk=23)) == []


def test_v1_only_with_old_target_is_fine() -> None:
    f = facts(signature_schemes=("v1",), target_sdk=29)
    assert static_factors(f) == []


def test_score_is_capped() -> None:
    heavy = [YaraFactor(f"yara.t.r{i}", 60, "x", "low") for i in range(3)]
    v = static_verdict(facts(), heavy)
    assert v.score == 100 and v.verdict is AppVerdictKind.MALICIOUS


# --- judge_app ----------------------------------------------------------------------------------


def reputation(
    action: IndicatorAction, reason: str = "package com.evil is on feed 'x'."
) -> AppReputation:
    meta = IndicatorMeta(kind=MatchKind.FEED, source="x", action=action)
    match = AppMatch(meta, IndicatorType.PACKAGE, "com.evil", reason)
    return AppReputation(decision=match, matches=(match,))


TRIAD = static_verdict(facts("SYSTEM_ALERT_WINDOW", "READ_SMS", components=(LAUNCHER, A11Y)), [])
BROKEN = ApkVerdict(AppVerdictKind.UNPARSEABLE, 0, "high", problem="not a ZIP archive")


def test_block_indicator_decides() -> None:
    clean = static_verdict(facts(), [])
    v = judge_app(static=clean, reputation=reputation(IndicatorAction.BLOCK), install_source=None)
    assert v.verdict is AppVerdictKind.MALICIOUS and v.score == 100 and v.confidence == "high"
    assert v.factors[0].id == "indicator.block"
    assert v.factors[0].explanation == "Blocked by app indicator: package com.evil is on feed 'x'."
    assert v.facts == clean.facts


def test_warn_is_at_least_unwanted_and_adds_to_heuristics() -> None:
    warn = reputation(IndicatorAction.WARN)
    alone = judge_app(static=None, reputation=warn, install_source=InstallSource.STORE)
    assert alone.verdict is AppVerdictKind.POTENTIALLY_UNWANTED and alone.confidence == "high"
    assert "(Warn)" in alone.reasons[0]
    both = judge_app(static=TRIAD, reputation=warn, install_source=None)
    assert both.verdict is AppVerdictKind.MALICIOUS
    assert ids(both.factors) == ["indicator.warn", "perm.accessibility-overlay-sms"]


def test_audit_records_without_changing_the_verdict() -> None:
    v = judge_app(static=TRIAD, reputation=reputation(IndicatorAction.AUDIT), install_source=None)
    assert v.verdict is TRIAD.verdict and v.score == TRIAD.score
    assert v.factors[-1].id == "indicator.audit" and v.factors[-1].weight == 0
    assert "com.evil" in v.factors[-1].explanation


def test_allow_overrides_heuristics_and_yara() -> None:
    bad = static_verdict(
        facts("SYSTEM_ALERT_WINDOW", "READ_SMS", components=(A11Y, BOOT)),
        [YaraFactor("yara.b.r", 40, "x", "high")],
    )
    assert bad.verdict is AppVerdictKind.MALICIOUS
    v = judge_app(
        static=bad,
        reputation=reputation(IndicatorAction.ALLOW, "package com.evil is allowed by #3"),
        install_source=InstallSource.SIDELOADED,
    )
    assert v.verdict is AppVerdictKind.CLEAN and v.score == 0 and v.confidence == "high"
    assert ids(v.factors) == ["indicator.allow"]
    assert v.reasons == (
        "Allowed by the administrator: package com.evil is allowed by #3; "
        "4 risk factor(s) overridden.",
    )


@pytest.mark.parametrize(
    ("source", "added"),
    [
        (InstallSource.SIDELOADED, ["install.sideloaded"]),
        (InstallSource.STORE, []),
        (InstallSource.MANAGED, []),
        (InstallSource.SYSTEM, []),
        (None, []),
    ],
)
def test_install_source(source: InstallSource | None, added: list[str]) -> None:
    v = judge_app(static=TRIAD, reputation=None, install_source=source)
    assert ids(v.factors) == [*ids(TRIAD.factors), *added]
    assert v.score == TRIAD.score + sum(WEIGHTS[a] for a in added)


def test_no_apk_no_indicator() -> None:
    v = judge_app(static=None, reputation=None, install_source=InstallSource.SIDELOADED)
    assert v.verdict is AppVerdictKind.CLEAN and v.score == 10 and v.confidence == "low"
    assert v.reasons == ("Installed from outside an app store and outside the MDM (sideloaded).",)
    assert v.facts is None
    empty = AppReputation(decision=None)
    assert judge_app(static=None, reputation=empty, install_source=None).factors == ()


def test_unparseable_carries_through_unless_an_indicator_decides() -> None:
    v = judge_app(static=BROKEN, reputation=None, install_source=InstallSource.SIDELOADED)
    assert v.verdict is AppVerdictKind.UNPARSEABLE and v.reasons == ("not a ZIP archive",)
    assert ids(v.factors) == ["install.sideloaded"]
    audited = judge_app(
        static=BROKEN, reputation=reputation(IndicatorAction.AUDIT), install_source=None
    )
    assert audited.verdict is AppVerdictKind.UNPARSEABLE
    blocked = judge_app(
        static=BROKEN, reputation=reputation(IndicatorAction.BLOCK), install_source=None
    )
    assert blocked.verdict is AppVerdictKind.MALICIOUS and blocked.problem == ""
    assert ids(blocked.factors) == ["indicator.block", "apk.unparseable"]
    assert "not a ZIP archive" in blocked.factors[1].explanation
    allowed = judge_app(
        static=BROKEN, reputation=reputation(IndicatorAction.ALLOW), install_source=None
    )
    assert allowed.verdict is AppVerdictKind.CLEAN
    assert ids(allowed.factors) == ["indicator.allow", "apk.unparseable"]
