"""Compliance at start-up and on the scheduler's beat."""

from __future__ import annotations

import itertools
import logging

from openmtd.server.compliance import service
from openmtd.server.context import AppContext

log = logging.getLogger(__name__)


def start_compliance(ctx: AppContext) -> None:
    """Follow the settings' all-groups policy and judge again (a first batch of) what it left
    stale; the scheduler's sweep does the rest without holding up the start."""
    now = ctx.clock()
    with ctx.sessions.begin() as db:
        service.ensure_default_policy(db, settings=ctx.settings, now=now)
    sweep_compliance(ctx, batches=1)


def sweep_compliance(ctx: AppContext, *, batches: int | None = None) -> int:
    """Announce devices that went quiet and judge stale ones, in batches; returns how many."""
    done = 0
    for _ in range(batches) if batches is not None else itertools.count():
        with ctx.sessions.begin() as db:
            n = service.sweep(db, now=ctx.clock())
        done += n
        if n < service.SWEEP_BATCH:
            break
    if done:
        log.info("compliance: %d device(s) judged again", done)
    return done
