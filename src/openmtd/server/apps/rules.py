"""The YARA rules APKs are judged by: the built-in folder plus the admin's folders.

The one reader of an admin's rule folder, for the server (settings.yara_rule_dirs) and for
`openmtd scan-apk --rules DIR`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

from openmtd.domain.errors import InvalidInput

MAX_RULE_FILE_BYTES = 1024 * 1024
MAX_RULE_FOLDER_BYTES = 16 * 1024 * 1024
RULE_SUFFIXES = (".yar", ".yara")
ADMIN_NAMESPACE = "admin"


def load_rule_folder(folder: Path) -> dict[str, str]:
    """The *.yar / *.yara files of an admin's folder (not subfolders) as namespace
    "admin.<file stem>" -> rule text. Files over 1 MiB, or over 16 MiB together, and text that
    is not UTF-8 are refused with an InvalidInput naming the file."""
    if not folder.is_dir():
        raise InvalidInput(f"YARA rule folder {folder}: not a folder", code="bad_rules")
    sources: dict[str, str] = {}
    total = 0
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in RULE_SUFFIXES or not path.is_file():
            continue
        size = path.stat().st_size
        total += size
        if size > MAX_RULE_FILE_BYTES:
            raise InvalidInput(
                f"{path}: {size:,} bytes, larger than the {MAX_RULE_FILE_BYTES:,}-byte limit",
                code="bad_rules",
            )
        if total > MAX_RULE_FOLDER_BYTES:
            raise InvalidInput(
                f"{folder}: rule files larger than {MAX_RULE_FOLDER_BYTES:,} bytes together",
                code="bad_rules",
            )
        try:
            sources[f"{ADMIN_NAMESPACE}.{path.stem}"] = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as e:
            raise InvalidInput(
                f"{path}: not UTF-8 text ({e.reason} at byte {e.start})", code="bad_rules"
            ) from e
        except OSError as e:
            raise InvalidInput(
                f"{path}: cannot be read: {e.strerror or e}", code="bad_rules"
            ) from e
    return sources


def rules_digest(sources: Mapping[str, str]) -> str:
    """Names the rule set: an analysis made with other rules is stale."""
    h = hashlib.sha256()
    for namespace in sorted(sources):
        h.update(namespace.encode() + b"\0" + sources[namespace].encode() + b"\0")
    return h.hexdigest()
