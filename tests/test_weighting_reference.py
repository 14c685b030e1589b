"""Raking, post-stratification and trimming agree with R's ``survey`` (fixtures in tests/reference/weighting).

The fixtures come from ``tests/reference/weighting/rake_reference.R`` (R ``survey::rake`` and
``survey::postStratify`` run to convergence, epsilon 1e-11, and ``survey::trimWeights(strict = TRUE)``);
rerun it with ``Rscript`` to refresh.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sottovoce.weighting import poststratify, rake, trim

REF = Path(__file__).parent / "reference" / "weighting"
SHARES = {
    "sex": {1: 0.462, 2: 0.538},
    "age": {"18-29": 0.17, "30-44": 0.29, "45-59": 0.25, "60+": 0.29},
    "region": {1: 0.35, 2: 0.2, 3: 0.2, 4: 0.15, 5: 0.1},
}


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return pd.read_csv(REF / "data.csv")


@pytest.fixture(scope="module")
def ref() -> pd.DataFrame:
    return pd.read_csv(REF / "rake_weights.csv")


def _rel(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.where(b == 0, 1.0, np.abs(b))))


def test_rake_equal_weights_matches_r(data, ref):
    assert _rel(rake(data, SHARES, tol=1e-13), ref["equal"]) < 1e-8


def test_rake_input_weights_with_zeros_matches_r(data, ref):
    w = rake(data, SHARES, "w", tol=1e-13)
    assert (data["w"] == 0).sum() == 7 and (w[data["w"] == 0] == 0).all()
    assert _rel(w, ref["input"]) < 1e-8


def test_rake_counts_matches_r(data, ref):
    counts = {k: {c: v * 110e6 for c, v in t.items()} for k, t in SHARES.items()}
    assert _rel(rake(data, counts, tol=1e-13), ref["counts"]) < 1e-8


def test_rake_row_order_and_labels_do_not_matter(data, ref):
    shuffled = data.sample(frac=1.0, random_state=3)
    shuffled.attrs["value_labels"] = {"sex": {1: "male", 2: "female"}}
    margins = {**SHARES, "sex": {"female": 0.538, "male": 0.462}}
    w = rake(shuffled, margins, "w", tol=1e-13)
    assert _rel(w.sort_index(), ref["input"]) < 1e-8


def test_poststratify_matches_r(data):
    targets = pd.read_csv(REF / "poststratify_targets.csv")
    expected = pd.read_csv(REF / "poststratify_weights.csv")["poststratified"]
    w = poststratify(data, ["sex", "age"], {(r.sex, r.age): r.share for r in targets.itertuples()}, weights="w")
    assert _rel(w, expected) < 1e-10


def test_trim_equal_redistribution_matches_r_trimweights(data):
    """``redistribute="equal"`` is R's ``trimWeights(strict = TRUE)`` (bounds relative to the mean)."""
    pos = data[data["w"] > 0]
    expected = pd.read_csv(REF / "trim_weights.csv")
    assert (expected["id"].to_numpy() == pos["id"].to_numpy()).all()
    capped = trim(pos["w"].to_numpy(), upper=2.5, redistribute="equal")
    floored = trim(pos["w"].to_numpy(), upper=2.5, lower=0.4, redistribute="equal")
    assert _rel(capped, expected["capped"]) < 1e-12
    assert _rel(floored, expected["capped_floored"]) < 1e-12
    # The default (proportional, Potter 1990) differs from R's but respects the same bounds and total.
    prop = trim(pos["w"].to_numpy(), upper=2.5, lower=0.4)
    assert prop.sum() == pytest.approx(pos["w"].sum()) and _rel(prop, expected["capped_floored"]) > 1e-3


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("Rscript") is None, reason="R is not installed")
def test_fixtures_are_what_the_r_script_writes(tmp_path):
    """Rerun the R script in a scratch folder; its output must equal the committed fixtures."""
    probe = subprocess.run(["Rscript", "-e", "library(survey)"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip("R package 'survey' is not installed")
    for name in ("data.csv", "rake_reference.R"):
        shutil.copy(REF / name, tmp_path / name)
    subprocess.run(["Rscript", "rake_reference.R"], cwd=tmp_path, check=True, capture_output=True, timeout=120)
    for name in ("rake_weights.csv", "poststratify_weights.csv", "trim_weights.csv"):
        fresh, kept = pd.read_csv(tmp_path / name), pd.read_csv(REF / name)
        assert _rel(fresh.to_numpy(), kept.to_numpy()) < 1e-12
