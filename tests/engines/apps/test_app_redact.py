"""Exclude app in report: a detection keeps no app name, package or file hash."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from openmtd.engines.apps.redact import APP_TITLES, without_app


def test_an_app_detection_loses_every_app_detail() -> None:
    title, key, evidence = without_app(
        "Malware",
        "Malicious app: Secret Diary (com.example.diary)",
        "app:com.example.diary",
        {
            "package": "com.example.diary",
            "app_name": "Secret Diary",
            "sha256": "ab" * 32,
            "reasons": "com.example.diary asks for accessibility",
            "verdict": "malicious",
            "score": "90",
        },
    )
    assert title == APP_TITLES["Malware"]
    assert key.startswith("app:") and "diary" not in key
    assert evidence == {"verdict": "malicious", "score": "90"}


def test_other_detections_lose_only_the_keys_that_name_an_app() -> None:
    title, key, evidence = without_app(
        "Phishing", "Phishing warning", "web:x", {"app": "com.browser", "channel": "proxy"}
    )
    assert (title, key, evidence) == ("Phishing warning", "web:x", {"channel": "proxy"})


def test_the_key_is_stable_and_applying_twice_changes_nothing() -> None:
    first = without_app("PotentiallyUnwantedApp", "t", "app:com.a", {"package": "com.a"})
    again = without_app("PotentiallyUnwantedApp", "other", "app:com.a", {})
    assert first[1] == again[1]
    assert without_app("PotentiallyUnwantedApp", *first[:2], first[2]) == first


@given(
    st.sampled_from(["Malware", "PotentiallyUnwantedApp", "Phishing", "RogueWifi"]),
    st.text(max_size=40),
    st.text(max_size=40),
    st.dictionaries(st.text(max_size=12), st.text(max_size=20), max_size=6),
)
def test_idempotent_for_any_input(
    category: str, title: str, key: str, evidence: dict[str, str]
) -> None:
    once = without_app(category, title, key, evidence)
    assert without_app(category, *once[:2], once[2]) == once
