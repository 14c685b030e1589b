"""Shared fixtures: paths to the real data in ../shared and a CLI runner."""

from __future__ import annotations

import io
import json
import os
import sys
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# ../shared beside the repository (as in CI); SOTTOVOCE_SHARED points elsewhere (e.g. from a git
# worktree), else the nearest ../shared up the tree that holds data.
SHARED = Path(os.environ.get("SOTTOVOCE_SHARED") or next(
    (p / "shared" for p in ROOT.parents if (p / "shared" / "data").is_dir()), ROOT.parent / "shared"))
CHRONICLES = SHARED / "data" / "chronicles"
WAVE1 = CHRONICLES / "chronicles-01-2022-02-28.sav"
WAVE2 = CHRONICLES / "chronicles-02-2022-03-10.sav"


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    def json(self) -> dict:
        return json.loads(self.out)


def run_cli(*args: str) -> CliResult:
    """Run the ``sottovoce`` CLI in-process and capture its exit code, stdout and stderr."""
    from sottovoce.cli import main

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main([str(a) for a in args])
    return CliResult(code, out.getvalue(), err.getvalue())


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture
def wave1() -> Path:
    if not WAVE1.exists():
        pytest.skip("real data ../shared/data/chronicles not present")
    return WAVE1


@pytest.fixture
def wave2() -> Path:
    if not WAVE2.exists():
        pytest.skip("real data ../shared/data/chronicles not present")
    return WAVE2


def pytest_configure(config):
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 5000))


@pytest.fixture(scope="module")
def browser():
    """Debian chromium through Playwright, once per module (tests/browser_support.py; skips without it)."""
    from browser_support import launch

    yield from launch()


@pytest.fixture
def browser_for_one_test():
    """The same, for one test in a module that is not all browser tests: Playwright keeps an event
    loop running while a browser is open, which later ``asyncio.run`` calls in the module refuse."""
    from browser_support import launch

    yield from launch()
