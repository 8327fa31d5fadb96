"""Web engine: build time, memory and lookup speed at 1,000,000 indicators, beside `adblock`.

Generates N domain indicators and N/10 URL indicators, then asks 1,000,000 mixed questions
(hits on indicator domains and their subdomains, hits under URL indicators' paths, misses).
Each engine is built and queried in its own fresh process so that RSS deltas are its own:

- openmtd: `IndexLayer.build` over `Indicator`s (domains in the compact host table, URL
  indicators keyed by host); host lookups = `check_host`; full-URL lookups = `check_url`
  (Safe Browsing canonicalization included); heuristics off (they are list-free and measured
  separately by the `--heuristics` figure);
- adblock (Brave's Rust engine, the `adblock` package): the same domains as `||domain^` rules
  and URL indicators as `||host/path` rules; host lookups and full-URL lookups are both
  `check_network_urls(url, source, "other")`, with `https://host/` for a host question.

Figures: build seconds, RSS bytes per indicator, lookups/s (median of 3 passes), and whether
both engines agree on every question (they should: same rules, same questions).

    python bench/web_engine.py                  # 1,000,000 domains, 100,000 URLs, 1,000,000 lookups
    python bench/web_engine.py --quick --json   # 100,000 / 10,000 / 100,000
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing as mp
import random
import statistics
import sys
import time
from datetime import UTC, datetime
from typing import Any

import psutil

TLDS = ("com", "net", "org", "info", "co.uk", "io", "de", "ru", "xyz", "top")
WORDS = ("secure", "login", "account", "verify", "update", "bank", "pay", "mail", "cloud", "shop")


def domains(n: int, seed: int = 1) -> list[str]:
    rnd = random.Random(seed)
    return [f"{rnd.choice(WORDS)}-{i:x}{rnd.randrange(1000)}.{rnd.choice(TLDS)}" for i in range(n)]


def url_indicators(n: int, seed: int = 2) -> list[str]:
    rnd = random.Random(seed)
    return [
        f"site{rnd.randrange(n * 3)}.{rnd.choice(TLDS)}/{rnd.choice(WORDS)}/{i}" for i in range(n)
    ]


def questions(doms: list[str], urls: list[str], n: int, seed: int = 3) -> list[str]:
    """n URLs: 10% under an indicator domain (often a subdomain), 5% under a URL indicator,
    85% elsewhere (random hosts, paths and queries)."""
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        r = rnd.random()
        if r < 0.10:
            host = rnd.choice(doms)
            if rnd.random() < 0.5:
                host = f"www.{host}"
            out.append(f"https://{host}/{rnd.choice(WORDS)}.html")
        elif r < 0.15:
            out.append(f"http://{rnd.choice(urls)}/page{i}.php?id={i}")
        else:
            sub = rnd.choice(("www.", "cdn.", "", "api.", "static.img."))
            out.append(
                f"https://{sub}site{rnd.randrange(10**7)}.{rnd.choice(TLDS)}/"
                f"{rnd.choice(WORDS)}/{i}.html?q={i}"
            )
    return out


def _host(url: str) -> str:
    return url.split("/", 3)[2]


def _rss() -> int:
    return int(psutil.Process().memory_info().rss)


def run_openmtd(n_domains: int, n_urls: int, n_questions: int, q: mp.Queue) -> None:
    from openmtd.domain.web import (
        IndicatorAction,
        IndicatorMeta,
        IndicatorType,
        MatchKind,
    )
    from openmtd.engines.web.index import IndexLayer, WebIndex

    doms = domains(n_domains)
    urls = url_indicators(n_urls)
    asks = questions(doms, urls, n_questions)
    hosts = [_host(u) for u in asks]
    meta = IndicatorMeta(kind=MatchKind.FEED, source="bench", action=IndicatorAction.BLOCK)
    # What the server reads from its feed_entries table and an agent from its set file:
    # (type, canonical value, meta index) rows. Canonicalizing values is the importer's work,
    # done once when a feed is refreshed, not the index's.
    entries = [(IndicatorType.DOMAIN, d, 0) for d in doms]
    entries += [(IndicatorType.URL, u, 0) for u in urls]
    gc.collect()
    before = _rss()
    t = time.perf_counter()
    layer = IndexLayer.build_entries("bench", [meta], entries)
    build = time.perf_counter() - t
    gc.collect()
    rss = _rss() - before
    index = WebIndex([layer])
    now = datetime.now(UTC)

    def rate(fn: Any, items: list[str]) -> tuple[float, list[bool]]:
        runs = []
        verdicts: list[bool] = []
        for _ in range(3):
            t0 = time.perf_counter()
            verdicts = [fn(x, now=now).blocks for x in items]
            runs.append(len(items) / (time.perf_counter() - t0))
        return statistics.median(runs), verdicts

    host_rate, host_verdicts = rate(index.check_host, hosts)
    url_rate, url_verdicts = rate(index.check_url, asks)
    q.put(
        {
            "build_seconds": build,
            "rss_bytes": rss,
            "rss_per_indicator": rss / (n_domains + n_urls),
            "host_table_bytes": layer.nbytes,
            "host_lookups_per_s": host_rate,
            "url_lookups_per_s": url_rate,
            "host_blocked": sum(host_verdicts),
            "url_blocked": sum(url_verdicts),
            "url_verdicts": url_verdicts,
        }
    )


def run_adblock(n_domains: int, n_urls: int, n_questions: int, q: mp.Queue) -> None:
    import adblock

    doms = domains(n_domains)
    urls = url_indicators(n_urls)
    asks = questions(doms, urls, n_questions)
    hosts = [_host(u) for u in asks]
    rules = "\n".join([*(f"||{d}^" for d in doms), *(f"||{u}" for u in urls)])
    gc.collect()
    before = _rss()
    t = time.perf_counter()
    fs = adblock.FilterSet()
    fs.add_filter_list(rules)
    engine = adblock.Engine(filter_set=fs, optimize=True)
    build = time.perf_counter() - t
    del rules, fs
    gc.collect()
    rss = _rss() - before
    src = "https://example.invalid/"

    def rate(items: list[str]) -> tuple[float, list[bool]]:
        runs = []
        verdicts: list[bool] = []
        for _ in range(3):
            t0 = time.perf_counter()
            verdicts = [engine.check_network_urls(u, src, "other").matched for u in items]
            runs.append(len(items) / (time.perf_counter() - t0))
        return statistics.median(runs), verdicts

    host_rate, host_verdicts = rate([f"https://{h}/" for h in hosts])
    url_rate, url_verdicts = rate(asks)
    q.put(
        {
            "build_seconds": build,
            "rss_bytes": rss,
            "rss_per_indicator": rss / (n_domains + n_urls),
            "host_lookups_per_s": host_rate,
            "url_lookups_per_s": url_rate,
            "host_blocked": sum(host_verdicts),
            "url_blocked": sum(url_verdicts),
            "url_verdicts": url_verdicts,
        }
    )


def heuristics_rate(n: int) -> dict[str, float]:
    """Lookalike checks on hosts no indicator decides (cache cold: distinct hosts)."""
    from openmtd.engines.web.index import WebIndex
    from openmtd.engines.web.lookalike import LookalikeDetector, LookalikePolicy

    index = WebIndex([], lookalike=LookalikeDetector(LookalikePolicy()))
    hosts = [f"www.site{i}.example{i % 97}.com" for i in range(n)]
    now = datetime.now(UTC)
    t0 = time.perf_counter()
    for h in hosts:
        index.check_host(h, now=now)
    cold = n / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for h in hosts:
        index.check_host(h, now=now)
    warm = n / (time.perf_counter() - t0)
    return {"cold_per_s": cold, "warm_per_s": warm}


def in_process(target: Any, *args: Any) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    q: mp.Queue = ctx.Queue()
    p = ctx.Process(target=target, args=(*args, q))
    p.start()
    result = q.get()
    p.join()
    return dict(result)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="100,000 domains (under a minute)")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument("--no-peer", action="store_true", help="skip adblock")
    args = parser.parse_args()
    n_domains = 100_000 if args.quick else 1_000_000
    n_urls = n_domains // 10
    n_questions = 100_000 if args.quick else 1_000_000
    ours = in_process(run_openmtd, n_domains, n_urls, n_questions)
    peer = None if args.no_peer else in_process(run_adblock, n_domains, n_urls, n_questions)
    agree = None
    if peer is not None:
        agree = sum(a == b for a, b in zip(ours["url_verdicts"], peer["url_verdicts"], strict=True))
    ours.pop("url_verdicts")
    if peer is not None:
        peer.pop("url_verdicts")
    heur = heuristics_rate(20_000 if args.quick else 100_000)
    result: dict[str, Any] = {
        "domains": n_domains,
        "urls": n_urls,
        "questions": n_questions,
        "openmtd": ours,
        "adblock": peer,
        "agreeing_url_verdicts": agree,
        "heuristics": heur,
    }
    if peer is not None:
        result["ratios"] = {
            "build_speedup": peer["build_seconds"] / ours["build_seconds"],
            "rss_ratio": peer["rss_per_indicator"] / max(ours["rss_per_indicator"], 1e-9),
            "host_lookup_ratio": ours["host_lookups_per_s"] / peer["host_lookups_per_s"],
            "url_lookup_ratio": ours["url_lookups_per_s"] / peer["url_lookups_per_s"],
        }
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    print(f"{n_domains:,} domain + {n_urls:,} URL indicators, {n_questions:,} questions")
    rows = [
        ("build (s)", "build_seconds", "{:.2f}"),
        ("RSS per indicator (B)", "rss_per_indicator", "{:.0f}"),
        ("host lookups/s", "host_lookups_per_s", "{:,.0f}"),
        ("full-URL lookups/s", "url_lookups_per_s", "{:,.0f}"),
        ("URL questions blocked", "url_blocked", "{:,}"),
    ]
    print(f"{'':26}{'openmtd':>14}{'adblock':>14}")
    for label, key, fmt in rows:
        theirs = fmt.format(peer[key]) if peer else "-"
        print(f"{label:26}{fmt.format(ours[key]):>14}{theirs:>14}")
    if agree is not None:
        print(f"verdicts agreeing: {agree:,} of {n_questions:,}")
    print(
        f"lookalike heuristics: {heur['cold_per_s']:,.0f}/s cold, {heur['warm_per_s']:,.0f}/s warm"
    )


if __name__ == "__main__":
    main()
