"""Console sign-ins are audited, and repeated failures for one username are throttled."""

from __future__ import annotations

from typing import Any

from console_helpers import Browser, make_user
from sqlalchemy import select

from conftest import FakeClock
from openmtd.server.security import MAX_FAILED_SIGN_INS
from openmtd.store.models import AuditEntry


def audit_actions(app: Any) -> list[tuple[str, str]]:
    with app.state.ctx.sessions() as db:
        return [
            (e.action, e.target) for e in db.scalars(select(AuditEntry).order_by(AuditEntry.id))
        ]


def test_sign_ins_and_failures_are_audited(app: Any, clock: FakeClock) -> None:
    name = make_user(app, clock, "analyst")
    browser = Browser(app)
    assert browser.login(name, "not the password").status_code == 401
    assert browser.login(name).status_code == 303
    actions = audit_actions(app)
    assert ("auth.sign_in_failed", f"user:{name}") in actions
    assert actions[-1] == ("auth.sign_in", f"user:{name}")


def test_failures_beyond_the_limit_are_refused_even_with_the_right_password(
    app: Any, clock: FakeClock
) -> None:
    name = make_user(app, clock, "admin")
    browser = Browser(app)
    for _ in range(MAX_FAILED_SIGN_INS):
        assert browser.login(name, "guess").status_code == 401
    throttled = browser.login(name)
    assert throttled.status_code == 429
    assert "too many failed sign-ins" in throttled.text
    # Another user is not affected.
    other = make_user(app, clock, "read-only")
    assert Browser(app).login(other).status_code == 303
    # After the window the right password works again.
    clock.advance(minutes=16)
    assert browser.login(name).status_code == 303
