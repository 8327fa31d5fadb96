"""`openmtd access`: conditional access behind a reverse proxy (docs/conditional-access.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from openmtd.cli.common import (
    DatabaseUrl,
    DataDir,
    JsonOption,
    fail,
    print_json,
    settings_from,
    stdout,
    store,
)
from openmtd.server.access.nginx import NginxSite, render_server
from openmtd.server.compliance import service as compliance
from openmtd.store.db import transaction

app = typer.Typer(
    help="Conditional access: reverse-proxy configuration and compliance policies.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)


@app.command("nginx-config")
def nginx_config(
    upstream: Annotated[str, typer.Option(help="The protected application's URL.")],
    openmtd_url: Annotated[
        str, typer.Option("--openmtd", help="Where nginx reaches openmtd.")
    ] = "http://127.0.0.1:8443",
    listen: Annotated[str, typer.Option(help="nginx's listen address.")] = "443",
    server_name: Annotated[str, typer.Option(help="nginx's server_name.")] = "_",
    tls_certificate: Annotated[
        Path | None, typer.Option(help="The site's certificate (turns TLS on).")
    ] = None,
    tls_key: Annotated[Path | None, typer.Option(help="The site's private key.")] = None,
    access_ca: Annotated[
        Path | None,
        typer.Option(help="openmtd's access CA (GET /api/access/v1/ca.pem): client certificates."),
    ] = None,
) -> None:
    """Print an nginx `server` block that asks openmtd about every request (auth_request)."""
    if (tls_certificate is None) != (tls_key is None):
        fail("give both --tls-certificate and --tls-key, or neither")
    if access_ca is not None and tls_certificate is None:
        fail("client certificates need TLS: give --tls-certificate and --tls-key")
    try:
        text = render_server(
            NginxSite(
                listen=listen,
                openmtd_url=openmtd_url,
                upstream_url=upstream,
                server_name=server_name,
                tls_certificate=tls_certificate,
                tls_key=tls_key,
                access_ca=access_ca,
            )
        )
    except ValueError as e:
        fail(str(e))
    typer.echo(text, nl=False)


@app.command()
def policies(
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: Annotated[bool, JsonOption] = False,
) -> None:
    """The compliance policies (the all-groups one first) and the devices each one judges."""
    settings = settings_from(data_dir=data_dir, database_url=database_url)
    with store(settings) as sessions, transaction(sessions) as db:
        rows = [
            {
                "name": r.name,
                "device_group": r.device_group,
                "max_risk": r.max_risk,
                "require_onboarding": r.require_onboarding,
                "unresponsive_days": r.unresponsive_days,
                "unresponsive_action": r.unresponsive_action,
                "min_os_android": r.min_os_android,
                "min_os_ios": r.min_os_ios,
            }
            for r in compliance.list_policies(db)
        ]
    if as_json:
        print_json(rows)
        return
    if not rows:
        stdout().print("no policy is stored yet: the server creates the all-groups one at start")
        return
    table = Table(title="Compliance policies")
    for column in ("name", "group", "max level", "onboarding", "unresponsive", "minimum OS"):
        table.add_column(column)
    for r in rows:
        minimum = ", ".join(
            f"{p} {v}" for p, v in (("Android", r["min_os_android"]), ("iOS", r["min_os_ios"])) if v
        )
        table.add_row(
            str(r["name"]),
            str(r["device_group"] or "all other groups"),
            str(r["max_risk"]),
            "required" if r["require_onboarding"] else "not enforced",
            f"{r['unresponsive_days']} days, then {r['unresponsive_action']}",
            minimum or "any",
        )
    stdout().print(table)
