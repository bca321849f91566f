"""Throughput of ``parse-eval`` on 1, 2 and 4 local submitit workers, measured in one run.

Each setting parses the same seeded Tagalog drawings into a fresh result folder (nothing is
reused), with ``--threads`` left at its default (the machine's cores shared by the workers,
at least one each). Prints one JSON object on its last line: per worker count the wall
seconds, drawings per minute, and the speed-up over one worker.

    python benchmarks/workers.py [--n 8] [--workers 1 2 4] [--data-dir D]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time


def main(args: argparse.Namespace) -> dict:
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for workers in args.workers:
            out = os.path.join(tmp, f"w{workers}")
            cmd = [sys.executable, "-m", "gns_pyro.cli", "parse-eval", "--n", str(args.n)]
            cmd += ["--out", out, "--workers", str(workers), "--json", "--quiet"]
            if args.data_dir:
                cmd += ["--data-dir", args.data_dir]
            start = time.perf_counter()
            done = subprocess.run(cmd, capture_output=True, text=True, check=True)
            wall = time.perf_counter() - start
            summary = json.loads(done.stdout.strip().splitlines()[-1])
            assert summary["images"] == args.n, summary
            rows[workers] = {"wall_seconds": round(wall, 1), "per_minute": args.n / wall * 60}
    base = rows[args.workers[0]]["wall_seconds"]
    for row in rows.values():
        row["speedup"] = round(base / row["wall_seconds"], 2)
    return {"cores": os.cpu_count(), "drawings": args.n, "workers": rows}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--data-dir", default=None)
    print(json.dumps(main(parser.parse_args())))
