"""The simulated collector: one profile per supported scenario, deterministic, realistic facts."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openmtd.agent.collectors import simulated
from openmtd.agent.collectors.simulated import (
    EARLIEST_TODAY,
    PROFILES,
    SimulatedDevice,
    simulate,
    simulate_fleet,
    with_changes,
)
from openmtd.domain.enums import EnrollmentScenario, InstallSource, Platform
from openmtd.enrollment.scenarios import SCENARIOS, supported_scenarios

TODAY = date(2026, 11, 26)
HEX32 = re.compile(r"[0-9a-f]{32}")
HEX64 = re.compile(r"[0-9a-f]{64}")
PIXEL_BUILD = re.compile(r"[A-Z]{2}\d[A-Z]\.(\d{6})\.\d{3}(\.A1)?")
SAMSUNG_BUILD = re.compile(r"([AS]\d{3}[A-Z])XX[SU]\d[A-Z]([A-Z])([A-L])\d")
AOSP_BUILD = re.compile(r"[A-Z][A-Z0-9]{3}\.\d{6}\.\d{3}")
IOS_BUILD = re.compile(r"\d{2}[A-H]\d{2,4}")
IPHONE_MODEL = re.compile(r"iPhone .+ \(iPhone\d{2},\d\)")
NAME = re.compile(r"(.+) of [a-z]\.\w+")
#: First month each Android major version reached any device (Pixels).
ANDROID_RELEASED = {12: date(2021, 10, 1), 13: date(2022, 8, 1), 14: date(2023, 10, 1),
                    15: date(2024, 10, 1), 16: date(2025, 6, 1)}  # fmt: skip

PERSONAL_APPS = {a.identifier for a in simulated._ANDROID_PERSONAL + simulated._IOS_PERSONAL}
WORK_APPS = {a.identifier for a in simulated._ANDROID_WORK + simulated._IOS_WORK}
PORTALS = {simulated._ANDROID_PORTAL.identifier, simulated._IOS_PORTAL.identifier}
LOB = re.compile(r"com\.(" + "|".join(org for org, _ in simulated._LOB_ORGS) + r")\.")
S = EnrollmentScenario
MANAGED_APPS_ONLY = {S.ANDROID_MAM, S.IOS_MAM, S.IOS_USER_ENROLLMENT}
WORK_PROFILE_ONLY = {S.ANDROID_WORK_PROFILE, S.ANDROID_COPE}


def months_before(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def check_invariants(device: SimulatedDevice, today: date) -> None:
    """Everything that must hold for any simulated device on `today`."""
    facts = device.facts
    scenario = PROFILES[device.profile]
    assert facts.scenario is scenario
    assert facts.platform is SCENARIOS[scenario].platform
    assert HEX32.fullmatch(device.hardware_id)
    name = NAME.fullmatch(device.name)
    assert name is not None and name.group(1) in facts.model, device.name
    assert len(facts.tags) <= 2 and all(tag.islower() for tag in facts.tags)
    assert device.integrity_signals  # a clean device: benign values only
    identifiers = [app.identifier for app in facts.apps]
    assert identifiers == sorted(set(identifiers)), "apps are unique and sorted"
    assert all(app.version and app.name for app in facts.apps)

    if facts.platform is Platform.ANDROID:
        major = int(facts.os_version)
        assert 12 <= major <= 16
        patch = facts.security_patch_level
        assert patch is not None
        assert months_before(today, 18) <= patch <= today, (patch, today)
        assert patch.day in (1, 5)
        assert patch >= ANDROID_RELEASED[major], (major, patch)
        assert facts.manufacturer in {"Google", "samsung", "motorola", "Xiaomi", "OnePlus"}
        if facts.manufacturer == "Google":
            build = PIXEL_BUILD.fullmatch(facts.build)
            assert build is not None, facts.build
            assert build.group(1) == f"{patch:%y%m}05"
        elif facts.manufacturer == "samsung":
            build = SAMSUNG_BUILD.fullmatch(facts.build)
            assert build is not None, facts.build
            assert f"SM-{build.group(1)}" in facts.model
            assert "ABCDEFGHIJKL".index(build.group(3)) + 1 == patch.month
        else:
            assert AOSP_BUILD.fullmatch(facts.build), facts.build
        for app in facts.apps:
            assert app.sha256 is not None and HEX64.fullmatch(app.sha256)
            assert app.signer_sha256 is not None and HEX64.fullmatch(app.signer_sha256)
        assert ("verified_boot_state", "green") in [
            (s.name, s.value) for s in device.integrity_signals
        ]
    else:
        assert facts.manufacturer == "Apple"
        assert facts.security_patch_level is None
        version = tuple(int(part) for part in facts.os_version.split("."))
        assert version[0] in (17, 18, 26) and 2 <= len(version) <= 3
        assert IPHONE_MODEL.fullmatch(facts.model), facts.model
        assert IOS_BUILD.fullmatch(facts.build), facts.build
        assert all(app.sha256 is None for app in facts.apps)
        assert all(app.install_source is not InstallSource.SYSTEM for app in facts.apps)
        assert ("fork_allowed", "false") in [(s.name, s.value) for s in device.integrity_signals]

    sources = {app.install_source for app in facts.apps}
    if scenario in MANAGED_APPS_ONLY:
        for ident in identifiers:
            assert ident in WORK_APPS or ident in PORTALS or LOB.match(ident), ident
    if scenario in WORK_PROFILE_ONLY:
        assert not PERSONAL_APPS.intersection(identifiers)
    if scenario is S.ANDROID_PERSONAL_PROFILE:
        assert not WORK_APPS.intersection(identifiers)
    if scenario not in {S.ANDROID_PERSONAL_PROFILE, S.ANDROID_DEVICE_ADMIN}:
        assert InstallSource.SIDELOADED not in sources
    if scenario in {S.ANDROID_WORK_PROFILE, S.ANDROID_PERSONAL_PROFILE, S.ANDROID_MAM, S.IOS_MAM}:
        assert InstallSource.MANAGED not in sources


def test_one_profile_per_supported_scenario_and_none_for_the_others() -> None:
    assert set(PROFILES) == {spec.scenario.value for spec in supported_scenarios()}
    assert all(PROFILES[name].value == name for name in PROFILES)
    for spec in SCENARIOS.values():
        assert (spec.scenario.value in PROFILES) is spec.supported


@pytest.mark.parametrize("profile", ["android-cosu", "ios-shared", "android-aosp", "windows"])
def test_unknown_or_unsupported_profile_is_refused_naming_the_known_ones(profile: str) -> None:
    with pytest.raises(ValueError, match="known profiles") as caught:
        simulate(profile, seed=1, today=TODAY)
    message = str(caught.value)
    assert repr(profile) in message
    assert all(name in message for name in PROFILES)
    with pytest.raises(ValueError, match=re.escape(profile)):
        next(simulate_fleet(3, seed=1, today=TODAY, profiles=["ios-supervised", profile]))


def test_unsupported_scenario_error_says_why() -> None:
    with pytest.raises(ValueError, match="not supported: dedicated, kiosk"):
        simulate("android-cosu", seed=1, today=TODAY)


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_every_profile_gives_consistent_facts(profile: str) -> None:
    for seed in range(25):
        check_invariants(simulate(profile, seed=seed, today=TODAY), TODAY)


def test_simulation_is_deterministic() -> None:
    for profile in PROFILES:
        assert simulate(profile, seed=42, today=TODAY) == simulate(profile, seed=42, today=TODAY)
    one = list(simulate_fleet(30, seed=9, today=TODAY, apps_per_device=12))
    assert one == list(simulate_fleet(30, seed=9, today=TODAY, apps_per_device=12))
    device = one[0]
    assert with_changes(device, rng_seed=3) == with_changes(device, rng_seed=3)


def test_seeds_and_profiles_give_distinct_hardware_ids() -> None:
    ids = {simulate("android-cobo", seed=seed, today=TODAY).hardware_id for seed in range(200)}
    assert len(ids) == 200
    assert (
        simulate("ios-mam", seed=1, today=TODAY).hardware_id
        != simulate("android-mam", seed=1, today=TODAY).hardware_id
    )
    fleet = list(simulate_fleet(1000, seed=5, today=TODAY))
    assert len({d.hardware_id for d in fleet}) == 1000
    assert len({d.name for d in fleet}) > 500


def test_hardware_id_stays_when_only_the_date_moves() -> None:
    early = simulate("ios-supervised", seed=11, today=date(2025, 1, 10))
    late = simulate("ios-supervised", seed=11, today=TODAY)
    assert early.hardware_id == late.hardware_id


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_apps_per_device_forces_an_exact_inventory(profile: str) -> None:
    for seed in range(3):
        device = simulate(profile, seed=seed, today=TODAY, apps_per_device=80)
        identifiers = {app.identifier for app in device.facts.apps}
        assert len(device.facts.apps) == len(identifiers) == 80
        check_invariants(device, TODAY)
    for count in (0, 1, 7):
        assert (
            len(simulate(profile, seed=1, today=TODAY, apps_per_device=count).facts.apps) == count
        )


def test_benchmark_fleet_has_exactly_80_apps_per_device() -> None:
    fleet = list(simulate_fleet(len(PROFILES) * 4, seed=1, today=TODAY, apps_per_device=80))
    for device in fleet:
        assert len({app.identifier for app in device.facts.apps}) == 80
    # In-house apps are shared across the fleet, as an organisation's own apps are.
    lob = Counter(a.identifier for d in fleet for a in d.facts.apps if LOB.match(a.identifier))
    assert lob.most_common(1)[0][1] > 1
    assert any(ident.startswith("com.contoso.") for ident in lob)


def test_fleet_cycles_profiles_and_members_can_be_rebuilt() -> None:
    names = ["android-work-profile", "ios-user-enrollment"]
    fleet = list(simulate_fleet(5, seed=3, today=TODAY, profiles=names))
    assert [d.profile for d in fleet] == names * 2 + names[:1]
    assert fleet[3] == simulate(names[1], seed=3 * 2**32 + 3, today=TODAY)
    everyone = list(simulate_fleet(len(PROFILES), seed=0, today=TODAY))
    assert {d.profile for d in everyone} == set(PROFILES)


def test_fleet_arguments_are_checked_before_the_first_device() -> None:
    with pytest.raises(ValueError, match="count"):
        simulate_fleet(-1, seed=1, today=TODAY)
    with pytest.raises(ValueError, match="at least one profile"):
        simulate_fleet(1, seed=1, today=TODAY, profiles=[])
    with pytest.raises(ValueError, match="apps_per_device"):
        simulate_fleet(1, seed=1, today=TODAY, apps_per_device=-1)
    with pytest.raises(ValueError, match="2024-01-01"):
        simulate("ios-mam", seed=1, today=date(2023, 6, 1))


def test_one_app_has_one_hash_across_the_fleet() -> None:
    by_version: dict[tuple[str, str], set[str | None]] = {}
    signers: dict[str, set[str | None]] = {}
    for device in simulate_fleet(300, seed=2, today=TODAY):
        if device.facts.platform is Platform.ANDROID:
            for app in device.facts.apps:
                by_version.setdefault((app.identifier, app.version), set()).add(app.sha256)
                signers.setdefault(app.identifier, set()).add(app.signer_sha256)
    assert by_version and all(len(hashes) == 1 for hashes in by_version.values())
    assert all(len(keys) == 1 for keys in signers.values())
    microsoft = {signers[i].pop() for i in signers if i.startswith("com.microsoft.")}
    assert len(microsoft) == 1  # one publisher, one signing key


def test_a_fleet_looks_like_a_fleet() -> None:
    fleet = list(simulate_fleet(600, seed=8, today=TODAY))
    android = [d.facts for d in fleet if d.facts.platform is Platform.ANDROID]
    ios = [d.facts for d in fleet if d.facts.platform is Platform.IOS]
    assert len({f.manufacturer for f in android}) == 5
    assert len({f.os_version for f in android}) >= 2
    assert len({f.os_version for f in ios}) >= 4
    assert len({d.facts.model for d in fleet}) > 40
    sources = Counter(a.install_source for f in android for a in f.apps)
    assert sources[InstallSource.STORE] > sources[InstallSource.MANAGED] > 0
    assert sources[InstallSource.SYSTEM] > 0 and sources[InstallSource.SIDELOADED] > 0
    assert sources[InstallSource.SIDELOADED] < sources[InstallSource.STORE] / 20
    assert any(d.facts.tags == () for d in fleet) and any(len(d.facts.tags) == 2 for d in fleet)
    # The scenario decides what the agent sees.
    mam = [f for f in android if f.scenario is S.ANDROID_MAM]
    personal = [f for f in android if f.scenario is S.ANDROID_PERSONAL_PROFILE]
    assert max(len(f.apps) for f in mam) < min(len(f.apps) for f in personal)
    whatsapp = [any(a.identifier == "com.whatsapp" for a in f.apps) for f in personal]
    assert any(whatsapp) and not all(whatsapp)


@pytest.mark.parametrize(
    ("today", "ios_major", "android_major", "unreleased"),
    [
        (date(2024, 1, 1), 17, 14, ("iPhone 16", "iPhone 17", "Pixel 9", "Pixel 10", "S25")),
        (date(2025, 6, 3), 18, 16, ("iPhone 17", "iPhone Air", "Pixel 10")),
        (date(2025, 9, 14), 18, 16, ("iPhone 17", "iPhone Air")),
    ],
)
def test_nothing_comes_from_the_future(
    today: date, ios_major: int, android_major: int, unreleased: tuple[str, ...]
) -> None:
    for device in simulate_fleet(300, seed=4, today=today):
        check_invariants(device, today)
        facts = device.facts
        if facts.platform is Platform.IOS:
            assert int(facts.os_version.split(".")[0]) <= ios_major
        else:
            assert int(facts.os_version) <= android_major
        assert not any(name in facts.model for name in unreleased), facts.model


def test_with_changes_is_a_later_check_in_of_the_same_device() -> None:
    for profile in PROFILES:
        device = simulate(profile, seed=6, today=TODAY)
        for rng_seed in range(10):
            later = with_changes(device, rng_seed=rng_seed)
            assert later.hardware_id == device.hardware_id
            assert later.name == device.name and later.profile == device.profile
            assert later.facts.model == device.facts.model
            assert later.facts.os_version == device.facts.os_version
            assert later.facts.apps != device.facts.apps
            assert abs(len(later.facts.apps) - len(device.facts.apps)) <= 3
            check_invariants(later, TODAY)


def test_with_changes_bumps_versions_and_rehashes() -> None:
    device = simulate("android-cobo", seed=1, today=TODAY)
    before = {a.identifier: a for a in device.facts.apps}
    updated = 0
    for rng_seed in range(40):
        for app in with_changes(device, rng_seed=rng_seed).facts.apps:
            old = before.get(app.identifier)
            if old is not None and old.version != app.version:
                updated += 1
                assert app.sha256 != old.sha256 and app.signer_sha256 == old.signer_sha256
                assert app.install_source is old.install_source
    assert updated > 10


def test_with_changes_works_on_an_empty_inventory() -> None:
    empty = simulate("ios-mam", seed=1, today=TODAY, apps_per_device=0)
    assert len(with_changes(empty, rng_seed=1).facts.apps) >= 1


def test_version_bump_keeps_the_format() -> None:
    assert simulated._bump("2.24.15.78") == "2.24.15.79"
    assert simulated._bump("messages.android_20240812_00_RC09.phone") == (
        "messages.android_20240812_00_RC10.phone"
    )
    assert simulated._bump("242.20 - Stable") == "242.21 - Stable"
    assert simulated._bump("1416/1.0.0.2024071501") == "1416/1.0.0.2024071502"


def test_tables_are_consistent() -> None:
    for model in simulated._ANDROID_MODELS:
        assert ANDROID_RELEASED[model.launch_os] <= model.launched
        assert model.launch_os <= model.last_os
        assert (model.manufacturer == "samsung") == model.code.startswith("SM-")
    releases = simulated._IOS_RELEASES
    assert len({r.version for r in releases}) == len(releases)
    assert len({r.build for r in releases}) == len(releases)
    for phone in simulated._IPHONES:
        shipped = [r for r in releases if r.key >= phone.min_ios and r.released <= phone.launched]
        assert shipped or phone.min_ios == (0,), phone


@settings(max_examples=150, deadline=None, database=None)
@given(
    profile=st.sampled_from(sorted(PROFILES)),
    seed=st.integers(min_value=-(2**63), max_value=2**63),
    today=st.dates(min_value=EARLIEST_TODAY, max_value=date(2031, 12, 31)),
    apps=st.none() | st.integers(min_value=0, max_value=120),
    rng_seed=st.integers(min_value=0, max_value=2**32),
)
def test_invariants_hold_for_any_seed_and_date(
    profile: str, seed: int, today: date, apps: int | None, rng_seed: int
) -> None:
    device = simulate(profile, seed=seed, today=today, apps_per_device=apps)
    check_invariants(device, today)
    if apps is not None:
        assert len(device.facts.apps) == apps
    later = with_changes(device, rng_seed=rng_seed)
    check_invariants(later, today)
    assert later.hardware_id == device.hardware_id and later.facts.apps != device.facts.apps


def test_personal_profile_lives_on_the_work_profile_phone_of_the_same_seed() -> None:
    work = simulate("android-work-profile", seed=7, today=TODAY)
    personal = simulate("android-personal-profile", seed=7, today=TODAY)
    assert personal.hardware_id == work.hardware_id
    assert personal.name == work.name
    for attr in ("model", "manufacturer", "os_version", "security_patch_level", "build"):
        assert getattr(personal.facts, attr) == getattr(work.facts, attr)
    assert personal.facts.apps != work.facts.apps
    # Maker-specific system apps come from the phone's own maker.
    if work.facts.manufacturer != "samsung":
        assert not any(a.identifier.startswith("com.sec.") for a in personal.facts.apps)
