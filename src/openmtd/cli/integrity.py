"""`openmtd integrity`: check attestation evidence offline and list the root/jailbreak rules.

An analyst who holds a device's key attestation chain (from a support bundle, a log, a phone on
the desk) can verify it here exactly as the server would: the same engine, the bundled Google
roots (or others), Google's revocation list from a file, at a chosen time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from rich.markup import escape
from rich.table import Table

from openmtd.cli.common import JsonOption, fail, print_json, stdout
from openmtd.domain.enums import Platform
from openmtd.domain.integrity import AttestationOutcome
from openmtd.engines.integrity.key_attestation import KeyAttestationPolicy, verify_key_attestation
from openmtd.engines.integrity.revocation import RevocationList, parse_status_json
from openmtd.engines.integrity.roots import anchors_from_pem, google_key_attestation_anchors
from openmtd.engines.integrity.signals import rules_for
from openmtd.engines.integrity.x509chain import MAX_CERTIFICATE_BYTES, MAX_CHAIN_LENGTH

app = typer.Typer(
    help="Check attestation evidence offline; list the root and jailbreak rules.",
    no_args_is_help=True,
)

EXIT_FINDINGS = 3  # accepted, but the attested device has findings
EXIT_REJECTED = 4  # the evidence does not verify


def _read_chain(files: list[Path]) -> list[bytes]:
    """DER or PEM files, leaf first; one PEM file may hold the whole chain."""
    if len(files) > MAX_CHAIN_LENGTH:
        fail(f"at most {MAX_CHAIN_LENGTH} certificate files are accepted")
    chain: list[bytes] = []
    for path in files:
        try:
            data = path.read_bytes()[: MAX_CERTIFICATE_BYTES * MAX_CHAIN_LENGTH * 2]
        except OSError as e:
            fail(f"cannot read {path}: {e.strerror or e}")
        if b"-----BEGIN CERTIFICATE-----" in data:
            try:
                certs = x509.load_pem_x509_certificates(data)
            except ValueError as e:
                fail(f"{path}: not a PEM certificate file ({e})")
            chain.extend(c.public_bytes(Encoding.DER) for c in certs)
        else:
            chain.append(data)
    return chain


def _challenge(text: str | None, hex_value: str | None) -> bytes:
    if text is not None and hex_value is not None:
        fail("give --challenge or --challenge-hex, not both", exit_code=2)
    if hex_value is not None:
        try:
            return bytes.fromhex(hex_value)
        except ValueError:
            fail(f"--challenge-hex is not hexadecimal: {hex_value!r}", exit_code=2)
    if text is None:
        fail(
            "give the challenge the key was attested with: --challenge or --challenge-hex",
            exit_code=2,
        )
    return text.encode()


@app.command("verify-android")
def verify_android(
    certificates: Annotated[
        list[Path],
        typer.Argument(
            metavar="CERT...",
            help="The chain, leaf first: DER or PEM files (one PEM file may hold all).",
        ),
    ],
    challenge: Annotated[
        str | None, typer.Option(help="The attestation challenge, as text.")
    ] = None,
    challenge_hex: Annotated[
        str | None, typer.Option(help="The attestation challenge, in hexadecimal.")
    ] = None,
    roots: Annotated[
        Path | None,
        typer.Option(help="PEM file of trusted roots (default: Google's, bundled)."),
    ] = None,
    revocation: Annotated[
        Path | None,
        typer.Option(help="Google's revocation list (status.json) as a file; none by default."),
    ] = None,
    at: Annotated[
        datetime | None,
        typer.Option(help="Verify as of this time (default: now, UTC).", show_default=False),
    ] = None,
    as_json: Annotated[bool, JsonOption] = False,
) -> None:
    """Verify an Android Key Attestation chain as the server does.

    Exit status: 0 accepted with no finding, 3 accepted with findings (for example an unlocked
    bootloader), 4 rejected (the reason says why), 1 unreadable input.
    """
    chain = _read_chain(certificates)
    nonce = _challenge(challenge, challenge_hex)
    try:
        anchors = (
            anchors_from_pem(roots.read_bytes()) if roots else google_key_attestation_anchors()
        )
        revoked = parse_status_json(revocation.read_bytes()) if revocation else RevocationList()
    except (OSError, ValueError) as e:
        fail(str(e))
    when = at or datetime.now(UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    outcome = verify_key_attestation(
        chain,
        challenge=nonce,
        policy=KeyAttestationPolicy(anchors=anchors, revocations=revoked),
        now=when,
    )
    if as_json:
        print_json(_outcome_json(outcome))
    else:
        _print_outcome(outcome)
    if not outcome.accepted:
        raise typer.Exit(EXIT_REJECTED)
    if outcome.findings:
        raise typer.Exit(EXIT_FINDINGS)


def _outcome_json(o: AttestationOutcome) -> dict[str, object]:
    return {
        "accepted": o.accepted,
        "code": o.code,
        "reason": o.reason,
        "facts": dict(o.facts),
        "findings": [
            {
                "rule_id": f.rule_id,
                "weight": f.weight,
                "conclusive": f.conclusive,
                "title": f.title,
                "explanation": f.explanation,
                "evidence": dict(f.evidence),
            }
            for f in o.findings
        ],
    }


def _print_outcome(o: AttestationOutcome) -> None:
    out = stdout()
    mark = "[green]✔ accepted[/]" if o.accepted else f"[bold red]✘ rejected ({o.code})[/]"
    out.print(f"{mark}: {escape(o.reason)}")
    if o.facts:
        facts = Table(title="Attested facts", show_header=False)
        for key, value in o.facts:
            facts.add_row(key, escape(value))
        out.print(facts)
    if o.findings:
        table = Table(title="Findings")
        for column in ("Finding", "Weight", "Why"):
            table.add_column(column)
        for f in o.findings:
            title = f"[bold red]{escape(f.title)}[/]" if f.conclusive else escape(f.title)
            table.add_row(title, str(f.weight), escape(f.explanation))
        out.print(table)


@app.command("rules")
def rules(
    platform: Annotated[Platform | None, typer.Option(help="Only this platform's rules.")] = None,
    as_json: Annotated[bool, JsonOption] = False,
) -> None:
    """The heuristic root (Android) and jailbreak (iOS) rules, with weights and explanations."""
    chosen = [r for p in Platform if platform in (None, p) for r in rules_for(p)]
    if as_json:
        print_json(
            [
                {
                    "rule_id": r.id,
                    "platform": r.platform.value,
                    "weight": r.weight,
                    "conclusive": r.conclusive,
                    "title": r.title,
                    "explanation": r.explanation,
                }
                for r in chosen
            ]
        )
        return
    table = Table(title="Integrity rules (conclusive ones alone make a device compromised)")
    for column in ("Rule", "Platform", "Weight", "Conclusive", "Title"):
        table.add_column(column)
    for r in chosen:
        table.add_row(r.id, r.platform.value, str(r.weight), "yes" if r.conclusive else "", r.title)
    stdout().print(table)
