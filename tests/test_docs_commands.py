"""Every ``gns-pyro`` command quoted in README.md and in the documentation pages parses with the
real command line at ``--help`` level: the subcommand exists, every flag is one of its options,
a flag with fixed choices is given one of them, and a command with arguments has as many
positional arguments as the subcommand takes.

Commands are read from code blocks (Markdown fences, reStructuredText ``::`` and
``.. code-block::`` blocks) and from inline literals, with line continuations joined, shell
comments dropped, ``&&``/``||``/``;``/pipes split, and ``VAR=value`` prefixes skipped. Option
values are never parsed (their type functions may touch the file system): the check walks the
parser's actions instead.
"""

from __future__ import annotations

import argparse
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest

from gns_pyro.cli import build_parser

REPO_ROOT = Path(__file__).resolve().parents[1]
DOC_FILES = [REPO_ROOT / "README.md"] + sorted(
    p
    for p in (REPO_ROOT / "docs").rglob("*")
    if p.suffix in {".rst", ".md"} and "_build" not in p.parts
)
PROGRAM = "gns-pyro"


@dataclass(frozen=True)
class Quoted:
    """One command as quoted in a file: where it is, and its words after ``gns-pyro``."""

    where: str
    words: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.where}: {PROGRAM} {' '.join(self.words)}"


# --- reading the quoted text ---------------------------------------------------------------


def _markdown_snippets(text: str) -> list[tuple[int, str]]:
    """(line number, text) of every fenced code block and every inline literal."""
    snippets, prose = [], []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].lstrip().startswith("```"):
            start, body = i + 1, []
            i += 1
            while i < len(lines) and not lines[i].lstrip().startswith("```"):
                body.append(lines[i])
                i += 1
            snippets.append((start + 1, "\n".join(body)))
        else:
            prose.append((i + 1, lines[i]))
        i += 1
    snippets += _inline(prose, re.compile(r"`([^`]+)`"))
    return snippets


# a code directive, or a paragraph ending in "::" (not a directive such as ".. list-table::")
_LITERAL_BLOCK = re.compile(r"^\s*\.\. (code-block|code|sourcecode)::|^(?!\s*\.\. ).*::\s*$")


def _rst_snippets(text: str) -> list[tuple[int, str]]:
    """(line number, text) of every literal block and every inline literal."""
    snippets, prose = [], []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        prose.append((i + 1, line))
        i += 1
        if not _LITERAL_BLOCK.match(line):
            continue  # other directives (tables, figures) hold prose, read for inline literals
        indent = len(line) - len(line.lstrip())
        start, body = i + 1, []
        while i < len(lines) and (
            not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent
        ):
            body.append(lines[i])
            i += 1
        snippets.append((start, "\n".join(body)))
    snippets += _inline(prose, re.compile(r"``(.+?)``", re.S))
    return snippets


def _inline(prose: list[tuple[int, str]], pattern: re.Pattern) -> list[tuple[int, str]]:
    """Inline literals of the prose lines (a literal may run over a line break)."""
    starts, joined = [], []
    offset = 0
    for number, line in prose:
        starts.append((offset, number))
        joined.append(line)
        offset += len(line) + 1
    text = "\n".join(joined)
    found = []
    for match in pattern.finditer(text):
        number = max(n for o, n in starts if o <= match.start())
        found.append((number, match.group(1).replace("\n", " ")))
    return found


_SUBSTITUTION = re.compile(r"\$\(\(.*?\)\)|\$\([^)]*\)")
_SEPARATOR = re.compile(r"&&|\|\||;|\|")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def commands_in(snippet: str) -> list[tuple[str, ...]]:
    """The words after ``gns-pyro`` of each command in a shell snippet."""
    snippet = re.sub(r"\\\n\s*", " ", snippet)  # line continuations
    found = []
    for line in snippet.splitlines():
        line = _SUBSTITUTION.sub("N", line)
        for segment in _SEPARATOR.split(line):
            try:
                words = shlex.split(segment, comments=True)
            except ValueError:  # an unbalanced quote: prose, not a command
                continue
            while words and (_ASSIGNMENT.match(words[0]) or words[0] in {"(", "time"}):
                words = words[1:]
            if len(words) < 2 or words[0] != PROGRAM:
                continue  # not a command, or the program's bare name
            words = [w.strip("[]") for w in words[1:]]  # `[--json]`: an optional flag
            found.append(tuple(w for w in words if w and w != "..."))
    return found


def quoted_commands(path: Path) -> list[Quoted]:
    """Every ``gns-pyro`` command quoted in one README or docs file."""
    text = path.read_text(encoding="utf-8")
    reader = _markdown_snippets if path.suffix == ".md" else _rst_snippets
    name = path.relative_to(REPO_ROOT).as_posix()
    return [
        Quoted(f"{name}:{number}", words)
        for number, snippet in reader(text)
        if PROGRAM in snippet
        for words in commands_in(snippet)
    ]


# --- checking one command against the parser ------------------------------------------------


def _subparsers(parser: argparse.ArgumentParser):
    found = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return found[0] if found else None


def _takes(action: argparse.Action) -> int | None:
    """How many words an option consumes (``None``: all up to the next option)."""
    nargs = action.nargs
    if nargs is None or nargs == "?":
        return 1
    if isinstance(nargs, int):
        return nargs
    return None


def problems(words: tuple[str, ...], parser: argparse.ArgumentParser | None = None) -> list[str]:
    """What is wrong with ``gns-pyro <words>``; empty when it parses at ``--help`` level."""
    parser = parser or build_parser()
    words = list(words)
    path = []
    while (sub := _subparsers(parser)) is not None:
        options = {o for a in parser._actions for o in a.option_strings}
        while words and words[0].startswith("-"):
            if words[0] not in options:
                return [f"{' '.join([PROGRAM, *path])} has no option {words[0]}"]
            if words[0] in {"-h", "--help", "--version"}:
                return []
            words.pop(0)
        if not words:
            return [f"{' '.join([PROGRAM, *path])} needs a subcommand"]
        name = words.pop(0)
        if name not in sub.choices:
            return [f"{' '.join([PROGRAM, *path])} has no subcommand {name!r}"]
        path.append(name)
        parser = sub.choices[name]
    command = " ".join([PROGRAM, *path])
    named_only = not words  # a bare `gns-pyro parse` names the command, with no arguments
    by_flag = {o: a for a in parser._actions for o in a.option_strings}
    found, positionals, asked_help = [], [], False
    while words:
        word = words.pop(0)
        if word.startswith("-") and len(word) > 1 and not re.fullmatch(r"-\d.*", word):
            flag, _, inline_value = word.partition("=")
            action = by_flag.get(flag)
            if action is None:
                found.append(f"{command} has no option {flag}")
                continue
            asked_help |= flag in {"-h", "--help"}
            values = [inline_value] if inline_value else []
            count = 0 if inline_value else _takes(action)
            while words and (count is None or len(values) < count):
                if words[0].startswith("-") and (count is None or action.nargs == "?"):
                    break
                values.append(words.pop(0))
            for value in values:
                concrete = not re.fullmatch(r"[A-Z_][A-Z0-9_.]*", value)  # not a placeholder
                if action.choices is not None and concrete and value not in action.choices:
                    found.append(f"{command} {flag}: {value!r} is not one of {action.choices}")
        else:
            positionals.append(word)
    if asked_help or named_only:
        return found
    expected = [a for a in parser._actions if not a.option_strings]
    least = sum(
        a.nargs if isinstance(a.nargs, int) else 1
        for a in expected
        if a.nargs is None or isinstance(a.nargs, int) or a.nargs == "+"
    )
    unbounded = any(a.nargs in ("*", "+", argparse.REMAINDER) for a in expected)
    most = sum(a.nargs if isinstance(a.nargs, int) else 1 for a in expected)
    if len(positionals) < least:
        found.append(f"{command} takes {least} positional argument(s), got {positionals}")
    if not unbounded and len(positionals) > most:
        found.append(f"{command} takes at most {most} positional argument(s), got {positionals}")
    return found


# --- the tests ------------------------------------------------------------------------------

QUOTED = [command for path in DOC_FILES for command in quoted_commands(path)]


@pytest.fixture(scope="module")
def parser() -> argparse.ArgumentParser:
    return build_parser()


def test_the_docs_quote_enough_commands_for_the_check_to_mean_something():
    files = {q.where.split(":")[0] for q in QUOTED}
    assert len(QUOTED) > 10, [str(q) for q in QUOTED]
    assert "README.md" in files
    assert any(f.startswith("docs/") for f in files)


@pytest.mark.parametrize("quoted", QUOTED, ids=str)
def test_every_quoted_command_parses_with_the_real_command_line(quoted, parser):
    assert problems(quoted.words, parser) == [], str(quoted)


@pytest.mark.parametrize(
    "snippet",
    [
        "gns-pyro classify --select 1-10 --no-such-flag",
        "gns-pyro clasify --select 1-10",
        "gns-pyro data download --what everything",
        "gns-pyro parse IMAGE.png OTHER.png --k 5",
        "gns-pyro --no-such-option sample",
    ],
)
def test_the_check_refuses_made_up_commands(snippet, parser):
    (words,) = commands_in(snippet)
    assert problems(words, parser)


def test_commands_are_read_through_shell_syntax():
    snippet = (
        "# a comment: gns-pyro not-a-command\n"
        "OMP_NUM_THREADS=1 gns-pyro parse-eval --n 40 \\\n"
        "    --seed 0 --json | tee out.txt && gns-pyro data info --json  # trailing\n"
        "gns-pyro parse-eval --n 40 --shard $((SLURM_ARRAY_TASK_ID + 1))/8\n"
        "echo gns-pyro\n"
    )
    assert commands_in(snippet) == [
        ("parse-eval", "--n", "40", "--seed", "0", "--json"),
        ("data", "info", "--json"),
        ("parse-eval", "--n", "40", "--shard", "N/8"),
    ]
    assert commands_in("gns-pyro sample --n 4 [--json] [--exemplars 9]") == [
        ("sample", "--n", "4", "--json", "--exemplars", "9")
    ]


def test_inline_literals_and_blocks_are_both_read(tmp_path):
    page = tmp_path / "page.rst"
    page.write_text(
        "Run ``gns-pyro sample --n 2``\nor this::\n\n    gns-pyro demo --out demo\n\nDone.\n",
        encoding="utf-8",
    )
    readme = tmp_path / "page.md"
    readme.write_text(
        "Run `gns-pyro sample\n--n 2` or\n\n```bash\ngns-pyro demo --out demo\n```\n",
        encoding="utf-8",
    )
    for path in (page, readme):
        text = path.read_text(encoding="utf-8")
        reader = _markdown_snippets if path.suffix == ".md" else _rst_snippets
        words = sorted(w for _, s in reader(text) for w in commands_in(s))
        assert words == [("demo", "--out", "demo"), ("sample", "--n", "2")]
