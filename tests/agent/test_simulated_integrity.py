"""Compromised signal sets for simulated devices, judged by the real integrity engine."""

from __future__ import annotations

from datetime import date

import pytest

from openmtd.agent.collectors import simulated_integrity
from openmtd.agent.collectors.simulated import simulate
from openmtd.agent.collectors.simulated_integrity import (
    apply,
    jailbroken_ios_signals,
    rooted_android_signals,
    suspicious_android_signals,
)
from openmtd.domain.device import IntegritySignal
from openmtd.domain.enums import Platform
from openmtd.domain.integrity import IntegrityState
from openmtd.engines.integrity import signals as signals_module
from openmtd.engines.integrity.signals import evaluate_signals
from openmtd.engines.integrity.verdict import combine

TODAY = date(2026, 11, 26)


def test_rooted_android_is_compromised_by_magisk_and_the_boot_chain() -> None:
    findings = evaluate_signals(Platform.ANDROID, rooted_android_signals())
    verdict = combine(findings)
    assert verdict.state is IntegrityState.COMPROMISED
    assert {
        "android.su_binary",
        "android.magisk",
        "android.boot_unlocked",
        "android.bootloader_unlocked",
    } <= {f.rule_id for f in findings}


def test_jailbroken_ios_is_compromised_by_the_rootless_jailbreak() -> None:
    findings = evaluate_signals(Platform.IOS, jailbroken_ios_signals())
    assert combine(findings).state is IntegrityState.COMPROMISED
    assert {"ios.jailbreak_file", "ios.jailbreak_store", "ios.tweak_injection"} <= {
        f.rule_id for f in findings
    }
    assert "ios.fork_allowed" not in {f.rule_id for f in findings}  # rootless keeps the sandbox


def test_suspicious_android_is_suspicious_and_nothing_more() -> None:
    findings = evaluate_signals(Platform.ANDROID, suspicious_android_signals())
    verdict = combine(findings)
    assert verdict.state is IntegrityState.SUSPICIOUS
    assert not any(f.conclusive for f in findings)
    assert {"android.debuggable", "android.debug_build"} <= {f.rule_id for f in findings}


@pytest.mark.parametrize(
    "signals", [rooted_android_signals(), jailbroken_ios_signals(), suspicious_android_signals()]
)
def test_every_name_is_in_the_engines_vocabulary(signals: tuple[IntegritySignal, ...]) -> None:
    vocabulary = {*signals_module._ANDROID_CHECKS, *signals_module._IOS_CHECKS}
    for signal in signals:
        assert signal.name in vocabulary
        assert isinstance(signal.value, str)
    assert len({s.name for s in signals}) == len(signals), "each name once, like the agent"


def test_sets_are_fresh_tuples_each_call() -> None:
    assert rooted_android_signals() == rooted_android_signals()
    assert isinstance(rooted_android_signals(), tuple)


@pytest.mark.parametrize(
    ("profile", "make", "state"),
    [
        ("android-work-profile", rooted_android_signals, IntegrityState.COMPROMISED),
        ("android-cobo", suspicious_android_signals, IntegrityState.SUSPICIOUS),
        ("ios-supervised", jailbroken_ios_signals, IntegrityState.COMPROMISED),
    ],
)
def test_apply_replaces_the_devices_signals(
    profile: str, make: object, state: IntegrityState
) -> None:
    assert callable(make)
    device = simulate(profile, seed=3, today=TODAY)
    before = combine(evaluate_signals(device.facts.platform, device.integrity_signals))
    assert before.state is IntegrityState.CLEAN
    changed = apply(device, make())
    assert changed.integrity_signals == make()
    assert changed.facts == device.facts
    assert (changed.hardware_id, changed.name, changed.profile) == (
        device.hardware_id,
        device.name,
        device.profile,
    )
    assert device.integrity_signals != changed.integrity_signals  # the original is untouched
    after = combine(evaluate_signals(changed.facts.platform, changed.integrity_signals))
    assert after.state is state


def test_apply_takes_any_iterable() -> None:
    device = simulate("android-work-profile", seed=1, today=TODAY)
    changed = apply(device, iter(rooted_android_signals()))
    assert changed.integrity_signals == rooted_android_signals()
    assert apply(changed, []).integrity_signals == ()


def test_module_documents_each_set() -> None:
    doc = simulated_integrity.__doc__ or ""
    for name in simulated_integrity.__all__:
        if name != "apply":
            assert name in doc
