"""Network protection controls: validated when the server starts, sent to every agent."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from conftest import Api
from openmtd.config import CorporateWifi, NetworkCanary, Settings

SHA1 = "ab" * 20


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (f"{SHA1};{SHA1}", "semicolon"),
        (f"{SHA1}\n{SHA1}", "comma"),
        ("AB:CD", "thumbprint 1"),
        ("abc", "thumbprint 1"),
    ],
)
def test_a_trusted_ca_list_in_another_format_is_refused_with_the_reason(
    value: str, problem: str
) -> None:
    with pytest.raises(ValidationError) as e:
        Settings(trusted_ca_list=value)
    assert problem in str(e.value)


def test_both_reference_spellings_are_accepted() -> None:
    spaced = " ".join(SHA1[i : i + 2].upper() for i in range(0, 40, 2))
    s = Settings(trusted_ca_list=f"{spaced} , {'cd' * 20}")
    assert s.trusted_ca_thumbprints() == {SHA1, "cd" * 20}


def test_bad_bssids_pins_and_security_kinds_are_refused() -> None:
    with pytest.raises(ValidationError, match="BSSID"):
        CorporateWifi(ssid="Corp", bssids=["aa:bb:cc"])
    with pytest.raises(ValidationError, match="wpa2-personal"):
        CorporateWifi(ssid="Corp", minimum_security="strong")
    with pytest.raises(ValidationError, match="pin"):
        NetworkCanary(host="mtd.example.com", pins=["not-a-pin"])


def test_the_sync_payload_carries_the_network_policy_and_its_etag_follows_it(api: Api) -> None:
    device = api.enroll()
    headers = {"Authorization": f"Bearer {device['device_credential']}"}
    path = f"/api/agent/v1/devices/{device['device_id']}/sync"
    first = api.client.get(path, headers=headers)
    network = first.json()["policy"]["network"]
    assert network["enabled"] is True and network["open_network_detection"] == 2
    assert network["trusted_ca_thumbprints"] == [] and network["user_trust"] is False
    ctx = api.app.state.ctx
    ctx.settings = ctx.settings.model_copy(update={"trusted_ca_list": SHA1})
    second = api.client.get(path, headers={**headers, "If-None-Match": first.headers["etag"]})
    assert second.status_code == 200
    assert second.json()["policy"]["network"]["trusted_ca_thumbprints"] == [SHA1]


def test_the_server_is_a_canary_when_it_is_reached_over_https() -> None:
    pin = "11" * 32
    s = Settings(public_url="https://mtd.example.test:8443", server_canary_pins=[pin])
    [canary] = s.canaries()
    assert (canary.host, canary.port, canary.pins) == ("mtd.example.test", 8443, [pin])
    assert Settings(public_url="http://127.0.0.1:8443").canaries() == []
    with pytest.raises(ValidationError, match="pin"):
        Settings(server_canary_pins=["nope"])
