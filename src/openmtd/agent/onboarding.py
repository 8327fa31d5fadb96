"""Enrollment decisions on the device: what to enroll with, and what to ask the user first.

The onboarding mode of the scenario table decides how much the person holding the device does:
- zero-touch (iOS supervised, iOS device enrollment): the MDM deployed a managed configuration,
  the agent enrolls silently;
- low-touch (Android work profile, COPE, COBO): exactly one confirmation;
- manual (every other supported scenario): the user consents to each step, the server first,
  then the privacy notice.
Confirmations go through an injected ``confirm(question) -> bool``, so a terminal, a test or
``--yes`` can answer. A refused confirmation aborts before anything is sent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from openmtd.agent import network, web
from openmtd.agent import state as agent_state
from openmtd.agent.client import AgentClient, AgentError, DeviceDescription, Enrollment, SyncPayload
from openmtd.agent.collectors.simulated import SimulatedDevice
from openmtd.agent.spool import spool_for
from openmtd.domain.enums import EnrollmentScenario, OnboardingMode, ProtectionScope
from openmtd.engines.privacy import PrivacySettings, default_privacy
from openmtd.enrollment import managed_config
from openmtd.enrollment.scenarios import ScenarioSpec, spec_for

Confirm = Callable[[str], bool]
ClientFactory = Callable[..., AgentClient]


class OnboardingError(Exception):
    """Enrollment cannot go ahead on this device; the message says why."""


class EnrollmentDeclined(OnboardingError):
    """The user answered no to a confirmation."""


@dataclass(frozen=True, slots=True)
class EnrollmentPlan:
    """What the agent will enroll with, from a managed configuration or the command line."""

    server_url: str
    onboarding_token: str = field(repr=False)
    scenario: EnrollmentScenario
    device_tag: str = ""
    privacy: PrivacySettings | None = None  # None: the server's defaults for the scenario

    @property
    def spec(self) -> ScenarioSpec:
        return spec_for(self.scenario)

    @property
    def mode(self) -> OnboardingMode:
        return self.spec.onboarding


def plan_from_managed_config(data: bytes) -> EnrollmentPlan:
    """Read the MDM's managed-configuration file (Android JSON or iOS plist)."""
    try:
        config = managed_config.parse(data)
    except managed_config.InvalidManagedConfig as e:
        raise OnboardingError(f"managed configuration: {e}") from e
    return EnrollmentPlan(
        server_url=config.server_url,
        onboarding_token=config.onboarding_token,
        scenario=config.scenario,
        device_tag=config.device_tag,
        privacy=config.privacy,
    )


def plan_from_options(
    *, server_url: str, onboarding_token: str, scenario: EnrollmentScenario, device_tag: str = ""
) -> EnrollmentPlan:
    if not server_url.startswith(("https://", "http://")):
        raise OnboardingError(f"server URL {server_url!r} must start with https:// or http://")
    if not onboarding_token.strip():
        raise OnboardingError("the onboarding token is empty")
    return EnrollmentPlan(
        server_url=server_url,
        onboarding_token=onboarding_token.strip(),
        scenario=scenario,
        device_tag=device_tag,
    )


def privacy_notice(plan: EnrollmentPlan) -> str:
    """What this device will share, in the words the user is asked to accept."""
    spec = plan.spec
    scope = spec.scope.value if spec.scope else "nothing"
    p = plan.privacy
    apps = (
        "no app inventory (vulnerability privacy mode)"
        if p is not None and p.vulnerability_privacy_mode
        else "the installed apps it protects (names, versions, hashes)"
    )
    hidden = []
    if p is None:
        hidden.append("the organisation's default privacy settings for this scenario apply")
    else:
        if p.exclude_url_in_report:
            hidden.append("URLs are left out of phishing reports")
        if p.exclude_app_in_report:
            hidden.append("app details are left out of malware reports")
        if p.network_protection_privacy:
            hidden.append("network names and certificate details stay on the device")
    extra = f"; {'; '.join(hidden)}" if hidden else ""
    return (
        f"Privacy notice: openmtd protects {scope} and sends the device model, OS version, "
        f"security patch level, integrity signals and {apps}{extra}. It never reads messages, "
        "photos, files or browsing history. Accept?"
    )


def questions(plan: EnrollmentPlan) -> list[tuple[str, str]]:
    """The confirmations (step, question) the user gives before enrolling, by the mode."""
    spec = plan.spec
    scope = spec.scope.value if spec.scope else "nothing"
    if plan.mode is OnboardingMode.ZERO_TOUCH:
        return []
    if plan.mode is OnboardingMode.LOW_TOUCH:
        return [
            (
                "onboarding",
                f"Onboard this device to openmtd at {plan.server_url} as {spec.title!r} "
                f"(protects: {scope})?",
            )
        ]
    return [
        (
            "server",
            f"Connect to the openmtd server at {plan.server_url} and enroll as {spec.title!r}?",
        ),
        ("privacy notice", privacy_notice(plan)),
    ]


@dataclass(frozen=True, slots=True)
class Onboarded:
    state: agent_state.AgentState
    enrollment: Enrollment
    mode: OnboardingMode
    confirmations: int
    synced: bool


def onboard(
    plan: EnrollmentPlan,
    device: SimulatedDevice,
    *,
    confirm: Confirm,
    state_dir: Path,
    collector: agent_state.Collector,
    now: datetime,
    client_factory: ClientFactory = AgentClient,
) -> Onboarded:
    """Ask what the scenario requires, enroll, save the state, then fetch the policy once.

    The state (with the device credential) is saved as soon as the server answers, so a failed
    first sync never loses the enrollment; the next `agent run` syncs again.
    """
    spec = plan.spec
    if not spec.supported:
        raise OnboardingError(
            f"scenario {plan.scenario.value!r} ({spec.title}) is not supported: {spec.refusal}"
        )
    facts = device.facts
    if facts.platform is not spec.platform:
        raise OnboardingError(
            f"scenario {plan.scenario.value!r} is for {spec.platform.value} devices, but this "
            f"device runs {facts.platform.value}"
        )
    asked = 0
    for step, question in questions(plan):
        asked += 1
        if not confirm(question):
            raise EnrollmentDeclined(
                f"enrollment cancelled: the {step} was not confirmed; nothing was sent"
            )

    description = DeviceDescription(
        model=facts.model,
        manufacturer=facts.manufacturer,
        os_version=facts.os_version,
        security_patch_level=facts.security_patch_level,
        build=facts.build,
        name=device.name,
    )
    with client_factory(plan.server_url) as client:
        enrollment = client.enroll(
            onboarding_token=plan.onboarding_token,
            platform=spec.platform,
            scenario=plan.scenario,
            hardware_id=device.hardware_id,
            device=description,
            device_tag=plan.device_tag,
            privacy=plan.privacy,
        )
    state = agent_state.AgentState(
        server_url=plan.server_url,
        device_id=enrollment.device_id,
        device_credential=enrollment.device_credential,
        platform=spec.platform,
        scenario=plan.scenario,
        hardware_id=device.hardware_id,
        protection_scope=enrollment.protection_scope,
        device_group=enrollment.device_group,
        enrolled_at=now.isoformat(),
        collector=collector,
        device_tag=plan.device_tag,
        privacy=plan.privacy or default_privacy(ProtectionScope(enrollment.protection_scope)),
        checkin_interval_seconds=enrollment.checkin_interval_seconds,
    )
    agent_state.save(state_dir, state)
    spool_for(state_dir).clear()  # reports of an earlier enrollment are not this device's
    synced = False
    web.forget(state_dir)  # indicator sets of an earlier enrollment
    try:
        with client_factory(plan.server_url, credential=enrollment.device_credential) as client:
            result = client.sync(enrollment.device_id)
            if isinstance(result, SyncPayload):
                # Protection starts with the first sync: the indicator sets come with it.
                web.sync_sets(
                    state_dir,
                    web.WebSettings.from_sync(
                        result.web, result.device_groups, result.indicator_sets
                    ),
                    lambda name: client.indicator_set(enrollment.device_id, name),
                )
                state = apply_sync(state, result)
                agent_state.save(state_dir, state)
                network.save_policy(state_dir, result.policy.get("network"))
                synced = True
    except AgentError:
        pass  # enrolled; the next run syncs (without an ETag: no web settings on disk yet)
    return Onboarded(state, enrollment, plan.mode, asked, synced)


def apply_sync(state: agent_state.AgentState, sync: SyncPayload) -> agent_state.AgentState:
    """The server is the authority on privacy, group and interval; remember its ETag."""
    return state.with_changes(
        sync_etag=sync.etag,
        privacy=sync.privacy,
        privacy_user_toggles=sync.privacy_user_toggles,
        device_group=sync.device_group,
        checkin_interval_seconds=sync.checkin_interval_seconds,
    )
