"""Enrollment decisions on the device: zero-touch silent, low-touch once, manual per step."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from conftest import Api
from openmtd.agent import state as agent_state
from openmtd.agent.collectors.simulated import simulate
from openmtd.agent.onboarding import (
    EnrollmentDeclined,
    Onboarded,
    OnboardingError,
    onboard,
    plan_from_managed_config,
    plan_from_options,
    questions,
)
from openmtd.cli.serve import ServerThread
from openmtd.domain.enums import EnrollmentScenario, OnboardingMode, ProtectionScope
from openmtd.engines.privacy import PrivacySettings, default_privacy
from openmtd.server.onboarding.service import render_managed_config
from openmtd.server.schemas import ManagedConfigRequest

TODAY = date(2026, 11, 26)


class Answers:
    """A scripted user: records every question, answers from a list (default yes)."""

    def __init__(self, *answers: bool) -> None:
        self.answers = list(answers)
        self.asked: list[str] = []

    def __call__(self, question: str) -> bool:
        self.asked.append(question)
        return self.answers.pop(0) if self.answers else True


@pytest.fixture
def server(app: Any) -> Iterator[ServerThread]:
    with ServerThread() as srv:
        srv.start(app)
        yield srv


def managed_file(server: ServerThread, token: str, scenario: str, **privacy: bool) -> bytes:
    request = ManagedConfigRequest(
        onboarding_token=token, scenario=EnrollmentScenario(scenario), device_tag="sales", **privacy
    )
    content, _media, _name = render_managed_config(request, server_url=server.url)
    return content


def enroll(
    server: ServerThread, api: Api, tmp_path: Path, scenario: str, confirm: Answers
) -> Onboarded:
    plan = plan_from_options(
        server_url=server.url,
        onboarding_token=api.onboarding_token(),
        scenario=EnrollmentScenario(scenario),
    )
    return onboard(
        plan,
        simulate(scenario, seed=9, today=TODAY),
        confirm=confirm,
        state_dir=tmp_path / scenario,
        collector=agent_state.Collector("simulated", scenario, 9, TODAY.isoformat()),
        now=datetime.now(UTC),
    )


def test_zero_touch_managed_plist_enrolls_without_asking(
    server: ServerThread, api: Api, tmp_path: Path
) -> None:
    plist = managed_file(
        server, api.onboarding_token(), "ios-supervised", vulnerability_privacy_mode=True
    )
    assert plist.startswith(b"<?xml")
    plan = plan_from_managed_config(plist)
    assert plan.mode is OnboardingMode.ZERO_TOUCH
    confirm = Answers()
    done = onboard(
        plan,
        simulate("ios-supervised", seed=9, today=TODAY),
        confirm=confirm,
        state_dir=tmp_path,
        collector=agent_state.Collector("simulated", "ios-supervised", 9, TODAY.isoformat()),
        now=datetime.now(UTC),
    )
    assert confirm.asked == []
    assert done.confirmations == 0 and done.synced
    saved = agent_state.load(tmp_path)
    assert saved.device_id == done.state.device_id
    assert saved.device_tag == "sales"
    assert saved.privacy.vulnerability_privacy_mode  # from the MDM file, confirmed by the sync
    assert saved.sync_etag.startswith('"')
    r = api.client.get(f"/api/devices/{saved.device_id}", headers=api.headers())
    assert r.json()["tags"] == ["sales"]


def test_low_touch_asks_exactly_once(server: ServerThread, api: Api, tmp_path: Path) -> None:
    confirm = Answers()
    done = enroll(server, api, tmp_path, "android-cope", confirm)
    assert len(confirm.asked) == 1
    assert server.url in confirm.asked[0] and "work-profile" in confirm.asked[0]
    assert "Onboard this device" in confirm.asked[0]
    assert done.mode is OnboardingMode.LOW_TOUCH


def test_manual_asks_for_the_server_then_the_privacy_notice(
    server: ServerThread, api: Api, tmp_path: Path
) -> None:
    confirm = Answers()
    done = enroll(server, api, tmp_path, "ios-user-enrollment", confirm)
    assert len(confirm.asked) == 2
    assert server.url in confirm.asked[0]
    assert confirm.asked[1].startswith("Privacy notice:")
    assert done.mode is OnboardingMode.MANUAL


@pytest.mark.parametrize("answers", [(False,), (True, False)])
def test_a_refused_confirmation_aborts_before_anything_is_sent(
    server: ServerThread, api: Api, tmp_path: Path, answers: tuple[bool, ...]
) -> None:
    confirm = Answers(*answers)
    step = "server" if len(answers) == 1 else "privacy notice"
    with pytest.raises(EnrollmentDeclined, match=f"the {step} was not confirmed"):
        enroll(server, api, tmp_path, "android-mam", confirm)
    assert len(confirm.asked) == len(answers)
    assert not agent_state.exists(tmp_path / "android-mam")
    r = api.client.get("/api/devices", headers=api.headers())
    assert r.json()["total"] == 0


def test_personal_profile_enrolls_after_the_work_profile_of_the_same_phone(
    server: ServerThread, api: Api, tmp_path: Path
) -> None:
    work = enroll(server, api, tmp_path, "android-work-profile", Answers())
    personal = enroll(server, api, tmp_path, "android-personal-profile", Answers())
    assert personal.state.hardware_id == work.state.hardware_id
    assert personal.state.protection_scope == "personal-profile"
    # The server's defaults for a personal profile keep app and URL details on the device.
    assert personal.state.privacy.exclude_app_in_report
    assert personal.state.privacy.exclude_url_in_report
    assert personal.enrollment.warnings


def test_unsupported_and_mismatched_scenarios_are_refused_on_the_device() -> None:
    android = simulate("android-cobo", seed=1, today=TODAY)
    for scenario, message in [
        (EnrollmentScenario.ANDROID_AOSP, "'android-aosp'.*not supported"),
        (EnrollmentScenario.IOS_SUPERVISED, "for ios devices, but this device runs android"),
    ]:
        plan = plan_from_options(
            server_url="http://127.0.0.1:9", onboarding_token="omt_onb_x", scenario=scenario
        )
        with pytest.raises(OnboardingError, match=message):
            onboard(
                plan,
                android,
                confirm=Answers(),
                state_dir=Path("/nonexistent"),
                collector=agent_state.Collector("simulated"),
                now=datetime.now(UTC),
            )


def test_bad_managed_configuration_says_why() -> None:
    with pytest.raises(OnboardingError, match="managed configuration: .*OnboardingToken"):
        plan_from_managed_config(
            b'{"managedProperty": [{"key": "ServerURL", '
            b'"valueString": "https://x"}, {"key": "Scenario", '
            b'"valueString": "ios-mam"}]}'
        )
    with pytest.raises(OnboardingError, match="must start with https://"):
        plan_from_options(
            server_url="ftp://x", onboarding_token="t", scenario=EnrollmentScenario.IOS_MAM
        )


def test_questions_follow_the_scenario_table() -> None:
    def count(scenario: EnrollmentScenario) -> int:
        plan = plan_from_options(server_url="https://x", onboarding_token="t", scenario=scenario)
        return len(questions(plan))

    assert count(EnrollmentScenario.IOS_DEVICE_ENROLLMENT) == 0
    assert count(EnrollmentScenario.ANDROID_COBO) == 1
    assert count(EnrollmentScenario.ANDROID_DEVICE_ADMIN) == 2


def test_privacy_defaults_until_the_first_sync_match_the_scenario() -> None:
    personal = default_privacy(ProtectionScope.PERSONAL_PROFILE)
    assert personal.exclude_app_in_report and personal.exclude_url_in_report
    assert not personal.vulnerability_privacy_mode
    assert default_privacy(ProtectionScope.WORK_PROFILE) == PrivacySettings()
    assert default_privacy(ProtectionScope.ENTIRE_DEVICE) == PrivacySettings()
