"""`openmtd tokens`: onboarding tokens and the MDM managed configuration that carries them.

The commands work directly on the database, through the same services as the admin API, and
record "cli" as the actor in the audit log. A token's secret is printed once, at creation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pydantic
import typer
from rich.table import Table

from openmtd.agent.state import write_private
from openmtd.cli.common import (
    DatabaseUrl,
    DataDir,
    JsonOption,
    fail,
    print_json,
    settings_from,
    stderr,
    stdout,
    store,
    validation_message,
)
from openmtd.domain.enums import EnrollmentScenario, Platform
from openmtd.server import presenters
from openmtd.server.context import utc_now
from openmtd.server.onboarding import service
from openmtd.server.schemas import ManagedConfigRequest, OnboardingTokenCreate, OnboardingTokenOut
from openmtd.store.db import transaction

app = typer.Typer(
    help="Onboarding tokens and MDM managed configuration.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)

_OPTION_NAMES = {
    "name": "--name",
    "platform": "--platform",
    "scenarios": "--scenario",
    "device_group": "--group",
    "tags": "--tag",
    "expires_in_hours": "--expires-hours",
    "max_uses": "--max-uses",
    "onboarding_token": "--token",
    "device_tag": "--device-tag",
}


def _scenarios(token: OnboardingTokenOut) -> str:
    return ", ".join(s.value for s in token.scenarios) or "every supported scenario"


@app.command()
def create(
    name: Annotated[str, typer.Option(help="What the token is for, e.g. 'sales laptops Q3'.")],
    platform: Annotated[
        Platform | None,
        typer.Option(help="Only devices of this platform (default: either).", show_default=False),
    ] = None,
    scenario: Annotated[
        list[EnrollmentScenario] | None,
        typer.Option(
            metavar="SCENARIO",
            help="Allowed enrollment scenario; repeat for several (default: every supported "
            "scenario of the platform).",
            show_default=False,
        ),
    ] = None,
    group: Annotated[str, typer.Option(help="Device group of the enrolled devices.")] = "default",
    tag: Annotated[
        list[str] | None,
        typer.Option(help="Tag for the enrolled devices; repeat for several.", show_default=False),
    ] = None,
    expires_hours: Annotated[int, typer.Option(help="Hours until the token expires.")] = 24 * 7,
    max_uses: Annotated[
        int | None,
        typer.Option(
            help="How many devices may enroll with it (default: unlimited).", show_default=False
        ),
    ] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: Annotated[bool, JsonOption] = False,
) -> None:
    """Create an onboarding token; its secret is printed once and stored only as a digest."""
    try:
        body = OnboardingTokenCreate(
            name=name,
            platform=platform,
            scenarios=scenario or [],
            device_group=group,
            tags=tag or [],
            expires_in_hours=expires_hours,
            max_uses=max_uses,
        )
    except pydantic.ValidationError as e:
        fail(validation_message(e, _OPTION_NAMES), exit_code=2)
    settings = settings_from(data_dir=data_dir, database_url=database_url)
    now = utc_now()
    with store(settings) as sessions, transaction(sessions) as db:
        token, secret = service.create_token(db, request=body, actor="cli", now=now)
        out = presenters.token_out(token, now)
    if as_json:
        print_json({**out.model_dump(mode="json"), "token": secret})
        return
    console = stdout()
    console.print(
        f"✔ created onboarding token {out.id} {out.name!r}: "
        f"{out.platform.value if out.platform else 'android or ios'}; {_scenarios(out)}; "
        f"group {out.device_group!r}; expires {out.expires_at:%Y-%m-%d %H:%M} UTC"
    )
    console.print("The token (shown only now; store it in your MDM or a secret store):")
    console.print(secret, markup=False, soft_wrap=True)


@app.command("list")
def list_(
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: Annotated[bool, JsonOption] = False,
) -> None:
    """List onboarding tokens, newest first (secrets are never shown again)."""
    settings = settings_from(data_dir=data_dir, database_url=database_url)
    now = utc_now()
    with store(settings) as sessions, transaction(sessions) as db:
        tokens = [presenters.token_out(t, now) for t in service.list_tokens(db)]
    if as_json:
        print_json([t.model_dump(mode="json") for t in tokens])
        return
    if not tokens:
        stdout().print("no onboarding tokens yet; create one with `openmtd tokens create`")
        return
    table = Table(title="Onboarding tokens")
    for column in ("id", "name", "platform", "scenarios", "group", "tags", "uses", "expires"):
        short = column in {"id", "platform", "uses", "expires"}
        table.add_column(column, no_wrap=short, overflow="fold")
    table.add_column("state", no_wrap=True)
    for t in tokens:
        state_style = {"active": "green", "revoked": "red"}.get(t.state, "yellow")
        table.add_row(
            str(t.id),
            t.name,
            t.platform.value if t.platform else "any",
            ", ".join(s.value for s in t.scenarios) or "all supported",
            t.device_group,
            " ".join(t.tags),
            f"{t.uses}/{t.max_uses}" if t.max_uses is not None else str(t.uses),
            f"{t.expires_at:%Y-%m-%d}",
            f"[{state_style}]{t.state}[/]",
        )
    stdout().print(table)


@app.command()
def revoke(
    token_id: Annotated[
        int, typer.Argument(metavar="ID", help="The token's id (see `tokens list`).")
    ],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: Annotated[bool, JsonOption] = False,
) -> None:
    """Revoke an onboarding token: no device can enroll with it any more."""
    settings = settings_from(data_dir=data_dir, database_url=database_url)
    now = utc_now()
    with store(settings) as sessions, transaction(sessions) as db:
        out = presenters.token_out(
            service.revoke_token(db, token_id=token_id, actor="cli", now=now), now
        )
    if as_json:
        print_json(out.model_dump(mode="json"))
    else:
        stdout().print(f"✔ revoked onboarding token {out.id} {out.name!r}")


@app.command("managed-config")
def managed_config(
    token: Annotated[str, typer.Option(help="The onboarding token secret (omt_onb_…).")],
    scenario: Annotated[
        EnrollmentScenario,
        typer.Option(metavar="SCENARIO", help="The enrollment scenario, e.g. ios-supervised."),
    ],
    device_tag: Annotated[str, typer.Option(help="Tag the device reports (DeviceTag).")] = "",
    exclude_url: Annotated[
        bool | None,
        typer.Option(
            "--exclude-url/--no-exclude-url",
            help="Leave URLs out of phishing reports (default: on for personal profiles only).",
            show_default=False,
        ),
    ] = None,
    exclude_app: Annotated[
        bool | None,
        typer.Option(
            "--exclude-app/--no-exclude-app",
            help="Leave app details out of malware reports (default: on for personal "
            "profiles only).",
            show_default=False,
        ),
    ] = None,
    vuln_privacy: Annotated[
        bool | None,
        typer.Option(
            "--vuln-privacy/--no-vuln-privacy",
            help="Vulnerability privacy mode: no app inventory (default: off).",
            show_default=False,
        ),
    ] = None,
    network_privacy: Annotated[
        bool | None,
        typer.Option(
            "--network-privacy/--no-network-privacy",
            help="Network protection privacy: no SSID, BSSID or certificate details are sent "
            "(default: on).",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Write to FILE (mode 0600) instead of stdout.",
            show_default=False,
        ),
    ] = None,
    public_url: Annotated[
        str | None,
        typer.Option(help="Server URL for devices (env OPENMTD_PUBLIC_URL).", show_default=False),
    ] = None,
) -> None:
    """Render the managed configuration an MDM deploys for zero/low-touch onboarding.

    Android scenarios get managed-configuration JSON, iOS scenarios an app-configuration plist.
    """
    try:
        body = ManagedConfigRequest(
            onboarding_token=token,
            scenario=scenario,
            device_tag=device_tag,
            exclude_url_in_report=exclude_url,
            exclude_app_in_report=exclude_app,
            vulnerability_privacy_mode=vuln_privacy,
            network_protection_privacy=network_privacy,
        )
    except pydantic.ValidationError as e:
        fail(validation_message(e, _OPTION_NAMES), exit_code=2)
    settings = settings_from(public_url=public_url)
    content, _media_type, filename = service.render_managed_config(
        body, server_url=settings.public_url
    )
    if output is None:
        typer.echo(content.decode("utf-8"), nl=False)
        return
    write_private(output, content.decode("utf-8"))
    stderr().print(f"✔ wrote {output} (suggested name {filename}); it contains the token secret")
