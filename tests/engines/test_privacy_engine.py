"""The privacy keys, their defaults per scope, and the admin's policy (values, locks, toggles)."""

from __future__ import annotations

import pytest

from openmtd.domain.enums import ProtectionScope
from openmtd.engines.privacy import (
    PRIVACY_KEYS,
    PrivacyRule,
    PrivacySettings,
    default_privacy,
    describe_change,
    enforce_policy,
    enrollment_privacy,
    policy_for,
    privacy_settings,
    refused_changes,
    turned_on,
)

PERSONAL = ProtectionScope.PERSONAL_PROFILE
WORK = ProtectionScope.WORK_PROFILE


@pytest.mark.parametrize("scope", list(ProtectionScope))
def test_reference_defaults_per_scope(scope: ProtectionScope) -> None:
    d = default_privacy(scope)
    personal = scope is PERSONAL
    assert (d.exclude_url_in_report, d.exclude_app_in_report) == (personal, personal)
    assert d.vulnerability_privacy_mode is False
    assert d.network_protection_privacy is True
    assert list(d.as_dict()) == list(PRIVACY_KEYS)


def test_missing_keys_take_the_scope_default() -> None:
    assert privacy_settings({}, scope=PERSONAL) == default_privacy(PERSONAL)
    assert privacy_settings({"exclude_url_in_report": 0, "bogus": 1}, scope=PERSONAL) == (
        PrivacySettings(exclude_url_in_report=False, exclude_app_in_report=True)
    )


def test_the_first_matching_rule_decides() -> None:
    rules = [
        PrivacyRule(
            device_groups=frozenset({"execs"}), values={"vulnerability_privacy_mode": True}
        ),
        PrivacyRule(
            scopes=frozenset({PERSONAL}),
            user_toggles=frozenset({"exclude_url_in_report", "exclude_app_in_report"}),
        ),
        PrivacyRule(values={"exclude_url_in_report": False}),
    ]
    execs = policy_for(rules, scope=PERSONAL, device_group="execs")
    assert execs.values == {"vulnerability_privacy_mode": True} and execs.toggles() == []
    personal = policy_for(rules, scope=PERSONAL, device_group="sales")
    assert personal.toggles() == ["exclude_url_in_report", "exclude_app_in_report"]
    assert personal.locked == {}
    work = policy_for(rules, scope=WORK, device_group="sales")
    assert work.locked == {"exclude_url_in_report": False}
    assert policy_for([], scope=WORK, device_group="").toggles() == []


def test_unknown_keys_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match="exclude_everything"):
        PrivacyRule(user_toggles=frozenset({"exclude_everything"}))


def test_enrollment_order_defaults_policy_choices_then_locks() -> None:
    policy = policy_for(
        [
            PrivacyRule(
                values={"exclude_url_in_report": True, "vulnerability_privacy_mode": False},
                user_toggles=frozenset({"exclude_url_in_report"}),
            )
        ],
        scope=WORK,
        device_group="",
    )
    # The managed configuration may choose a toggleable key, never a locked one.
    chosen = {
        "exclude_url_in_report": False,
        "vulnerability_privacy_mode": True,
        "exclude_app_in_report": None,
    }
    assert enrollment_privacy(policy, chosen) == {
        "exclude_url_in_report": False,
        "exclude_app_in_report": False,
        "vulnerability_privacy_mode": False,
        "network_protection_privacy": True,
    }
    assert enrollment_privacy(policy, {})["exclude_url_in_report"] is True


def test_enforcing_the_policy_keeps_the_users_own_choices() -> None:
    policy = policy_for(
        [
            PrivacyRule(
                values={"exclude_app_in_report": True, "exclude_url_in_report": True},
                user_toggles=frozenset({"exclude_url_in_report"}),
            )
        ],
        scope=WORK,
        device_group="",
    )
    stored = {"exclude_url_in_report": False, "exclude_app_in_report": False}
    assert enforce_policy(policy, stored) == {
        "exclude_url_in_report": False,  # the user's to change: their value stays
        "exclude_app_in_report": True,  # locked: the policy's value
        "vulnerability_privacy_mode": False,
        "network_protection_privacy": True,
    }
    assert refused_changes(policy, ["network_protection_privacy", "exclude_url_in_report"]) == [
        "network_protection_privacy"
    ]


def test_describing_a_change_names_keys_never_report_values() -> None:
    before = default_privacy(WORK).as_dict()
    after = {**before, "exclude_url_in_report": True, "network_protection_privacy": False}
    assert describe_change(before, after) == (
        "exclude URL in report on, network protection privacy off"
    )
    assert turned_on(before, after) == ["exclude_url_in_report"]
    assert describe_change(before, before) == ""
