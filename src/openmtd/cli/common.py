"""What every command shares: settings, the store, output (Rich or one JSON document), errors.

Failures are reported in one place, `OneLineErrors.main`: a one-line reason on stderr and a
non-zero exit (2 for bad usage, 1 for everything else), never a traceback for an expected error.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import pydantic
import typer
from rich.console import Console
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from typer._click.exceptions import NoArgsIsHelpError
from typer.core import TyperGroup

from openmtd.agent.client import AgentError
from openmtd.agent.onboarding import OnboardingError
from openmtd.agent.runner import DeviceMismatch
from openmtd.agent.state import StateError
from openmtd.config import Settings
from openmtd.domain.errors import OpenMTDError
from openmtd.store.db import make_engine, make_session_factory, migrate

JsonOption = typer.Option("--json", help="Print one JSON document on stdout instead of text.")
DataDir = Annotated[
    Path | None,
    typer.Option(help="Server data folder (env OPENMTD_DATA_DIR).", show_default=False),
]
DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        help="Database URL, e.g. postgresql+psycopg://user@host/db (env OPENMTD_DATABASE_URL; "
        "default: SQLite in the data folder).",
        show_default=False,
    ),
]


class CliError(Exception):
    """A failure to report as one line on stderr; exit code 2 means bad usage."""

    def __init__(self, message: str, *, exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def fail(message: str, *, exit_code: int = 1) -> NoReturn:
    raise CliError(message, exit_code=exit_code)


_EXPECTED = (CliError, OpenMTDError, AgentError, OnboardingError, StateError, DeviceMismatch)


def one_line(text: str) -> str:
    return " ".join(text.split())


def describe(exc: BaseException) -> str:
    """The one-line reason for an expected failure."""
    if isinstance(exc, pydantic.ValidationError):
        return validation_message(exc)
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    if isinstance(exc, SQLAlchemyError):
        orig = getattr(exc, "orig", None)
        detail = str(orig or exc).strip().splitlines()
        return f"database error: {detail[0] if detail else type(exc).__name__}"
    return one_line(str(getattr(exc, "message", "") or exc))


def validation_message(exc: pydantic.ValidationError, names: dict[str, str] | None = None) -> str:
    """'invalid --tag: String should match pattern …' for the first problem."""
    first = exc.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else "input"
    shown = (names or {}).get(field, field)
    return one_line(f"invalid {shown}: {first['msg']}")


class OneLineErrors(TyperGroup):
    """The root command: expected failures become one line on stderr and a non-zero exit."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        err = Console(stderr=True, highlight=False, soft_wrap=True)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except NoArgsIsHelpError as e:
            typer.echo(e.format_message(), err=True)
            code = 2
        except typer.TyperException as e:  # usage errors: unknown option, bad value …
            err.print(f"error: {one_line(e.format_message())} (see --help)", markup=False)
            code = getattr(e, "exit_code", 2)
        except typer.Abort:
            err.print("aborted", markup=False)
            code = 1
        except (*_EXPECTED, pydantic.ValidationError, SQLAlchemyError, OSError) as e:
            err.print(f"error: {describe(e)}", markup=False)
            code = getattr(e, "exit_code", 1) if isinstance(e, CliError) else 1
        except KeyboardInterrupt:
            err.print("interrupted", markup=False)
            code = 130
        else:
            code = rv if isinstance(rv, int) else 0
        if not standalone_mode:
            return code
        sys.exit(code)


def settings_from(**overrides: Any) -> Settings:
    """Settings from the environment (OPENMTD_*), with the options the user gave on top."""
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**given)
    except pydantic.ValidationError as e:
        raise CliError(validation_message(e)) from e


@contextmanager
def store(settings: Settings) -> Iterator[sessionmaker[Session]]:
    """The database of `settings`, migrated (so a first `users create-admin` works)."""
    engine = make_engine(settings.resolved_database_url())
    try:
        if settings.migrate_on_start:
            migrate(engine)
        yield make_session_factory(engine)
    finally:
        engine.dispose()


def stdout() -> Console:
    return Console(highlight=False)


def stderr() -> Console:
    return Console(stderr=True, highlight=False)


def print_json(document: Any) -> None:
    """One JSON document on stdout (the machine interface of every reporting command)."""
    typer.echo(json.dumps(document, indent=2, default=str, ensure_ascii=False))
