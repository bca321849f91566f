import io

from gns_pyro.progress import Progress


def test_one_line_per_item_when_not_a_terminal():
    out = io.StringIO()
    with Progress(3, "likelihood", file=out) as progress:
        for name in ("a", "b", "c"):
            progress.update(f"{name}: -300.0 nats")
    lines = out.getvalue().splitlines()
    assert len(lines) == 4 and lines[0] == "likelihood: 3 item(s) to do"  # at once, then one each
    assert lines[1].startswith("likelihood 1/3: a: -300.0 nats (")
    assert lines[-1].startswith("likelihood 3/3: c:") and "~0 s left" in lines[-1]


def test_quiet_reports_nothing():
    out = io.StringIO()
    with Progress(2, "classify", quiet=True, file=out) as progress:
        progress.update("x")
        progress.update("y")
    assert out.getvalue() == "" and progress.done == 2


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_bar_on_a_terminal():
    out = _Terminal()
    with Progress(2, "parse-eval", file=out) as progress:
        progress.update("first")
        progress.update("second")
    text = out.getvalue()
    assert "parse-eval" in text and "2/2" in text and "\n" not in text.rstrip("\n").split("\r")[-1]


def test_stages_print_one_line_each_with_the_time_so_far():
    from gns_pyro.progress import Stages

    out = io.StringIO()
    stages = Stages("parse", file=out)
    stages("212 stroke proposals")
    stages("refined")
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and lines[0].startswith("parse: 212 stroke proposals (")
    assert lines[1].endswith(" s)")
    quiet = io.StringIO()
    Stages("parse", quiet=True, file=quiet)("x")
    assert quiet.getvalue() == ""
