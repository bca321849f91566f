import argparse

import pytest

from gns_pyro.cli import argtypes, main


@pytest.mark.parametrize(
    "kind, text, value",
    [
        (argtypes.positive_int, "3", 3),
        (argtypes.nonnegative_int, "0", 0),
        (argtypes.seed, "0", 0),
        (argtypes.seed, str(2**32 - 1), 2**32 - 1),
        (argtypes.positive_float, "0.5", 0.5),
        (argtypes.open_fraction, "0.1", 0.1),
    ],
)
def test_accepts(kind, text, value):
    assert kind(text) == value


@pytest.mark.parametrize(
    "kind, text, message",
    [
        (argtypes.positive_int, "0", "at least 1"),
        (argtypes.positive_int, "-5", "at least 1"),
        (argtypes.positive_int, "abc", "whole number"),
        (argtypes.positive_int, "2.5", "whole number"),
        (argtypes.nonnegative_int, "-1", "0 or more"),
        (argtypes.seed, "-1", "seed"),
        (argtypes.seed, str(2**63), "seed"),
        (argtypes.positive_float, "nan", "finite"),
        (argtypes.positive_float, "inf", "finite"),
        (argtypes.positive_float, "0", "above 0"),
        (argtypes.positive_float, "x", "a number"),
        (argtypes.open_fraction, "1", "between 0 and 1"),
    ],
)
def test_refuses_with_a_message(kind, text, message):
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        kind(text)


@pytest.mark.parametrize(
    "argv",
    [
        ["sample", "--temperature", "nan"],
        ["sample", "--seed", "-1"],
        ["sample", "--n", "0"],
        ["sample", "--n", "100000"],
        ["parse", "image.png", "--steps", "-5"],
        ["parse", "image.png", "--k", "0"],
        ["exemplars", "image.png", "--k", "0"],
        ["classify", "--keep", "0"],
        ["classify", "--k", "0"],
        ["likelihood", "--n", "abc"],
        ["train", "--lr", "inf"],
        ["train", "--val-fraction", "1.5"],
    ],
)
def test_cli_refuses_bad_numbers_in_one_line(argv, capsys):
    """argparse stops before any work: exit 2, one line naming the option, no traceback."""
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("gns-pyro ") and "error: argument --" in err[-1]
    assert argv[-2] in err[-1] and "Traceback" not in "\n".join(err)


def test_png_file(tmp_path):
    assert argtypes.png_file(str(tmp_path / "a.png")) == str(tmp_path / "a.png")
    assert argtypes.png_file(str(tmp_path / "A.PNG"))
    for bad, message in [
        (tmp_path / "missing" / "a.png", "does not exist"),
        (tmp_path / "a.txt", "must end in .png"),
        (tmp_path / "a", "must end in .png"),
    ]:
        with pytest.raises(argparse.ArgumentTypeError, match=message):
            argtypes.png_file(str(bad))
    (tmp_path / "d.png").mkdir()
    with pytest.raises(argparse.ArgumentTypeError, match="is a folder"):
        argtypes.png_file(str(tmp_path / "d.png"))
    # a folder that is not one says what it is instead
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    (tmp_path / "file").write_text("")
    for folder, message in [
        ("loop", "loop of symbolic links"),
        ("dangling", "symbolic link to nothing"),
        ("file", "is not a folder"),
    ]:
        with pytest.raises(argparse.ArgumentTypeError, match=message):
            argtypes.png_file(str(tmp_path / folder / "a.png"))


def test_out_folder(tmp_path):
    assert argtypes.out_folder(str(tmp_path / "new" / "deeper"))  # created later, by the task
    (tmp_path / "file").write_text("x")
    with pytest.raises(argparse.ArgumentTypeError, match="is a file"):
        argtypes.out_folder(str(tmp_path / "file"))
    with pytest.raises(argparse.ArgumentTypeError, match="is a file"):
        argtypes.out_folder(str(tmp_path / "file" / "below"))


@pytest.mark.parametrize(
    "argv",
    [
        ["parse", "image.png", "--out", "{tmp}/missing/parses.png"],
        ["parse", "image.png", "--out", "{tmp}/parses.txt"],
        ["sample", "--out", "{tmp}"],
        ["classify", "--out", "{tmp}/file"],
        ["likelihood", "--out", "{tmp}/file/below"],
    ],
)
def test_cli_checks_outputs_before_work(argv, tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    argv = [a.format(tmp=tmp_path) for a in argv]
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    assert "error: argument --out" in capsys.readouterr().err.strip().splitlines()[-1]


def _commands(parser):
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from ((f"{name} {n}".strip(), p) for n, p in _commands(sub))
    yield "", parser


def test_every_count_on_the_command_line_has_an_upper_bound_shown_in_help():
    """No count option takes an unbounded whole number (``exemplars --n 100000000`` ran out
    of memory): each is an ``argtypes.count`` whose range ``--help`` prints."""
    from gns_pyro.cli import argtypes, build_parser

    unbounded, counts = [], 0
    for name, parser in _commands(build_parser()):
        for action in parser._actions:
            if action.type in (int, argtypes.positive_int, argtypes.nonnegative_int):
                unbounded.append(f"{name} {action.option_strings}")
            bounds = getattr(action.type, "bounds", None)
            if bounds is not None:
                counts += 1
                shown = parser._get_formatter()._get_help_string(action)
                assert shown.endswith(f"[{bounds[0]} to {bounds[1]:,}]"), (name, shown)
    assert unbounded == [] and counts >= 40


def test_a_count_outside_its_range_is_refused_by_name():
    from gns_pyro.cli.argtypes import count

    k = count(1, 50)
    assert k("50") == 50 and k.bounds == (1, 50)
    for bad in ("0", "51", "1000000000", "²", "1" * 40, "five"):
        with pytest.raises(argparse.ArgumentTypeError):
            k(bad)
