import json
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_concepts_and_parses_example():
    out = subprocess.run(
        [
            sys.executable,
            str(EXAMPLES / "concepts_and_parses.py"),
            "--n",
            "2",
            "--k",
            "2",
            "--steps",
            "3",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(result["concepts"]) == 2
    for row in result["concepts"]:
        assert row["strokes"] >= 1 and row["parsed_strokes"] >= 1
        assert abs(sum(row["weights"]) - 1) < 1e-2
