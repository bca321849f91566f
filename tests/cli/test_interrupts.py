"""Ctrl-C ends the command line promptly even inside one long C call (gns_pyro.cli.interrupts)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

# One matrix product of 250 GFLOP (several seconds on one thread): Python cannot raise
# KeyboardInterrupt until it returns, so only the watchdog can end the process sooner.
LONG_C_CALL = """
import sys, torch
from gns_pyro.cli.interrupts import exit_now, start_interrupt_watchdog
torch.set_num_threads(1)
watching = start_interrupt_watchdog("gns-pyro: interrupted")
a = torch.randn(5000, 5000)
print("ready", watching, flush=True)
try:
    a @ a
except KeyboardInterrupt:
    exit_now(130, "gns-pyro: interrupted")
print("finished", flush=True)
"""


def _start(code: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # as in a terminal (a background launch would start it with SIGINT ignored)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def test_the_watchdog_ends_a_long_c_call_within_a_second():
    proc = _start(LONG_C_CALL)
    try:
        assert proc.stdout.readline().split() == ["ready", "True"]
        time.sleep(0.3)  # inside the product now
        proc.send_signal(signal.SIGINT)
        sent = time.monotonic()
        code = proc.wait(timeout=60)
        took = time.monotonic() - sent
    finally:
        proc.kill()
    assert code == 130
    assert proc.stderr.read().strip().splitlines() == ["gns-pyro: interrupted"]  # said once
    assert took < 1.5, f"took {took:.2f} s"
    assert "finished" not in proc.stdout.read()


def test_without_the_watchdog_the_same_call_runs_on():
    """The control: the same script with the watchdog left out answers only after the product,
    so the test above measures the watchdog, not a fast machine."""
    code = LONG_C_CALL.replace(
        'watching = start_interrupt_watchdog("gns-pyro: interrupted")', "watching = True"
    )
    proc = _start(code)
    try:
        assert proc.stdout.readline().split() == ["ready", "True"]
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        sent = time.monotonic()
        proc.wait(timeout=120)
        took = time.monotonic() - sent
    finally:
        proc.kill()
    assert took > 1.5


def test_the_watchdog_stays_out_where_sigint_is_ignored():
    code = (
        "import signal; signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        "from gns_pyro.cli.interrupts import start_interrupt_watchdog\n"
        "print(start_interrupt_watchdog('x'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
