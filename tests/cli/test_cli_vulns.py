"""`openmtd vulns match` on the real feed files: findings with evidence, exposure, advice."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from conftest import SHARED
from openmtd.cli.main import app

runner = CliRunner()
DATA = SHARED / "data"
FIXTURES = Path(__file__).parents[1] / "intel" / "fixtures" / "vulns"
SOFA = str(DATA / "sofa" / "v2_ios_data_feed.json")
KEV = str(DATA / "cisa-kev" / "known_exploited_vulnerabilities.json")
CVE_42824 = str(DATA / "cve-records" / "cve5" / "CVE-2023-42824.json")
ASB = str(DATA / "osv-android" / "vanir_test_vulnerabilities_platform.json")


def run(*args: str, code: int) -> Any:
    result = runner.invoke(app, ["vulns", "match", *args], env={"COLUMNS": "300"})
    assert result.exit_code == code, result.output
    return result.output


def test_android_patch_level_before_and_at_the_fix() -> None:
    doc = json.loads(
        run("--feed", ASB, "--platform", "android", "--os-version", "12",
            "--patch-level", "2021-12-01", "--json", code=3)
    )  # fmt: skip
    [finding] = doc["findings"]
    assert finding["cve_ids"] == ["CVE-2021-39630"]
    assert finding["component"] == "platform/frameworks/base"
    assert finding["installed_version"] == "12:2021-12-01"
    assert finding["range"]["end"] == "12:2022-01-01"
    assert doc["recommendations"] == [
        "Update Android 12 devices to security patch level 2022-01-01 or later: fixes 1 CVE "
        "on 1 device"
    ]
    patched = json.loads(
        run("--feed", ASB, "--platform", "android", "--os-version", "12",
            "--patch-level", "2022-01-01", "--json", code=0)
    )  # fmt: skip
    assert patched["findings"] == []
    assert patched["exposure"] == {
        "score": 0,
        "band": "low",
        "explanation": patched["exposure"]["explanation"],
    }


def test_an_iphone_on_16_7_is_told_to_install_16_7_1_and_kev_marks_it_exploited() -> None:
    doc = json.loads(
        run("--feed", CVE_42824, "--feed", KEV, "--platform", "ios", "--os-version", "16.7",
            "--model", "iPhone 14", "--json", code=3)
    )  # fmt: skip
    [finding] = doc["findings"]
    assert finding["cve_ids"] == ["CVE-2023-42824"]
    assert finding["exploited"] is True
    assert doc["exposure"]["band"] == "high"
    assert doc["recommendations"] == [
        "Update iOS to 16.7.1: fixes 1 CVE, 1 actively exploited, on 1 device"
    ]
    run("--feed", CVE_42824, "--platform", "ios", "--os-version", "16.7.1", code=0)


def test_the_table_and_several_feeds_with_apps() -> None:
    out = run(
        "--feed", SOFA, "--feed", KEV, "--feed", str(FIXTURES / "asb_handwritten.json"),
        "--platform", "ios", "--os-version", "17.4", "--model", "iPhone 15",
        "--app", "org.telegram.messenger=10.0", code=3,
    )  # fmt: skip
    assert "v2_ios_data_feed.json: sofa, 1108 records" in out
    assert "KEV, 1404 entries" in out
    assert "CVE-2024-1580" in out and "Exposure" in out and "→ Update iOS to 17." in out


def test_bad_input(tmp_path: Path) -> None:
    (tmp_path / "junk.json").write_text('{"hello": 1}')
    out = run("--feed", str(tmp_path / "junk.json"), "--platform", "ios", "--os-version", "17",
              code=1)  # fmt: skip
    assert "not a known vulnerability feed format" in out
    run("--feed", ASB, "--platform", "android", "--os-version", "14", code=2)
    run("--feed", ASB, "--platform", "android", "--os-version", "14", "--patch-level", "soon",
        code=2)  # fmt: skip
    run("--feed", ASB, "--platform", "ios", "--os-version", "17", "--app", "noversion", code=2)
    out = run("--feed", str(tmp_path / "missing.json"), "--platform", "ios", "--os-version", "17",
              code=1)  # fmt: skip
    assert "cannot read" in out
    (tmp_path / "map.csv").write_text("identifier,product\norg.example,not-a-product\n")
    out = run("--feed", ASB, "--platform", "ios", "--os-version", "17",
              "--mapping", str(tmp_path / "map.csv"), code=0)  # fmt: skip
    assert "map.csv:2:" in out
