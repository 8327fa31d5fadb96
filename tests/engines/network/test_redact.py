"""Network protection privacy: a network detection keeps no SSID, BSSID or certificate detail."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from openmtd.engines.network.redact import NETWORK_TITLES, without_network_details


def test_a_rogue_wifi_detection_loses_every_network_detail() -> None:
    title, key, evidence = without_network_details(
        "RogueWifi",
        "Evil twin of CorpNet (aa:bb:cc:dd:ee:ff)",
        "wifi.evil_twin|aa:bb:cc:dd:ee:ff|CorpNet",
        {"ssid": "CorpNet", "bssid": "aa:bb:cc:dd:ee:ff", "security": "open", "rule": "x"},
    )
    assert title == "Rogue Wi-Fi network"
    assert key.startswith("net:") and "CorpNet" not in key
    assert evidence == {"security": "open", "rule": "x"}


def test_the_key_stays_stable_so_the_server_can_resolve_the_alert() -> None:
    first = without_network_details("TlsInterception", "t", "tls.x:canary.test:443:ab", {})
    again = without_network_details("TlsInterception", "other", "tls.x:canary.test:443:ab", {})
    assert first[1] == again[1]
    # Applied twice (agent, then server), the result does not change.
    assert without_network_details("TlsInterception", *first[:2], first[2]) == first


def test_a_key_only_dressed_as_redacted_is_redacted_too() -> None:
    _title, key, _evidence = without_network_details("OpenWifi", "t", "net:CorpNet", {})
    assert key != "net:CorpNet" and len(key) == 36


def test_other_categories_pass_unchanged() -> None:
    assert without_network_details("Phishing", "t", "k", {"url": "u"}) == ("t", "k", {"url": "u"})


@given(st.sampled_from(sorted(NETWORK_TITLES)), st.text(), st.text(),
       st.dictionaries(st.text(max_size=20), st.text(max_size=40), max_size=8))  # fmt: skip
def test_nothing_reported_survives_but_safe_keys(
    category: str, title: str, key: str, evidence: dict[str, str]
) -> None:
    new_title, new_key, kept = without_network_details(category, title, key, evidence)
    assert new_title == NETWORK_TITLES[category]
    assert new_key.startswith("net:")
    assert set(kept) <= {"rule", "rule_id", "code", "verdict", "mode", "security",
                         "security_code", "minimum_security", "event", "observed_at",
                         "user_notified", "resolution", "captive_portal", "platform"}  # fmt: skip
