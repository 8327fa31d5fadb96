"""`openmtd scan-apk`: static analysis of APK files from the command line.

This is the edge of app protection: it reads the files and the admin's YARA folders, and hands
bytes and rule text to the pure engine (`openmtd.engines.apps.analyze`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from openmtd.cli.common import JsonOption, describe, fail, print_json, stderr, stdout
from openmtd.domain.apps import ApkVerdict, AppVerdictKind, ScanLimits
from openmtd.domain.errors import InvalidInput
from openmtd.engines.apps.analyze import analyze_apk, unparseable
from openmtd.engines.apps.verdict_wire import verdict_to_dict
from openmtd.engines.apps.yara_scan import Rules, builtin_rule_sources, compile_rules
from openmtd.server.apps.rules import load_rule_folder as read_rule_folder

# Exit status by the worst result, the most serious first (the same 3/4 meaning as
# `openmtd url check`: 3 = would be blocked, 4 = would be warned about).
EXIT_MALICIOUS = 3
EXIT_UNWANTED = 4
EXIT_UNPARSEABLE = 5
EXIT_UNREADABLE = 1
_PRECEDENCE = (EXIT_MALICIOUS, EXIT_UNWANTED, EXIT_UNPARSEABLE, EXIT_UNREADABLE)
_EXIT_FOR = {
    AppVerdictKind.CLEAN: 0,
    AppVerdictKind.POTENTIALLY_UNWANTED: EXIT_UNWANTED,
    AppVerdictKind.MALICIOUS: EXIT_MALICIOUS,
    AppVerdictKind.UNPARSEABLE: EXIT_UNPARSEABLE,
}
_STYLE = {
    AppVerdictKind.CLEAN: "green",
    AppVerdictKind.POTENTIALLY_UNWANTED: "yellow",
    AppVerdictKind.MALICIOUS: "bold red",
    AppVerdictKind.UNPARSEABLE: "magenta",
}


def load_rule_folder(path: Path) -> dict[str, str]:
    """The admin's YARA rules in `path` (see server.apps.rules); a bad folder is a CliError."""
    try:
        return read_rule_folder(path)
    except InvalidInput as e:
        fail(e.message)


def load_rules(folders: Sequence[Path], *, builtin: bool) -> Rules | None:
    """The built-in rules (unless `builtin` is false) and every folder's rules, compiled; None
    when there are no rules at all."""
    sources: dict[str, str] = dict(builtin_rule_sources()) if builtin else {}
    origin: dict[str, Path] = {}
    for folder in folders:
        for namespace, text in load_rule_folder(folder).items():
            if namespace in origin:
                fail(
                    f"two rule files are both named {namespace!r}: in {origin[namespace]} and "
                    f"in {folder}; rename one"
                )
            origin[namespace] = folder
            sources[namespace] = text
    if not sources:
        return None
    try:
        return compile_rules(sources)
    except ValueError as e:
        culprit = next((n for n in origin if repr(n) in str(e)), None)
        where = f" (in {origin[culprit]})" if culprit else ""
        fail(f"YARA rules do not compile{where}: {e}")


@dataclass
class FileResult:
    path: Path
    verdict: ApkVerdict | None = None
    error: str = ""  # the file could not be read
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return EXIT_UNREADABLE if self.verdict is None else _EXIT_FOR[self.verdict.verdict]

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"path": str(self.path), "error": self.error or None}
        doc.update(verdict_to_dict(self.verdict) if self.verdict else {"verdict": None})
        doc["notes"] = self.notes
        return doc


def collect(paths: Sequence[Path]) -> Iterator[tuple[Path, str]]:
    """(file, "") for every file named and every *.apk under every folder named, in order;
    (path, reason) for a path that does not exist."""
    for path in paths:
        if path.is_dir():
            yield from (
                (p, "")
                for p in sorted(path.rglob("*"))
                if p.suffix.lower() == ".apk" and p.is_file()
            )
        elif path.exists():
            yield path, ""
        else:
            yield path, "no such file or folder"


def scan_file(path: Path, rules: Rules | None, limits: ScanLimits) -> FileResult:
    result = FileResult(path)
    try:
        size = path.stat().st_size
        if size > limits.max_apk_bytes:
            result.verdict = unparseable(
                f"{size:,} bytes, larger than the {limits.max_apk_bytes:,}-byte limit"
            )
            return result
        data = path.read_bytes()
    except OSError as e:
        result.error = describe(e)
        return result
    result.verdict = analyze_apk(data, rules=rules, limits=limits, notes=result.notes)
    return result


def exit_code(results: Sequence[FileResult]) -> int:
    codes = {r.exit_code for r in results}
    return next((c for c in _PRECEDENCE if c in codes), 0)


_CN = re.compile(r"(?:^|,)CN=((?:\\.|[^,])*)")


def _signer(v: ApkVerdict) -> str:
    if v.facts is None:
        return ""
    if not v.facts.signers:
        return "[red]unsigned[/]"
    first = v.facts.signers[0]
    m = _CN.search(first.subject)
    name = m.group(1).replace("\\", "") if m else first.subject
    more = f" +{len(v.facts.signers) - 1}" if len(v.facts.signers) > 1 else ""
    return f"{escape(name)} [dim]{first.sha256[:12]}[/]{more}"


def _top_reasons(v: ApkVerdict, n: int = 3) -> str:
    if v.problem:
        return escape(v.problem)
    top = sorted(v.factors, key=lambda f: -f.weight)[:n]
    lines = [escape(f"[{f.weight}] {f.explanation}") for f in top]
    if len(v.factors) > n:
        lines.append(f"[dim]… {len(v.factors) - n} more (see --json)[/]")
    return "\n".join(lines)


def print_table(results: Sequence[FileResult]) -> None:
    counts: dict[str, int] = {}
    for r in results:
        key = r.verdict.verdict.value if r.verdict else "unreadable"
        counts[key] = counts.get(key, 0) + 1
    table = Table(
        title=f"APK scan: {len(results)} file(s)",
        caption=", ".join(f"{n} {k}" for k, n in counts.items()),
        show_lines=True,
    )
    for column in ("file", "package", "version", "signer", "verdict", "score", "top reasons"):
        table.add_column(column, overflow="fold", justify="right" if column == "score" else "left")
    for r in results:
        v = r.verdict
        if v is None:
            table.add_row(
                escape(str(r.path)), "", "", "", "[red]unreadable[/]", "", escape(r.error)
            )
            continue
        f = v.facts
        version = ""
        if f is not None:
            version = f.version_name or ""
            if f.version_code is not None:
                version += f" ({f.version_code})"
        table.add_row(
            escape(str(r.path)),
            escape(f.package) if f else "",
            escape(version),
            _signer(v),
            f"[{_STYLE[v.verdict]}]{v.verdict.value}[/] [dim]{v.confidence}[/]",
            str(v.score),
            _top_reasons(v),
        )
    out = stdout()
    out.print(table)
    for r in results:
        for note in r.notes:
            out.print(f"[dim]note: {escape(str(r.path))}: {escape(note)}[/]")


def scan_apk(
    paths: Annotated[
        list[Path],
        typer.Argument(help="APK files, or folders to search (recursively) for *.apk files."),
    ],
    rules: Annotated[
        list[Path] | None,
        typer.Option(
            "--rules",
            help="A folder of your own YARA rules (*.yar, *.yara), used in addition to the "
            "built-in rules; repeatable.",
            show_default=False,
        ),
    ] = None,
    no_builtin_rules: Annotated[
        bool, typer.Option("--no-builtin-rules", help="Do not use openmtd's built-in YARA rules.")
    ] = False,
    as_json: Annotated[bool, JsonOption] = False,
) -> None:
    """Static analysis of APKs: permissions, components, signature and YARA over the code,
    with the reasons for every verdict.

    Exit status, by the most serious result of all files (3 and 4 mean what they mean for
    `openmtd url check`: 3 would be blocked, 4 would be warned about):

    * 0: every APK is clean
    * 3: an APK is malicious
    * 4: an APK is potentially unwanted (and none is malicious)
    * 5: an APK could not be analysed (unparseable), and none of the above
    * 1: a file could not be read, or nothing to scan / bad rules (the others are still scanned)
    * 2: bad usage (unknown option, missing argument)
    """
    limits = ScanLimits()
    compiled = load_rules(rules or [], builtin=not no_builtin_rules)
    found = list(collect(paths))
    if not found:
        fail(f"no .apk files under {', '.join(map(str, paths))}")
    results: list[FileResult] = []
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=stderr(),
        transient=True,
        disable=len(found) < 2,
    ) as progress:
        task = progress.add_task("scanning", total=len(found))
        for path, missing in found:
            progress.update(task, description=f"scanning {escape(path.name)}")
            if missing:
                results.append(FileResult(path, error=missing))
            else:
                results.append(scan_file(path, compiled, limits))
            progress.advance(task)
    if as_json:
        print_json([r.to_json() for r in results])
    else:
        print_table(results)
    code = exit_code(results)
    if code:
        raise typer.Exit(code)
