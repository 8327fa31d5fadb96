"""`openmtd serve` starts a real server (one process, or several workers) that migrates."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

SCRIPT = Path(sys.executable).parent / "openmtd"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_answers_and_prints_the_console_url(tmp_path: Path, workers: int) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENMTD_")}
    process = subprocess.Popen(
        [
            str(SCRIPT),
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--data-dir",
            str(tmp_path),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.communicate()
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
                continue
            break
        assert r.json()["status"] == "ok"
        assert (tmp_path / "openmtd.db").exists()  # migrated on start
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    assert f"openmtd console: http://127.0.0.1:{port}/console" in out
    assert f"devices reach this server at http://127.0.0.1:{port}" in out


def test_serve_refuses_bad_options() -> None:
    done = subprocess.run(
        [str(SCRIPT), "serve", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.splitlines()) == 1 and "--port" in done.stderr
