"""`openmtd integrity`: offline key attestation checks on Google's real sample chains, and
the rules list."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from conftest import SHARED
from openmtd.agent.attest.android_keystore import AttestationCA
from openmtd.cli.main import app

runner = CliRunner()
DATA = SHARED / "data" / "android-key-attestation"


def run(*args: str, code: int) -> Any:
    result = runner.invoke(app, ["integrity", *args], env={"COLUMNS": "300"})
    assert result.exit_code == code, result.output
    return result.output


def chain(name: str, kind: str = "der") -> list[str]:
    folder = DATA / "chains" / kind / f"algorithm_{name}"
    return [str(folder / f"cert{i}.{kind}") for i in range(4)]


def test_a_real_google_chain_is_accepted_with_the_findings_of_its_unlocked_device() -> None:
    doc = json.loads(
        run(
            "verify-android", *chain("EC_SecurityLevel_TEE"), "--challenge", "abc", "--json", code=3
        )
    )
    assert doc["accepted"] is True
    assert doc["facts"]["root_serial"] == "e8fa196314d2fa18"
    assert {f["rule_id"] for f in doc["findings"]} == {
        "key_attestation.bootloader_unlocked",
        "key_attestation.boot_unverified",
    }


def test_pem_files_and_a_table() -> None:
    out = run(
        "verify-android", *chain("RSA_SecurityLevel_TEE", "pem"), "--challenge", "abc", code=3
    )
    assert "accepted" in out and "Bootloader unlocked" in out


def test_rejections_exit_4_with_the_reason() -> None:
    out = run("verify-android", *chain("RSA_SecurityLevel_StrongBox"), "--challenge", "abc", code=4)
    assert "chain_untrusted" in out
    doc = json.loads(
        run(
            "verify-android", *chain("EC_SecurityLevel_TEE"), "--challenge", "xyz", "--json", code=4
        )
    )
    assert doc["code"] == "challenge_mismatch"
    late = json.loads(
        run(
            "verify-android",
            *chain("EC_SecurityLevel_TEE"),
            "--challenge-hex",
            "616263",
            "--at",
            "2030-01-01",
            "--json",
            code=4,
        )
    )
    assert late["code"] == "certificate_expired"


def test_a_clean_chain_from_our_own_roots_exits_0(tmp_path: Path) -> None:
    ca = AttestationCA.generate()
    (tmp_path / "roots.pem").write_bytes(ca.root_pem())
    files = []
    for i, der in enumerate(ca.attest(b"nonce-1", now=datetime.now(UTC))):
        (tmp_path / f"c{i}.der").write_bytes(der)
        files.append(str(tmp_path / f"c{i}.der"))
    run(
        "verify-android",
        *files,
        "--challenge",
        "nonce-1",
        "--roots",
        str(tmp_path / "roots.pem"),
        code=0,
    )


def test_bad_input_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "junk.pem").write_text("-----BEGIN CERTIFICATE-----\nnope\n")
    out = run("verify-android", str(tmp_path / "junk.pem"), "--challenge", "a", code=1)
    assert "not a PEM certificate" in out
    out = run("verify-android", str(tmp_path / "missing.der"), "--challenge", "a", code=1)
    assert "cannot read" in out
    run("verify-android", *chain("EC_SecurityLevel_TEE"), code=2)
    run("verify-android", *chain("EC_SecurityLevel_TEE"), "--challenge-hex", "zz", code=2)
    (tmp_path / "garbage.der").write_bytes(b"\x30\x03\x02\x01\x01")
    assert "certificate_malformed" in run(
        "verify-android", str(tmp_path / "garbage.der"), "--challenge", "a", code=4
    )


def test_rules_as_table_and_json() -> None:
    assert "android.su_binary" in run("rules", code=0)
    rules = json.loads(run("rules", "--platform", "ios", "--json", code=0))
    assert rules and {r["platform"] for r in rules} == {"ios"}
