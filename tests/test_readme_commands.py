"""Every README command that uses the Chronicles files or the cited poll corpus runs from a fresh clone, without ../shared.

The commands are taken from the README's ``sh`` blocks and run in a copy of the files a clone has
(README, examples/, the bundled data) in a folder with no ``shared`` beside it."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest

from conftest import ROOT

README = ROOT / "README.md"
USES_CHRONICLES = re.compile(r"chronicles|sottovoce/datasets|examples/polls/")


def readme_commands(text: str) -> list[str]:
    """The ``sottovoce …`` commands of the README's sh blocks (continuation lines joined)."""
    out = []
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = line.strip()
            if line.startswith("sottovoce "):
                out.append(line)
    return out


COMMANDS = [c for c in readme_commands(README.read_text(encoding="utf-8")) if USES_CHRONICLES.search(c)]


def test_the_readme_has_such_commands():
    assert len(COMMANDS) >= 8, COMMANDS
    assert not any("shared" in c for c in COMMANDS)


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    """README, examples and the bundled data, copied to a folder with no ../shared."""
    root = tmp_path_factory.mktemp("fresh") / "sottovoce"
    root.mkdir()
    shutil.copy(README, root / "README.md")
    shutil.copytree(ROOT / "examples", root / "examples")
    shutil.copytree(ROOT / "src" / "sottovoce" / "datasets", root / "src" / "sottovoce" / "datasets",
                    ignore=shutil.ignore_patterns("__pycache__"))
    assert not (root.parent / "shared").exists()
    return root


@pytest.mark.parametrize("command", COMMANDS)
def test_readme_command_runs_from_a_fresh_clone(clone, cli, monkeypatch, command):
    monkeypatch.chdir(clone)
    args = shlex.split(command, comments=True)[1:]
    for a in args:  # every file the command names is inside the clone
        if re.search(r"\.(sav|toml|csv|xlsx)$", a) and not a.startswith("-") and "out" not in a:
            p = (clone / a).resolve()
            if a.endswith(".sav") and "weighted" not in a:
                assert p.is_relative_to(clone) and p.exists(), a
    r = cli(*args)
    assert r.code == 0, f"{command}\n{r.err}"
