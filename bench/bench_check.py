"""Benchmark ``auditor check``: a configuration of 50 audits sharing 5 providers' feeds, each
feed served by a local HTTPS server, run from a warm cache (every feed answered 304).

Run from the repository root, with the test extra installed (trustme makes the local CA)::

    python bench/bench_check.py
    python bench/bench_check.py --audits 50 --feeds 5 --repeat 5 --json bench/out/check.json

It prints the warm run's time (process start to exit, median), how many requests each feed
URL got per run (once is the target: audits sharing a URL share its fetch), and whether the
target (under 5 s) is met. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tests"))

import bench as core  # noqa: E402 - the shared helpers of bench/bench.py

TARGET_S = 5.0


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def feed(rng: random.Random, n: int) -> bytes:
    lines = {
        f"{rng.randint(11, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.0/24" for _ in range(n)
    }
    return ("\n".join(sorted(lines)) + "\n").encode()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--audits", type=int, default=50)
    parser.add_argument("--feeds", type=int, default=5)
    parser.add_argument("--entries", type=int, default=2000, help="CIDRs per feed")
    parser.add_argument("--repeat", type=int, default=5, help="warm runs (median)")
    parser.add_argument("--seed", type=int, default=core.DEFAULT_SEED)
    parser.add_argument("--json", type=Path, metavar="FILE", help="also save the figures here")
    args = parser.parse_args(argv)
    import trustme
    from httpd import FeedServer, Reply

    rng = random.Random(args.seed)
    cmd = core.auditor_command()
    server = FeedServer(trustme.CA())
    try:
        with tempfile.TemporaryDirectory(prefix="bench-check-") as tmp:
            work = Path(tmp)
            urls = []
            bodies = []
            for i in range(args.feeds):
                body = feed(rng, args.entries)
                bodies.append(body)
                server.route(f"/feed{i}.txt", Reply(body=body, etag=f'"feed-{i}"'))
                urls.append(server.url(f"/feed{i}.txt"))
            lines = [
                "defaults:",
                f"  ca_bundle: {server.ca_bundle}",
                f"  cache_dir: {work / 'cache'}",
                "  timeout: 30",
                "audits:",
            ]
            for a in range(args.audits):
                k = a % args.feeds
                cidrs = bodies[k].decode().split()
                kept = rng.sample(cidrs, len(cidrs) * 9 // 10)  # a tenth of each feed missing
                (work / f"allow{a}.txt").write_text("\n".join(kept) + "\n")
                lines += [
                    f"  audit{a}:",
                    f"    expected: ['text:{urls[k]}']",
                    f"    declared: [allow{a}.txt]",
                    f"    outputs: {{json: reports/audit{a}.json}}",
                ]
            config = work / "audits.yaml"
            config.write_text("\n".join(lines) + "\n")
            state = work / "state"
            state.mkdir()
            run = [*cmd, "check", str(config), "--state-dir", str(state), "-q"]
            cold, _, code, err = core.run_child(run)
            if code not in (0, 1):
                raise SystemExit(f"auditor check exited {code}: {err}")
            walls = []
            per_run: list[Counter[str]] = []
            for _ in range(args.repeat):
                seen = len(server.requests)
                wall, _, code, err = core.run_child(run)
                if code not in (0, 1):
                    raise SystemExit(f"auditor check exited {code}: {err}")
                walls.append(wall)
                per_run.append(Counter(r.path for r in server.requests[seen:]))
    finally:
        server.stop()
    warm = statistics.median(walls)
    fetched = {path: max(c[path] for c in per_run) for path in per_run[0]}
    once = all(n == 1 for n in fetched.values()) and len(fetched) == args.feeds
    print(f"auditor check: {args.audits} audits, {args.feeds} feeds of {args.entries} CIDRs")
    print(f"  cold run (200s)              {cold:.3f} s")
    print(f"  warm run (304s), median of {args.repeat}  {warm:.3f} s")
    print(f"  requests per feed URL a run  {sorted(set(fetched.values()))}")
    print("targets")
    ok = warm < TARGET_S
    print(f"  {'met   ' if ok else 'MISSED'} warm run under {TARGET_S:g} s: {warm:.3f} s")
    print(f"  {'met   ' if once else 'MISSED'} each feed URL fetched once a run")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        figures = {"cold_s": cold, "warm_s": warm, "walls": walls, "requests": fetched}
        args.json.write_text(json.dumps(figures, indent=2))
    return 0 if once else 1


if __name__ == "__main__":
    sys.exit(main())
