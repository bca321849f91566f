"""Seconds until each command prints its first line (stdout or stderr) or ends, as a new user
would run it. Each command is stopped once it has printed, except quick ones that finish.
Prints one JSON object on its last line: command -> seconds (and whether it had finished).

    python benchmarks/first_output.py [--image PNG] [--data-dir D]
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import subprocess
import sys
import tempfile
import time


def first_output(argv: list[str], limit: float = 60.0) -> dict:
    proc = subprocess.Popen(
        [sys.executable, "-m", "gns_pyro.cli", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    start = time.perf_counter()
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    sel.register(proc.stderr, selectors.EVENT_READ)
    try:
        while time.perf_counter() - start < limit:
            for key, _ in sel.select(timeout=0.1):
                if key.fileobj.read1(1 << 16):
                    return {"seconds": round(time.perf_counter() - start, 1), "first": "line"}
            if proc.poll() is not None:
                return {"seconds": round(time.perf_counter() - start, 1), "first": "exit"}
        return {"seconds": None, "first": f"nothing in {limit:.0f} s"}
    finally:
        proc.kill()
        proc.wait()


def main(args) -> dict:
    tmp = tempfile.mkdtemp()
    data = ["--data-dir", args.data_dir] if args.data_dir else []
    commands = {
        "demo": ["demo", "--out", f"{tmp}/demo"],
        "sample": ["sample", "--n", "36", "--out", f"{tmp}/s.png"],
        "parse": ["parse", args.image],
        "marginal": ["marginal", args.image],
        "exemplars": ["exemplars", args.image, "--out", f"{tmp}/e.png"],
        "classify": [
            "classify",
            "--select",
            "1",
            "--out",
            f"{tmp}/c",
            *(["--runs", args.data_dir] if args.data_dir else []),
        ],
        "likelihood": ["likelihood", "--n", "2", "--out", f"{tmp}/l", *data],
        "parse-eval": ["parse-eval", "--n", "2", "--out", f"{tmp}/p", *data],
        "train": ["train", "--out", f"{tmp}/t", "--epochs", "1", *data],
        "data info": ["data", "info", *data],
        "data check-render": ["data", "check-render", "--n", "500", *data],
    }
    return {name: first_output(argv) for name, argv in commands.items()}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", required=True, help="a 105x105 character PNG")
    parser.add_argument("--data-dir", default=os.environ.get("GNS_PYRO_DATA"))
    print(json.dumps(main(parser.parse_args())))
