"""Static analysis of one APK, bytes in, verdict out: manifest and signature factors plus YARA
over its code. Never raises: whatever the bytes, the answer is a verdict (UNPARSEABLE with the
reason when they cannot be analysed)."""

from __future__ import annotations

from openmtd.domain.apps import ApkVerdict, AppVerdictKind, RiskFactor, ScanLimits
from openmtd.engines.apps.apk import ApkUnparseable, read_apk
from openmtd.engines.apps.risk import static_verdict
from openmtd.engines.apps.yara_scan import DEFAULT_TIMEOUT_S, Rules, scan


def unparseable(problem: str) -> ApkVerdict:
    return ApkVerdict(AppVerdictKind.UNPARSEABLE, 0, "high", problem=problem)


def analyze_apk(
    data: bytes,
    *,
    rules: Rules | None,
    limits: ScanLimits = ScanLimits(),
    yara_timeout_s: int = DEFAULT_TIMEOUT_S,
    notes: list[str] | None = None,
) -> ApkVerdict:
    """read_apk -> static factors + YARA over every dex and native library -> verdict.

    `rules=None` skips YARA. Members YARA could not finish (timeouts, errors, oversized members)
    are appended to `notes`. A member the parser refuses while it is inflated (a zip bomb inside
    classes.dex, say) makes the APK unparseable, with the facts read so far kept on the verdict.
    """
    try:
        parsed = read_apk(data, limits)
    except ApkUnparseable as e:
        return unparseable(e.reason)
    except Exception as e:  # a parser bug must not take the caller down (never raise)
        return unparseable(f"internal error while reading the APK: {type(e).__name__}: {e}")
    yara_factors: list[RiskFactor] = []
    try:
        if rules is not None:
            yara_factors = scan(
                rules,
                parsed.scan_members(),
                timeout_s=yara_timeout_s,
                max_bytes=limits.max_yara_bytes,
                notes=notes,
            )
        return static_verdict(parsed.facts, yara_factors)
    except ApkUnparseable as e:
        verdict = unparseable(e.reason)
    except Exception as e:
        verdict = unparseable(f"internal error while scanning the APK: {type(e).__name__}: {e}")
    return ApkVerdict(verdict.verdict, 0, "high", problem=verdict.problem, facts=parsed.facts)
