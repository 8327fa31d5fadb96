"""The web-protection policy: one document, like the reference product's configuration keys."""

from __future__ import annotations

from datetime import datetime
from ipaddress import IPv4Address, IPv6Address
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from sqlalchemy.orm import Session

from openmtd.domain.web import IndicatorAction
from openmtd.engines.web.canonical import InvalidUrl, canonical_host
from openmtd.engines.web.lookalike import HEURISTICS, LookalikePolicy
from openmtd.server.audit.service import record
from openmtd.server.web.sync import bump
from openmtd.store.models import WebPolicy

POLICY_ROW = 1
WEB_POLICY_GENERATION = "web-policy"  # bumped with every save (and the agents' generation)

DomainName = Annotated[str, StringConstraints(min_length=1, max_length=253)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PerPlatform(_Strict):
    android: bool = True
    ios: bool = True


class HeuristicsPolicy(_Strict):
    """List-free lookalike detection of protected brands."""

    enabled: bool = True
    protected_domains: Annotated[list[DomainName], Field(max_length=200)] = Field(
        default_factory=list,
        description="The organisation's own registrable domains (added to the built-in brands).",
    )
    include_builtin_brands: bool = True
    known_good: Annotated[list[DomainName], Field(max_length=1000)] = Field(
        default_factory=list, description="Registrable domains never flagged as lookalikes."
    )
    actions: dict[
        Literal["confusable", "edit-distance", "embedding", "mixed-script"], IndicatorAction
    ] = Field(default_factory=dict, description="Per heuristic; Warn when not set.")
    disabled: list[Literal["confusable", "edit-distance", "embedding", "mixed-script"]] = Field(
        default_factory=list
    )

    @field_validator("protected_domains", "known_good")
    @classmethod
    def _canonical(cls, values: list[str]) -> list[str]:
        out = []
        for v in values:
            try:
                out.append(canonical_host(v))
            except InvalidUrl as e:
                raise ValueError(f"{v!r}: {e.message}") from e
        return sorted(set(out))

    def lookalike_policy(self) -> LookalikePolicy:
        return LookalikePolicy(
            protected=tuple(self.protected_domains),
            include_builtin=self.include_builtin_brands,
            actions=tuple(sorted(self.actions.items())),
            disabled=frozenset(self.disabled),
            known_good=tuple(self.known_good),
        )


class DnsPolicy(_Strict):
    """How protective DNS (DoH and the agent's listener) answers a blocked name."""

    block_mode: Literal["address", "nxdomain"] = Field(
        default="address",
        description="'address': answer with the block-page address; 'nxdomain': the name "
        "does not exist.",
    )
    block_ipv4: IPv4Address = Field(default=IPv4Address("0.0.0.0"))
    block_ipv6: IPv6Address = Field(default=IPv6Address("::"))
    blocked_ttl: int = Field(default=60, ge=0, le=86400)


class WebPolicyBody(_Strict):
    """Web protection per platform (the reference product's anti-phishing and VPN keys)."""

    anti_phishing: PerPlatform = Field(default_factory=PerPlatform)
    local_proxy: PerPlatform = Field(
        default_factory=PerPlatform,
        description="The agent's local proxy / VPN that enforces verdicts on the device.",
    )
    heuristics: HeuristicsPolicy = Field(default_factory=HeuristicsPolicy)
    dns: DnsPolicy = Field(default_factory=DnsPolicy)


assert set(HEURISTICS) == {"confusable", "edit-distance", "embedding", "mixed-script"}


def load_policy(db: Session) -> WebPolicyBody:
    row = db.get(WebPolicy, POLICY_ROW)
    return WebPolicyBody.model_validate(row.body) if row else WebPolicyBody()


def save_policy(db: Session, *, body: WebPolicyBody, actor: str, now: datetime) -> None:
    """Store the policy, audit it, and bump the agents' policy generation (their next sync
    downloads it). The caller commits, then calls ctx.web.changed()."""
    row = db.get(WebPolicy, POLICY_ROW)
    data = body.model_dump(mode="json")
    if row is None:
        db.add(WebPolicy(id=POLICY_ROW, body=data, updated_at=now, updated_by=actor))
    else:
        row.body = data
        row.updated_at = now
        row.updated_by = actor
    record(db, actor=actor, action="web_policy.update", target="web_policy", now=now)
    bump(db, WEB_POLICY_GENERATION, now=now)
