"""`openmtd indicators`, `feeds` and `url` on the database (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from openmtd.cli.main import app

runner = CliRunner()
MVT = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "mvt-indicators"


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {"OPENMTD_DATABASE_URL": database_url, "OPENMTD_DATA_DIR": str(tmp_path)}


def run(env: dict[str, str], *args: str, code: int = 0, input: str | None = None) -> str:
    result = runner.invoke(app, list(args), env=env, input=input)
    assert result.exit_code == code, result.output
    return result.stdout


def test_add_check_list_export_delete(env: dict[str, str]) -> None:
    made = json.loads(
        run(env, "indicators", "add", "domain", "Evil.Example", "--title", "Kit", "--json")
    )
    assert made["value"] == "evil.example" and made["action"] == "Block"
    run(env, "indicators", "add", "url", "http://warn.example/login", "--action", "Warn")
    verdict = json.loads(run(env, "url", "check", "http://a.evil.example/x", "--json", code=3))
    assert verdict["decision"]["source"] == f"#{made['id']}"
    text = run(env, "url", "check", "http://warn.example/login/2", code=4)
    assert "Warn" in text and "warn.example/login" in text
    assert "no indicator" in run(env, "url", "check", "ok.example")
    listed = json.loads(run(env, "indicators", "list", "--json"))
    assert listed["total"] == 2
    csv_text = run(env, "indicators", "export")
    assert csv_text.startswith("IndicatorType,IndicatorValue")
    assert "DomainName,evil.example" in csv_text
    stix = json.loads(run(env, "indicators", "export", "--format", "stix"))
    assert stix["type"] == "bundle"
    run(env, "indicators", "delete", str(made["id"]))
    run(env, "url", "check", "http://a.evil.example/x")  # exit 0: no longer blocked


def test_import_reports_bad_lines_and_reads_stdin(env: dict[str, str]) -> None:
    doc = "good-one.example\nnot a domain\n# comment\ngood-two.example\n"
    result = json.loads(run(env, "indicators", "import", "-", "--json", input=doc))
    assert result["format"] == "domains"
    assert result["created"] == 2 and result["problem_count"] == 1
    assert result["problems"][0]["line"] == 2
    text = run(env, "indicators", "import", str(MVT / "operation_triangulation.stix2"))
    assert "75 created" in text.replace(",", "")
    bad = runner.invoke(app, ["indicators", "import", "-", "--format", "nope"], env=env, input="x")
    assert bad.exit_code == 2 and "unknown format" in bad.stderr


def test_feeds_from_a_feed_folder(env: dict[str, str], tmp_path: Path) -> None:
    folder = tmp_path / "feeds"
    folder.mkdir()
    (folder / "block.txt").write_text("||ads.example^\n@@||fine.ads.example^\n")
    feed = json.loads(run(env, "feeds", "add", "adlist", str(folder / "block.txt"), "--json"))
    assert feed["entry_count"] == 2 and feed["last_status"] == "ok"
    assert "adlist" in run(env, "url", "check", "x.ads.example", code=3)
    run(env, "url", "check", "fine.ads.example")  # the @@ exception allows it
    (folder / "block.txt").write_text("||ads.example^\n||more.example^\n")
    again = json.loads(run(env, "feeds", "refresh", "adlist", "--json"))
    assert again[0]["last_report"]["added"] == 1 and again[0]["last_report"]["removed"] == 1
    refused = runner.invoke(app, ["feeds", "add", "etc", "/etc/hosts"], env=env)
    assert refused.exit_code == 1 and "feed folder" in refused.stderr
    missing = runner.invoke(app, ["feeds", "refresh", "nope"], env=env)
    assert missing.exit_code == 1 and "no feed named" in missing.stderr
