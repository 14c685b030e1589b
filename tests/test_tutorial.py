"""The tutorial notebook in docs/ runs top to bottom (nbclient) from the repository root, on the
public API only, and writes nothing into the repository (its report goes to the temporary
directory the test provides through TMPDIR)."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from conftest import ROOT

NOTEBOOK = ROOT / "docs" / "tutorial-series.ipynb"
# files Python, pytest and hypothesis write anywhere; everything else new in the tree is the notebook's
_TOOL_FILES = re.compile(r"(^|/)(__pycache__|\.pytest_cache|\.hypothesis|\.ruff_cache|\.mypy_cache)(/|$)")


def _tree_files() -> set[str]:
    """Every file git sees in the working tree, tracked or not, ignored or not (bar tool caches)."""
    out = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=all", "--ignored"],
                         capture_output=True, text=True, check=True).stdout
    return {line[3:] for line in out.splitlines() if not _TOOL_FILES.search(line[3:]) and not line[3:].startswith(".venv/")}


def test_tutorial_uses_only_the_public_api():
    code = "\n".join("".join(c["source"]) for c in json.loads(NOTEBOOK.read_text())["cells"] if c["cell_type"] == "code")
    assert re.findall(r"^[ \t]*(?:from|import)[ \t]+\S+", code, re.M) == ["import warnings", "from pathlib", "import sottovoce", "import tempfile"]
    assert not re.search(r"\b_[a-z]\w*\(", code), "a private helper is called"
    assert "to_csv" not in code and "unlink" not in code


def test_tutorial_notebook_runs(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the kernel inherits it: tempfile.mkdtemp() lands here
    before = _tree_files()
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "published: 17%" in text and "consistent supporters of the war: 17.2%" in text
    assert "of 53 published figures reproduced" in text and "True" in text
    assert _tree_files() - before == set(), "the notebook wrote into the repository"
    assert list(tmp_path.glob("*/chronicles-report/report.html")), "the report did not go to the test's directory"
