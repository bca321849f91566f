"""Run the tutorial notebooks in full (``CI`` unset) and save them with their outputs, so that
they render with figures on GitHub. CI re-executes them shrunk (``pytest --nbmake``) and never
writes them.

    python tools/execute_notebooks.py [notebooks/02_inference_and_parsing.ipynb ...]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def execute(path: Path, timeout: int) -> float:
    notebook = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(
        notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": "."}}
    ).execute()
    seconds = time.perf_counter() - start
    notebook.metadata.pop("widgets", None)
    nbformat.write(notebook, path)
    return seconds


def main(args: argparse.Namespace) -> None:
    if "CI" in os.environ:
        sys.exit("unset CI: the saved notebooks show a full run, not the shrunk one")
    paths = args.notebooks or sorted(Path("notebooks").glob("*.ipynb"))
    for path in paths:
        seconds = execute(Path(path), args.timeout)
        print(f"{path}: {seconds:.0f} s", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
    main(parser.parse_args())
