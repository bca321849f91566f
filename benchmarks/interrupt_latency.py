"""How long ``gns-pyro`` takes to end after Ctrl-C, at several moments of its work.

Starts a command (``demo`` and ``sample --n 200``) with SIGINT at its default disposition, as a
terminal would, sends SIGINT after each delay, and reports the seconds from the signal to the
process's end, its exit status and its last stderr line. The promise is "about a second".

    GNS_PYRO_DATA=../shared/omniglot OMP_NUM_THREADS=1 python benchmarks/interrupt_latency.py
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time

COMMANDS = {
    "demo": ["demo", "--out", "{tmp}/demo"],
    "sample": ["sample", "--n", "200", "--out", "{tmp}/s.png"],
}


def interrupt_after(command: list[str], delay: float) -> dict:
    """Run ``gns-pyro command``, send SIGINT after ``delay`` seconds; what happened."""
    with tempfile.TemporaryDirectory() as tmp:
        argv = [sys.executable, "-m", "gns_pyro.cli"] + [c.format(tmp=tmp) for c in command]
        proc = subprocess.Popen(
            argv,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        sent = time.monotonic()
        status = proc.wait(timeout=60)
        took = time.monotonic() - sent
        lines = proc.stderr.read().strip().splitlines()
    return {"status": status, "seconds": round(took, 3), "last_line": lines[-1] if lines else ""}


def main(args: argparse.Namespace) -> dict:
    rows = []
    for name in args.commands:
        for delay in args.delays:
            row = {"command": name, "delay": delay, **interrupt_after(COMMANDS[name], delay)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    seconds = [r["seconds"] for r in rows]
    summary = {"cases": len(rows), "max_seconds": max(seconds), "min_seconds": min(seconds)}
    print(json.dumps(summary))
    return summary


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--commands", nargs="+", choices=sorted(COMMANDS), default=sorted(COMMANDS))
    p.add_argument("--delays", nargs="+", type=float, default=[0.3, 1.0, 2.0, 4.0, 8.0])
    return p.parse_args(argv)


if __name__ == "__main__":
    main(parse_args())
