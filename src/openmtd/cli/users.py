"""`openmtd users`: console users, written directly through the store (actor "cli")."""

from __future__ import annotations

from typing import Annotated

import pydantic
import typer

from openmtd.cli.common import (
    DatabaseUrl,
    DataDir,
    JsonOption,
    fail,
    print_json,
    settings_from,
    stdout,
    store,
    validation_message,
)
from openmtd.domain.enums import Role
from openmtd.server import presenters
from openmtd.server.context import utc_now
from openmtd.server.schemas import UserCreate
from openmtd.server.security import MIN_PASSWORD_LENGTH
from openmtd.server.users.service import create_user
from openmtd.store.db import transaction

app = typer.Typer(help="Console users.", no_args_is_help=True, rich_markup_mode="markdown")


def read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = typer.get_text_stream("stdin").readline()
        password = line.rstrip("\r\n")
        if not password:
            fail("--password-stdin: no password on standard input")
        return password
    prompted: str = typer.prompt(
        f"Password (at least {MIN_PASSWORD_LENGTH} characters)",
        hide_input=True,
        confirmation_prompt=True,
        err=True,
    )
    return prompted


@app.command("create-admin")
def create_admin(
    username: Annotated[str, typer.Option(help="Login name of the new admin.")],
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin",
            help="Read the password from the first line of standard input (for scripts); "
            "otherwise it is prompted for twice.",
        ),
    ] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: Annotated[bool, JsonOption] = False,
) -> None:
    """Create a console admin (the first one, or another), directly in the database."""
    password = read_password(password_stdin)
    try:
        body = UserCreate(username=username, password=password, role=Role.ADMIN)
    except pydantic.ValidationError as e:
        fail(validation_message(e, {"username": "--username", "password": "password"}))
    settings = settings_from(data_dir=data_dir, database_url=database_url)
    with store(settings) as sessions, transaction(sessions) as db:
        user = create_user(
            db,
            username=body.username,
            password=body.password,
            role=Role.ADMIN,
            actor="cli",
            now=utc_now(),
        )
        db.flush()
        out = presenters.user_out(user)
    if as_json:
        print_json(out.model_dump(mode="json"))
    else:
        stdout().print(f"✔ created admin {out.username!r} (user {out.id})")
