"""`openmtd serve`: the console server (uvicorn), and a server thread for the pilot and tests."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn
from fastapi import FastAPI

from openmtd.cli.common import fail, settings_from, stdout
from openmtd.config import Settings
from openmtd.server.app import create_app
from openmtd.store.db import make_engine, migrate

_ANY_ADDRESS = {"0.0.0.0", "::", ""}


def app_factory() -> FastAPI:
    """For uvicorn's `factory=True` (one call per worker): settings from OPENMTD_* only."""
    return create_app(Settings())


def public_url_for(settings: Settings, host: str, port: int) -> Settings:
    """Without an explicit public URL, devices reach this server where it listens."""
    if "public_url" in settings.model_fields_set:
        return settings
    shown = "127.0.0.1" if host in _ANY_ADDRESS else host
    if ":" in shown:
        shown = f"[{shown}]"
    return settings.model_copy(update={"public_url": f"http://{shown}:{port}"})


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8443,
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="Worker processes (the server is stateless).")
    ] = 1,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            help="Folder for the SQLite database (env OPENMTD_DATA_DIR).", show_default=False
        ),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            help="SQLAlchemy URL, e.g. postgresql+psycopg://user@host/db "
            "(env OPENMTD_DATABASE_URL; default: SQLite in the data dir).",
            show_default=False,
        ),
    ] = None,
    public_url: Annotated[
        str | None,
        typer.Option(
            help="URL devices and admins use to reach this server, rendered into MDM files "
            "(env OPENMTD_PUBLIC_URL; default: where it listens).",
            show_default=False,
        ),
    ] = None,
    access_log: Annotated[
        bool, typer.Option(help="Log every request (uvicorn's access log).")
    ] = True,
) -> None:
    """Run the console server: REST API, agent protocol and web console.

    The database is migrated on start. Several workers share one database; put a TLS reverse
    proxy in front for production.
    """
    settings = settings_from(data_dir=data_dir, database_url=database_url, public_url=public_url)
    settings = public_url_for(settings, host, port).model_copy(update={"freeze_gc": True})
    out = stdout()
    out.print(f"openmtd console: http://{_shown(host)}:{port}/console")
    out.print(f"devices reach this server at {settings.public_url}", style="dim")
    if workers == 1:
        uvicorn.run(
            create_app(settings), host=host, port=port, proxy_headers=True, access_log=access_log
        )
        return
    # Workers import the app themselves: pass the settings through the environment, and
    # migrate once here so that workers do not race each other.
    if settings.migrate_on_start:
        engine = make_engine(settings.resolved_database_url())
        try:
            migrate(engine)
        finally:
            engine.dispose()
    os.environ.update(
        {
            "OPENMTD_DATA_DIR": str(settings.data_dir),
            "OPENMTD_DATABASE_URL": settings.database_url,
            "OPENMTD_PUBLIC_URL": settings.public_url,
            "OPENMTD_MIGRATE_ON_START": "false",
            "OPENMTD_FREEZE_GC": "true",
        }
    )
    uvicorn.run(
        "openmtd.cli.serve:app_factory",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        access_log=access_log,
    )


def _shown(host: str) -> str:
    return "127.0.0.1" if host in _ANY_ADDRESS else host


class ServerThread:
    """A real uvicorn server in a background thread, on a port bound at construction.

    Binding first means the URL is known before the app is built (the pilot renders it into
    settings) and no other process can take the port in between.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._sock.bind((host, port))
        except OSError as e:
            self._sock.close()
            fail(f"cannot listen on {host}:{port}: {e.strerror or e}")
        self.port: int = self._sock.getsockname()[1]
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, app: Any, *, timeout: float = 30.0) -> ServerThread:
        config = uvicorn.Config(
            app, log_config=None, access_log=False, log_level="warning", lifespan="on"
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [self._sock]}, name="openmtd-server", daemon=True
        )
        self._server, self._thread = server, thread
        thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                fail(f"the server on {self.url} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=30)
        self._server = self._thread = None
        self._sock.close()

    def __enter__(self) -> ServerThread:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
