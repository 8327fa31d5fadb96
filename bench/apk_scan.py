"""APK triage: openmtd's `analyze_apk` beside androguard's `AnalyzeAPK`, on 1, 5 and 20 MB APKs.

The APKs are real (tests/apkbuild.py: aapt packages the manifest, apksigner signs v1+v2+v3).
Each is shaped like a banking trojan (accessibility service, overlay, SMS, no launcher icon,
strings the built-in YARA rules hit) and sized with real payloads: about 35% of the size in
classes.dex and 15% in classes2.dex (structurally valid dex files full of random strings, which
hardly compress), 2 x 10% in native libraries (an ELF header and random bytes), the rest a
stored asset.

Every measurement runs in a fresh interpreter per APK and tool:

- time: median of several `analyze_apk(bytes, rules=built-in rules)` calls on the bytes in
  memory (the first call is a warm-up and not counted); androguard: median of
  `AnalyzeAPK(path)` calls (manifest, signatures, every dex and the cross-reference analysis,
  which is what a triage with androguard costs), and, for reference, `APK(path)` alone
  (manifest and signatures, no dex);
- peak memory: the process's peak RSS (VmHWM, what ru_maxrss reports) minus the peak RSS of
  the same interpreter that did the same imports and setup but analysed nothing; for openmtd
  also the tracemalloc peak of one analysis (Python allocations only, YARA's C memory not included).

Goals (issue 4): a 20 MB APK triaged in <= 0.5 s; >= 10x faster than AnalyzeAPK; peak memory
<= 3x the APK size.

    python bench/apk_scan.py                  # 1, 5, 20 MB; 7 runs of ours, 3 of androguard
    python bench/apk_scan.py --quick --json   # 3 runs of ours; AnalyzeAPK once, not on 20 MB
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import resource
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import tracemalloc
import zlib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MB = 1024 * 1024
P = "android.permission."
BANKER_STRINGS = [
    "getRootInActiveWindow",
    "performGlobalAction",
    "android.settings.action.MANAGE_OVERLAY_PERMISSION",
    "inject_list",
    "android.provider.Telephony.SMS_RECEIVED",
    "getMessageBody",
    "http://panel.invalid/gate.php",
]


def _random_strings(total_bytes: int, seed: int) -> list[str]:
    rnd = random.Random(seed)
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/;$_"
    out, size = [], 0
    while size < total_bytes:
        s = "".join(rnd.choices(alphabet, k=rnd.randrange(16, 96)))
        out.append(s)
        size += len(s) + 3
    return out


# --- a dex file with code, so that AnalyzeAPK has real work (classes, methods, xrefs) ---


def _uleb(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def code_dex(n_classes, methods_per_class, extra_strings, seed=0):
    """A DEX 035 file with real code: n_classes classes (extending Object), each with
    static methods m0..m{k-1} of ()V whose code loads a string and calls another method."""
    classes = [f"Lcom/bench/gen/p{i % 97}/C{i};" for i in range(n_classes)]
    names = [f"m{j}" for j in range(methods_per_class)]
    strings = sorted(set(classes) | set(names) | {"V", "Ljava/lang/Object;"} | set(extra_strings))
    sidx = {s: i for i, s in enumerate(strings)}
    types = sorted(["V", "Ljava/lang/Object;", *classes], key=lambda s: sidx[s])
    tidx = {t: i for i, t in enumerate(types)}
    methods = sorted((tidx[c], sidx[n]) for c in classes for n in names)
    n_m = len(methods)
    rnd = random.Random(seed)
    payload = [sidx[s] for s in extra_strings] or [0]
    header = 0x70
    off_str = header
    off_type = off_str + 4 * len(strings)
    off_proto = off_type + 4 * len(types)
    off_meth = off_proto + 12
    off_cls = off_meth + 8 * n_m
    data_off = off_cls + 32 * n_classes
    data = bytearray()

    def pos():
        return data_off + len(data)

    # code items
    code_offs = []
    for i in range(n_m):
        while pos() % 4:
            data.append(0)
        code_offs.append(pos())
        target = (i * 7 + 1) % n_m
        s = payload[rnd.randrange(len(payload))]
        insns = (
            struct.pack("<HH", 0x001A, s & 0xFFFF) if s < 65536 else struct.pack("<HI", 0x001B, s)
        )
        insns += struct.pack("<HHH", 0x0071, target, 0) + struct.pack("<H", 0x000E)
        data += struct.pack("<HHHHII", 1, 0, 0, 0, 0, len(insns) // 2) + insns
    # string data
    str_offs = []
    for s in strings:
        str_offs.append(pos())
        data += _uleb(len(s)) + s.encode() + b"\0"
    # class data
    cls_offs = []
    by_class = {}
    for mi, (t, _) in enumerate(methods):
        by_class.setdefault(t, []).append(mi)
    for c in classes:
        cls_offs.append(pos())
        ms = by_class[tidx[c]]
        data += _uleb(0) + _uleb(0) + _uleb(len(ms)) + _uleb(0)
        prev = 0
        for k, mi in enumerate(ms):
            data += (
                _uleb(mi - prev if k else mi) + _uleb(0x9) + _uleb(code_offs[mi])
            )  # public static
            prev = mi
    while pos() % 4:
        data.append(0)
    map_off = pos()
    entries = [
        (0x0000, 1, 0),
        (0x0001, len(strings), off_str),
        (0x0002, len(types), off_type),
        (0x0003, 1, off_proto),
        (0x0005, n_m, off_meth),
        (0x0006, n_classes, off_cls),
        (0x2001, n_m, code_offs[0]),
        (0x2002, len(strings), str_offs[0]),
        (0x2000, n_classes, cls_offs[0]),
        (0x1000, 1, map_off),
    ]
    data += struct.pack("<I", len(entries))
    for k, n, o in entries:
        data += struct.pack("<HHII", k, 0, n, o)
    ids = bytearray()
    ids += b"".join(struct.pack("<I", o) for o in str_offs)
    ids += b"".join(struct.pack("<I", sidx[t]) for t in types)
    ids += struct.pack("<III", sidx["V"], tidx["V"], 0)
    ids += b"".join(struct.pack("<HHI", t, 0, n) for t, n in methods)
    for i, c in enumerate(classes):
        ids += struct.pack(
            "<IIIIIIII", tidx[c], 1, tidx["Ljava/lang/Object;"], 0, 0xFFFFFFFF, 0, cls_offs[i], 0
        )
    assert header + len(ids) == data_off
    size = data_off + len(data)
    h = bytearray(header)
    h[0:8] = b"dex\n035\0"
    struct.pack_into(
        "<IIIIIIIIIIIIIIIIIIII",
        h,
        32,
        size,
        header,
        0x12345678,
        0,
        0,
        map_off,
        len(strings),
        off_str,
        len(types),
        off_type,
        1,
        off_proto,
        0,
        0,
        n_m,
        off_meth,
        n_classes,
        off_cls,
        size - data_off,
        data_off,
    )
    body = h + ids + data
    body[12:32] = hashlib.sha1(bytes(body[32:])).digest()
    body[8:12] = struct.pack("<I", zlib.adler32(bytes(body[12:])))
    return bytes(body)


def sized_dex(deflated_bytes: int, strings: list[str], seed: int) -> bytes:
    """A dex with code whose deflated size is about `deflated_bytes`: about half of it methods
    (about 40 bytes each, 50 per class; at most 65,000, the dex format's limit is 65,536), the
    rest random strings (const-string operands)."""
    raw = int(deflated_bytes / 0.7)
    methods = min(65_000, max(50, raw // 2 // 40))
    filler = _random_strings(raw - methods * 40, seed)
    return code_dex(methods // 50, 50, strings + filler, seed=seed)


def build_apks(folder: Path, sizes_mb: list[int]) -> list[Path]:
    sys.path.insert(0, str(ROOT / "tests"))
    from apkbuild import Component, build_apk, pad_bytes

    paths = []
    for size in sizes_mb:
        total = size * MB
        elf = b"\x7fELF\x02\x01\x01\x00" + bytes(56)
        paths.append(
            build_apk(
                folder,
                package=f"com.bench.app{size}mb",
                permissions=[P + "SYSTEM_ALERT_WINDOW", P + "RECEIVE_SMS", P + "INTERNET"],
                services=[
                    Component(".Svc", exported=True, permission=P + "BIND_ACCESSIBILITY_SERVICE")
                ],
                receivers=[
                    Component(
                        ".Boot", exported=True, actions=("android.intent.action.BOOT_COMPLETED",)
                    )
                ],
                launcher=False,
                dex=sized_dex(int(total * 0.35), BANKER_STRINGS, seed=size),
                extra_files={"classes2.dex": sized_dex(int(total * 0.15), [], seed=size + 1)},
                native_libs={
                    "lib/arm64-v8a/libcore.so": elf + pad_bytes(int(total * 0.10), seed=size),
                    "lib/armeabi-v7a/libcore.so": elf + pad_bytes(int(total * 0.10), seed=-size),
                },
                pad_to=total,
            )
        )
    return paths


# --- children: one fresh interpreter per (tool, APK) ----------------------------------------------


def _maxrss() -> int:
    """Peak RSS of this process in bytes since it started this interpreter.

    VmHWM of /proc/self/status, which exec resets; getrusage's ru_maxrss would carry over the
    peak of the (large) parent this child was forked from. ru_maxrss where /proc is missing.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def child_openmtd(path: str, runs: int) -> dict[str, Any]:
    from openmtd.engines.apps.analyze import analyze_apk
    from openmtd.engines.apps.yara_scan import builtin_rule_sources, compile_rules

    rules = compile_rules(builtin_rule_sources())
    if not path:
        return {"maxrss": _maxrss()}
    data = Path(path).read_bytes()
    verdict = analyze_apk(data, rules=rules)  # warm-up
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        analyze_apk(data, rules=rules)
        times.append(time.perf_counter() - t)
    rss = _maxrss()
    tracemalloc.start()
    analyze_apk(data, rules=rules)
    _, traced = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "maxrss": rss,
        "seconds": statistics.median(times),
        "runs": times,
        "tracemalloc_peak": traced,
        "verdict": verdict.verdict.value,
        "score": verdict.score,
        "factors": [f.id for f in verdict.factors],
    }


def child_androguard(path: str, runs: int, full: bool) -> dict[str, Any]:
    from loguru import logger

    logger.remove()
    from androguard.core.apk import APK
    from androguard.misc import AnalyzeAPK

    if not path:
        return {"maxrss": _maxrss()}
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        if full:
            AnalyzeAPK(path)
        else:
            APK(path)
        times.append(time.perf_counter() - t)
    return {"maxrss": _maxrss(), "seconds": statistics.median(times), "runs": times}


def in_child(tool: str, path: str, runs: int) -> dict[str, Any]:
    argv = [sys.executable, __file__, "--child", tool, path or "-", str(runs)]
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=3600)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def measure(tool: str, apk: Path, runs: int, baseline: int) -> dict[str, Any]:
    r = in_child(tool, str(apk), runs)
    size = apk.stat().st_size
    r["peak_rss_delta"] = max(0, r.pop("maxrss") - baseline)
    r["mb_per_s"] = size / MB / r["seconds"]
    return r


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer runs (under a minute)")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument("--no-peer", action="store_true", help="skip androguard")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        tool, path, runs = (
            args.child[0],
            "" if args.child[1] == "-" else args.child[1],
            int(args.child[2]),
        )
        if tool == "openmtd":
            result = child_openmtd(path, runs)
        else:
            result = child_androguard(path, runs, full=tool == "androguard")
        print(json.dumps(result))
        return

    sizes = [1, 5, 20]
    ours_runs, peer_runs = (3, 1) if args.quick else (7, 3)
    with tempfile.TemporaryDirectory(prefix="apk-bench-") as tmp:
        apks = build_apks(Path(tmp), sizes)
        base_ours = in_child("openmtd", "", 0)["maxrss"]
        base_peer = None if args.no_peer else in_child("androguard", "", 0)["maxrss"]
        rows: list[dict[str, Any]] = []
        for size, apk in zip(sizes, apks, strict=True):
            row: dict[str, Any] = {"size_mb": size, "apk_bytes": apk.stat().st_size}
            row["openmtd"] = measure("openmtd", apk, ours_runs, base_ours)
            row["androguard"] = row["androguard_apk_only"] = None
            if base_peer is not None and not (args.quick and size >= 20):
                row["androguard"] = measure("androguard", apk, peer_runs, base_peer)
                row["androguard_apk_only"] = measure("androguard-apk", apk, peer_runs, base_peer)
                row["speedup"] = row["androguard"]["seconds"] / row["openmtd"]["seconds"]
            row["memory_ratio"] = row["openmtd"]["peak_rss_delta"] / row["apk_bytes"]
            rows.append(row)

    biggest = rows[-1]
    speedups = [r["speedup"] for r in rows if "speedup" in r]
    goals = {
        "20 MB APK triaged in <= 0.5 s": biggest["openmtd"]["seconds"] <= 0.5,
        ">= 10x faster than AnalyzeAPK": bool(speedups) and min(speedups) >= 10,
        "peak memory <= 3x APK size": all(r["memory_ratio"] <= 3 for r in rows),
    }
    result = {
        "quick": args.quick,
        "runs": {"openmtd": ours_runs, "androguard": peer_runs},
        "apks": rows,
        "goals": goals,
    }
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    print(
        f"APK triage, medians of {ours_runs} runs (openmtd) / {peer_runs} (androguard), "
        "peak RSS over a fresh interpreter's"
    )
    head = f"{'APK':>8}{'openmtd s':>11}{'MB/s':>8}{'peak RSS':>10}{'x size':>8}"
    head += f"{'tracemalloc':>13}{'AnalyzeAPK s':>14}{'APK() s':>9}{'peak RSS':>10}{'speedup':>9}"
    print(head)
    for r in rows:
        o, a, a0 = r["openmtd"], r["androguard"], r["androguard_apk_only"]
        line = f"{r['apk_bytes'] / MB:>6.1f}MB{o['seconds']:>11.3f}{o['mb_per_s']:>8.0f}"
        line += f"{o['peak_rss_delta'] / MB:>8.1f}MB{r['memory_ratio']:>8.2f}"
        line += f"{o['tracemalloc_peak'] / MB:>11.1f}MB"
        if a is not None:
            line += f"{a['seconds']:>14.2f}{a0['seconds']:>9.3f}"
            line += f"{a['peak_rss_delta'] / MB:>8.0f}MB{r['speedup']:>8.0f}x"
        else:
            line += f"{'-':>14}{'-':>9}{'-':>10}{'-':>9}"
        print(line)
    print(
        "openmtd verdicts:", ", ".join(f"{r['size_mb']} MB {r['openmtd']['verdict']}" for r in rows)
    )
    for goal, met in goals.items():
        print(f"  {'met    ' if met else 'NOT MET'}  {goal}")


if __name__ == "__main__":
    main()
