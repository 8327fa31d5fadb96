"""The YARA rules APKs are judged by: the built-in folder plus the admin's folders."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

from openmtd.domain.errors import InvalidInput

MAX_RULE_FILE_BYTES = 4 * 1024 * 1024
RULE_SUFFIXES = (".yar", ".yara")


def load_rule_folder(folder: Path) -> dict[str, str]:
    """Every *.yar / *.yara file of an admin's folder as namespace "admin.<stem>" -> source."""
    if not folder.is_dir():
        raise InvalidInput(f"YARA rule folder {str(folder)!r} does not exist", code="bad_rules")
    sources: dict[str, str] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in RULE_SUFFIXES or not path.is_file():
            continue
        if path.stat().st_size > MAX_RULE_FILE_BYTES:
            raise InvalidInput(
                f"YARA rule file {str(path)!r} is larger than "
                f"{MAX_RULE_FILE_BYTES // (1024 * 1024)} MiB",
                code="bad_rules",
            )
        try:
            sources[f"admin.{path.stem}"] = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise InvalidInput(
                f"YARA rule file {str(path)!r} cannot be read: {e}", code="bad_rules"
            ) from e
    return sources


def rules_digest(sources: Mapping[str, str]) -> str:
    """Names the rule set: an analysis made with other rules is stale."""
    h = hashlib.sha256()
    for namespace in sorted(sources):
        h.update(namespace.encode() + b"\0" + sources[namespace].encode() + b"\0")
    return h.hexdigest()
