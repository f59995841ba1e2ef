"""The documentation cannot rot: the tutorial's code runs and prints what it shows, and the API
page matches the package.

* Every ```python block of docs/tutorial.md is executed, in order, in one namespace
  (docs/llm.md: tests/test_llm_analytic.py). When a
  ```text block follows it, the printed output must match that block.
* Every ```console block is a sequence of ``$ qtheory ...`` commands, each followed by its
  expected output; the command is run in-process through :func:`qtheory.cli.main`.
* docs/api.md must equal the output of docs/make_api.py.

Outputs are compared line by line; numbers match within a relative 1e-6 (so that the last printed
digit may differ between platforms), everything else exactly up to runs of whitespace. An expected
line that is exactly ``...`` matches any number of output lines (as in doctest's ELLIPSIS).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import re
import shlex
import warnings
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
TUTORIAL = DOCS / "tutorial.md"
KNOWN_LANGUAGES = {"python", "text", "console"}

_FENCE = re.compile(r"^```([\w-]*)[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """``(language, body)`` of every fenced code block, in order."""
    return [(m.group(1).lower(), m.group(2)) for m in _FENCE.finditer(text)]


def _tokens(line: str):
    parts = _NUMBER.split(line)
    numbers = [float(v) for v in _NUMBER.findall(line)]
    return [" ".join(p.split()) for p in parts], numbers


def lines_match(expected: str, actual: str) -> bool:
    e_text, e_num = _tokens(expected)
    a_text, a_num = _tokens(actual)
    if e_text != a_text or len(e_num) != len(a_num):
        return False
    return all(a == pytest.approx(e, rel=1e-6, abs=1e-12) for e, a in zip(e_num, a_num))


def output_matches(expected: str, actual: str) -> bool:
    """Line-by-line comparison with ``...`` lines as wildcards."""
    exp = [ln for ln in expected.strip("\n").splitlines()]
    act = [ln for ln in actual.strip("\n").splitlines()]

    @cache
    def match(i: int, j: int) -> bool:
        if i == len(exp):
            return j == len(act)
        if exp[i].strip() == "...":
            return any(match(i + 1, k) for k in range(j, len(act) + 1))
        return j < len(act) and lines_match(exp[i], act[j]) and match(i + 1, j + 1)

    return match(0, 0)


def test_output_matching_rules():
    assert output_matches("a 1.0000001 b\n", "a 1.0 b")
    assert not output_matches("a 1.1 b", "a 1.0 b")
    assert not output_matches("a 1.0 b", "a 1.0 c")
    assert output_matches("x\n...\ny", "x\n1\n2\ny")
    assert output_matches("x\n...\ny", "x\ny")
    assert not output_matches("x\ny", "x\n1\ny")


def test_tutorial_has_only_known_blocks():
    blocks = fenced_blocks(TUTORIAL.read_text(encoding="utf-8"))
    assert sum(lang == "python" for lang, _ in blocks) >= 10
    assert {lang for lang, _ in blocks} <= KNOWN_LANGUAGES
    for (lang, _), nxt in zip(blocks, [*blocks[1:], ("", "")]):
        if nxt[0] == "text":
            assert lang == "python", "a text block must follow a python block"


#: Pages whose python blocks are run, in order, in one namespace per page (docs/llm.md
#: is run by tests/test_llm_analytic.py).
RUN_PAGES = ("tutorial.md",)


@pytest.mark.parametrize("page", RUN_PAGES)
def test_python_blocks_run_and_print_what_they_show(page):
    path = DOCS / page
    blocks = fenced_blocks(path.read_text(encoding="utf-8"))
    namespace: dict = {"__name__": "__tutorial__"}
    for k, (lang, body) in enumerate(blocks):
        if lang != "python":
            continue
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf), warnings.catch_warnings():
            warnings.simplefilter("error")  # the tutorial must run warning-free
            exec(compile(body, f"{path.name}[block {k}]", "exec"), namespace)
        nxt = blocks[k + 1] if k + 1 < len(blocks) else ("", "")
        if nxt[0] == "text":
            assert output_matches(nxt[1], buf.getvalue()), (
                f"{page} block {k} printed:\n{buf.getvalue()}\nbut the page shows:\n{nxt[1]}")


def _console_commands(body: str):
    """``(command, expected output)`` pairs of a console block."""
    out, cmd, expected = [], None, []
    for line in body.splitlines():
        if line.startswith("$ "):
            if cmd is not None:
                out.append((cmd, "\n".join(expected)))
            cmd, expected = line[2:].strip(), []
        else:
            expected.append(line)
    if cmd is not None:
        out.append((cmd, "\n".join(expected)))
    return out


def test_tutorial_console_blocks():
    from qtheory.cli import main

    blocks = [b for lang, b in fenced_blocks(TUTORIAL.read_text(encoding="utf-8"))
              if lang == "console"]
    assert blocks
    for body in blocks:
        commands = _console_commands(body)
        assert commands, f"a console block without a '$ ' command:\n{body}"
        for cmd, expected in commands:
            argv = shlex.split(cmd)
            if argv[:3] == ["python", "-m", "qtheory.cli"]:
                argv = argv[3:]
            else:
                assert argv[0] == "qtheory", f"not a qtheory command: {cmd}"
                argv = argv[1:]
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                rc = main(argv)
            assert rc == 0, f"{cmd} exited with {rc}"
            assert output_matches(expected, buf.getvalue()), (
                f"{cmd} printed:\n{buf.getvalue()}\nbut the tutorial shows:\n{expected}")


def test_api_page_is_up_to_date():
    spec = importlib.util.spec_from_file_location("make_api", DOCS / "make_api.py")
    make_api = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_api)
    current = (DOCS / "api.md").read_text(encoding="utf-8")
    assert current == make_api.render(), "docs/api.md is stale: run python docs/make_api.py"
