"""The tutorial notebook in docs/ runs top to bottom (nbclient) from the repository root."""

from __future__ import annotations

import pytest

from conftest import ROOT


def test_tutorial_notebook_runs():
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(ROOT / "docs" / "tutorial-series.ipynb", as_version=4)
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "published: 17%" in text and "consistent supporters of the war: 17.2%" in text
    assert "of 53 published figures reproduced" in text and "True" in text
