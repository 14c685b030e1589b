"""Poll dynamics (Jackman 2005 pooling): references, closed forms, invariances, CLI and bad input."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sottovoce.dynamics import fit_trend, read_polls
from sottovoce.dynamics.kalman import augmented_state_filter
from sottovoce.trend_sources import read_poll_files

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "polls"
DAY0 = pd.Timestamp("2022-01-01")


def simulate_polls(seed: int, n_days: int = 120, n_polls: int = 60, houses=None, sigma: float = 0.004,
                   field_days: int = 0) -> tuple[pd.DataFrame, np.ndarray, dict]:
    """Plant a random-walk trend and house effects; draw polls from it."""
    rng = np.random.default_rng(seed)
    houses = houses or {"A": 0.03, "B": -0.01, "C": -0.02}
    alpha = 0.5 + np.cumsum(np.r_[0.0, rng.normal(0, sigma, n_days - 1)])
    names = list(houses)
    h = np.array(names)[np.arange(n_polls) % len(names)]
    t = rng.integers(0, n_days, n_polls)
    n = rng.integers(800, 2000, n_polls)
    p = alpha[t] + np.array([houses[k] for k in h])
    y = rng.normal(p, np.sqrt(p * (1 - p) / n))
    start = DAY0 + pd.to_timedelta(t, unit="D")
    df = pd.DataFrame({"pollster": h, "start": start, "end": start + pd.Timedelta(days=field_days), "n": n, "yes": 100 * y})
    return df, alpha, houses


def dense_reference(res, sigma2: float):
    """Universal kriging / GLS on the full covariance: diffuse log-likelihood, b, trend and its variance."""
    polls = res.polls
    origin = res.trend["date"].iloc[0]
    t = (polls["date"] - origin).dt.days.to_numpy()
    y, r = polls["y"].to_numpy(), polls["se"].to_numpy() ** 2
    houses = list(res.houses["house"])
    hid = np.array([houses.index(h) for h in polls["house"]])
    H = len(houses)
    ref = np.flatnonzero(res.houses["reference"].to_numpy())
    C = np.delete(np.eye(H), ref[0], axis=1) if len(ref) else np.vstack([np.eye(H - 1), -np.ones((1, H - 1))])
    X = np.column_stack([np.ones(len(y)), C[hid]])
    V = np.diag(r) + sigma2 * np.minimum.outer(t, t)
    Vi = np.linalg.inv(V)
    A = X.T @ Vi @ X
    Ai = np.linalg.inv(A)
    b = Ai @ X.T @ Vi @ y
    e = y - X @ b
    ll = -0.5 * (len(y) * np.log(2 * np.pi) + np.linalg.slogdet(V)[1] + np.linalg.slogdet(A)[1] + e @ Vi @ e)
    days = np.arange(len(res.trend))
    c = sigma2 * np.minimum.outer(days, t)  # Cov(xi_day, y)
    share = b[0] + c @ Vi @ e
    g = np.eye(len(b))[0][None, :] - c @ Vi @ X
    var = sigma2 * days - np.einsum("ij,jk,ik->i", c, Vi, c) + np.einsum("ij,jk,ik->i", g, Ai, g)
    return ll, b, C @ b[1:], share, var


@pytest.mark.parametrize("sigma", [None, 0.0, 0.002, 0.02])
@pytest.mark.parametrize("reference", [None, "B"])
def test_matches_dense_gls_reference(sigma, reference):
    df, _, _ = simulate_polls(3, n_days=90, n_polls=40)
    res = fit_trend(df, sigma=sigma, reference=reference, bands="plugin")
    s2 = res.details["sigma"] ** 2
    ll, _, delta, share, var = dense_reference(res, s2)
    assert res.details["loglik"] == pytest.approx(ll, abs=1e-8)
    np.testing.assert_allclose(res.houses["effect"], delta, atol=1e-10)
    np.testing.assert_allclose(res.trend["share"], share, atol=1e-10)
    np.testing.assert_allclose(res.trend["se"] ** 2, var, rtol=1e-7, atol=1e-14)


@pytest.mark.parametrize("sigma", [None, 0.003])
def test_days_between_sparse_polls_match_dense_reference(sigma):
    # Long gaps and several polls on one day: the smoother fills the days between polls by the
    # Brownian-bridge interpolation of the smoothed poll states; the dense GLS is the reference.
    df, _, _ = simulate_polls(5, n_days=400, n_polls=24)
    df = pd.concat([df, df.iloc[[0, 3]].assign(yes=df["yes"].iloc[[0, 3]] + 1.5)], ignore_index=True)
    res = fit_trend(df, sigma=sigma, bands="plugin")
    ll, _, delta, share, var = dense_reference(res, res.details["sigma"] ** 2)
    assert res.details["loglik"] == pytest.approx(ll, abs=1e-8)
    np.testing.assert_allclose(res.houses["effect"], delta, atol=1e-10)
    np.testing.assert_allclose(res.trend["share"], share, atol=1e-10)
    np.testing.assert_allclose(res.trend["se"] ** 2, var, rtol=1e-7, atol=1e-14)


def test_png_encoder_round_trips_and_chart_draws_the_data(tmp_path):
    import io

    from PIL import Image

    from sottovoce.dynamics.chart import _png, plot_trend

    rgba = np.random.default_rng(0).integers(0, 256, (37, 53, 4), dtype=np.uint8)
    back = np.asarray(Image.open(io.BytesIO(_png(rgba, 100))))
    np.testing.assert_array_equal(back, rgba)
    df, _, _ = simulate_polls(2)
    res = fit_trend(df, events={"2022-02-15": "Event"})
    img = np.asarray(Image.open(plot_trend(res, tmp_path / "c.png")).convert("RGB")).astype(int)
    assert img.shape == (550, 1100, 3)
    # The trend line is black and the event line firebrick, inside the axes box.
    box = img[int(0.07 * 550):int(0.92 * 550), int(0.07 * 1100):int(0.78 * 1100)]
    assert (box.sum(axis=2) < 60).sum() > 200
    assert (np.abs(box - [178, 34, 34]).sum(axis=2) < 40).sum() > 100
    assert (img[:int(0.06 * 550), 200:800].sum(axis=2) < 200).sum() > 100  # the title's glyphs
    svg = plot_trend(res, tmp_path / "c.svg").read_text()
    assert svg.count("<use") >= len(df) and "Event" in svg


def test_ml_sigma_maximizes_the_likelihood():
    df, _, _ = simulate_polls(4, n_days=150, n_polls=80)
    res = fit_trend(df)
    s = res.details["sigma"]
    assert s > 0
    for f in (0.8, 0.95, 1.05, 1.25):
        assert fit_trend(df, sigma=s * f).details["loglik"] < res.details["loglik"] + 1e-9


def test_textbook_augmented_state_filter_agrees():
    df, _, _ = simulate_polls(5, n_days=60, n_polls=30)
    res = fit_trend(df, reference="A", sigma=0.003)
    p = res.polls
    t = (p["date"] - p["date"].min()).dt.days.to_numpy()
    x = np.column_stack([(p["house"] == h).to_numpy(float) for h in ("B", "C")])
    a, P = augmented_state_filter(t, p["y"].to_numpy(), p["se"].to_numpy() ** 2, x, len(res.trend), 0.003**2, kappa=1e4)
    assert a[0] == pytest.approx(res.trend["share"].iloc[-1], abs=1e-6)
    assert np.sqrt(P[0, 0]) == pytest.approx(res.trend["se"].iloc[-1], rel=1e-4)
    np.testing.assert_allclose(a[1:], res.houses["effect"].to_numpy()[1:], atol=1e-6)


def test_one_pollster_without_drift_is_the_precision_weighted_mean():
    rng = np.random.default_rng(6)
    n = rng.integers(500, 3000, 12)
    yes = rng.uniform(40, 60, 12)
    start = DAY0 + pd.to_timedelta(rng.integers(0, 200, 12), unit="D")
    df = pd.DataFrame({"pollster": "P", "start": start, "end": start + pd.Timedelta(days=2), "n": n, "yes": yes, "deff": 1.5})
    res = fit_trend(df, sigma=0.0)
    y = yes / 100
    w = n / (1.5 * y * (1 - y))
    mean, se = (w * y).sum() / w.sum(), 1 / np.sqrt(w.sum())
    np.testing.assert_allclose(res.trend["share"], mean, rtol=1e-12)
    np.testing.assert_allclose(res.trend["se"], se, rtol=1e-10)
    # the band is the logit-transformed interval (R svyciprop's "logit"), computed here in closed form
    half = 1.959963985 * se / (mean * (1 - mean))
    lo = 1 / (1 + np.exp(-(np.log(mean / (1 - mean)) - half)))
    assert res.estimate == pytest.approx(mean) and res.ci[0] == pytest.approx(lo)
    assert res.ci[0] == pytest.approx(mean - 1.959963985 * se, abs=2e-4)  # ≈ m − z·se at mid-range shares


@settings(max_examples=25, deadline=None, derandomize=True)
@given(seed=st.integers(0, 10_000), perm_seed=st.integers(0, 10_000))
def test_estimates_do_not_depend_on_row_order(seed, perm_seed):
    df, _, _ = simulate_polls(seed, n_days=40, n_polls=18)
    df.loc[df.index[:3], "start"] = df["start"].iloc[3]  # several polls on one day
    df.loc[df.index[:3], "end"] = df["end"].iloc[3]
    a = fit_trend(df)
    b = fit_trend(df.sample(frac=1, random_state=perm_seed))
    np.testing.assert_allclose(a.trend["share"], b.trend["share"], atol=1e-12)
    np.testing.assert_allclose(a.trend["se"], b.trend["se"], atol=1e-12)
    np.testing.assert_allclose(a.houses["effect"], b.houses["effect"], atol=1e-12)
    assert a.details["sigma"] == b.details["sigma"]
    pd.testing.assert_series_equal(a.polls.sort_values(["start", "pollster", "y"])["z"].reset_index(drop=True),
                                   b.polls.sort_values(["start", "pollster", "y"])["z"].reset_index(drop=True))


def test_constraint_changes_only_the_scale():
    df, _, _ = simulate_polls(7)
    stz = fit_trend(df)
    ref = fit_trend(df, reference="B")
    assert ref.details["sigma"] == pytest.approx(stz.details["sigma"], rel=1e-3)
    d_b = stz.houses.set_index("house")["effect"]["B"]
    np.testing.assert_allclose(ref.trend["share"], stz.trend["share"] + d_b, atol=1e-5)
    np.testing.assert_allclose(ref.houses["effect"], stz.houses["effect"] - d_b, atol=1e-5)
    assert abs(stz.houses["effect"].sum()) < 1e-12


def test_recovers_planted_house_effects_and_flags_an_outlier():
    df, alpha, houses = simulate_polls(8, n_days=200, n_polls=150)
    df.loc[5, "yes"] += 12  # a wild poll
    res = fit_trend(df)
    h = res.houses.set_index("house")
    for k, v in houses.items():
        assert h.loc[k, "low"] - 0.005 < v < h.loc[k, "high"] + 0.005
    assert res.polls["outlier"].iloc[5] and res.polls["z"].iloc[5] > 3
    assert res.polls["outlier"].sum() <= 3
    days = (res.trend["date"] - DAY0).dt.days.to_numpy()
    assert np.mean(np.abs(res.trend["share"] - alpha[days]) < 0.02) > 0.9


def test_level_shift_is_detected():
    df, _, _ = simulate_polls(9, n_days=100, n_polls=90, sigma=0.0005)
    after = df["start"] >= DAY0 + pd.Timedelta(days=50)
    df.loc[after, "yes"] -= 6
    res = fit_trend(df, events=["2022-02-20=Shock"])
    (test,) = res.tests
    assert test["p_value"] < 1e-4 and test["low"] < -0.06 < test["high"]


def test_weekly_grid_and_opinion_base():
    df, _, _ = simulate_polls(10, n_days=140)
    df["no"] = 100 - df["yes"] - 10
    res = fit_trend(df, unit="week", base="opinion")
    first, last = res.polls["date"].min(), res.polls["date"].max()
    assert len(res.trend) == (last - first).days // 7 + 1
    assert (res.trend["date"].diff().dropna() == pd.Timedelta(days=7)).all()
    assert res.trend["share"].between(0.4, 0.8).all()
    assert res.details["unit"] == "week" and res.details["base"] == "opinion"


def test_microdata_waves_reproduce_published_toplines(wave1, wave2):
    polls = read_polls(EXAMPLES / "chronicles-waves.toml")
    # Published (half-year report, table 2.1.1): 59/22/19; old wording 70/14/16; new 63/7/17/12.
    np.testing.assert_allclose(polls["yes"].round(), [59, 70, 63])
    np.testing.assert_allclose(polls["no"].round(), [22, 14, 7])
    np.testing.assert_allclose(polls["hard_to_say"].round(), [19, 16, 17])
    assert round(polls["refused"].iloc[2]) == 12
    assert (polls["se_all"] > 0.01).all() and (polls["se_all"] < 0.02).all()
    assert polls["deff"].between(1.0, 1.3).all()  # weighting inflates the variance a little


def test_wave_share_se_matches_linearization_by_hand(wave1):
    import sottovoce as sv
    from sottovoce.dynamics import Wave, wave_to_poll

    df = sv.read_table(wave1)
    row = wave_to_poll(Wave(df, "Q4", (1,), "2022-02-28", "2022-03-02", "Chronicles", weights="wes_age_gender_tnp",
                            no=(2,), hard_to_say=(99,)))
    w = df["wes_age_gender_tnp"].to_numpy(float)
    yes = (df["Q4"] == 1).to_numpy(float)
    p = (w * yes).sum() / w.sum()
    n = len(w)
    # with-replacement linearization over all rows (zero weights included, as R's svydesign does)
    z = w * (yes - p) / w.sum()
    se = np.sqrt(n / (n - 1) * ((z - z.mean()) ** 2).sum())
    assert row["yes"] / 100 == pytest.approx(p, rel=1e-12)
    assert row["se_all"] == pytest.approx(se, rel=1e-6)


# -- CLI ---------------------------------------------------------------------------------------
def write_csv(tmp_path: Path, df: pd.DataFrame, name: str = "polls.csv") -> Path:
    path = tmp_path / name
    df.to_csv(path, index=False)
    return path


def test_cli_json_csv_and_charts(cli, tmp_path):
    df, _, _ = simulate_polls(11)
    path = write_csv(tmp_path, df)
    r = cli("trend", path, "--event", "2022-03-01=Event", "--csv", tmp_path / "t.csv", "--chart", tmp_path / "c.png", "--json")
    assert r.code == 0, r.err
    out = json.loads(r.out)
    assert {"estimate", "se", "ci", "n", "method", "trend", "houses", "polls", "tests", "sigma", "loglik"} <= set(out)
    assert out["houses"][0]["house"] == "A" and len(out["trend"]) == (df["start"].max() - df["start"].min()).days + 1
    assert out["events"] == [{"date": "2022-03-01", "label": "Event"}]
    tidy = pd.read_csv(tmp_path / "t.csv")
    assert set(tidy["kind"]) == {"trend", "house", "poll"}
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
    plug = cli("trend", path, "--bands", "plugin", "--json").json()
    assert plug["bands"] == "plugin" and plug["estimate"] == pytest.approx(out["estimate"], abs=1e-12)
    assert plug["se"] < out["se"]  # sigma's uncertainty widens the default bands
    r = cli("trend", path, "--reference", "C", "--chart", tmp_path / "c.svg")
    assert r.code == 0 and "relative to C" in r.out
    assert b"<svg" in (tmp_path / "c.svg").read_bytes()[:500]


def test_cli_real_examples(cli, wave1, wave2, tmp_path):
    r = cli("trend", EXAMPLES / "chronicles-waves.toml", EXAMPLES / "published-polls.csv",
            "--reference", "Chronicles / new", "--event", "2022-03-04=Fake-news law", "--json")
    assert r.code == 0, r.err
    out = r.json()
    houses = {h["house"]: h for h in out["houses"]}
    # Split ballot: the old wording gives more "support" than the new one (70 vs 63 published).
    assert houses["Chronicles / old"]["low"] > 0 and "Levada Center" in houses
    assert out["n_polls"] == 5 and all(p["source"] for p in out["polls"])


def _bad(cli, tmp_path, df, *args):
    r = cli("trend", write_csv(tmp_path, df), *args)
    assert r.code == 2, (r.code, r.out, r.err)
    assert r.err.startswith("error: ") and r.err.count("\n") == 1 and r.out == ""
    return r.err


def test_bad_end_before_start(cli, tmp_path):
    df, _, _ = simulate_polls(12, n_polls=10)
    df.loc[3, "end"] = df.loc[3, "start"] - pd.Timedelta(days=2)
    assert "row 4" in _bad(cli, tmp_path, df) and "precedes start" in _bad(cli, tmp_path, df)


def test_bad_shares_above_100(cli, tmp_path):
    df, _, _ = simulate_polls(13, n_polls=10)
    df["no"] = 100 - df["yes"].round()
    df["hard_to_say"] = 1.0  # 101%: within rounding of three reported shares
    assert cli("trend", write_csv(tmp_path, df)).code == 0
    df.loc[2, "hard_to_say"] = 8.0
    assert "above 100%" in _bad(cli, tmp_path, df)
    df.loc[2, "hard_to_say"] = 1.0
    df.loc[4, "yes"] = 130
    assert "outside 0-100" in _bad(cli, tmp_path, df)


@pytest.mark.parametrize("value", [np.nan, 0, 0.5, -3])
def test_bad_sample_size(cli, tmp_path, value):
    df, _, _ = simulate_polls(14, n_polls=10)
    df["n"] = df["n"].astype(float)
    df.loc[6, "n"] = value
    err = _bad(cli, tmp_path, df)
    assert "row 7" in err and "sample size" in err


def test_bad_single_poll_house(cli, tmp_path):
    df, _, _ = simulate_polls(15, n_polls=12)
    df.loc[0, "pollster"] = "Lonely"
    err = _bad(cli, tmp_path, df)
    assert "'Lonely'" in err and "only one poll" in err and "--reference" in err and "drop" in err
    assert cli("trend", write_csv(tmp_path, df), "--reference", "Lonely").code == 0


def test_bad_event_outside_range(cli, tmp_path):
    df, _, _ = simulate_polls(16, n_polls=12)
    err = _bad(cli, tmp_path, df, "--event", "2023-06-01=Later")
    assert "outside the polls' date range" in err and "Later" in err


def test_bad_other_inputs(cli, tmp_path):
    df, _, _ = simulate_polls(17, n_polls=12)
    assert "missing column" in _bad(cli, tmp_path, df.drop(columns="n"))
    assert "unknown" in _bad(cli, tmp_path, df, "--unit", "month")
    assert "exclude each other" in _bad(cli, tmp_path, df, "--reference", "A", "--sum-to-zero")
    assert "not in the polls" in _bad(cli, tmp_path, df, "--reference", "Nobody")
    assert "not a date" in _bad(cli, tmp_path, df, "--event", "someday=X")
    assert ".png or .svg" in _bad(cli, tmp_path, df, "--chart", tmp_path / "c.pdf")
    assert "bands 'wide' is unknown" in _bad(cli, tmp_path, df, "--bands", "wide")


def test_reads_published_poll_audit_files(cli):
    audit = ROOT / "examples" / "published-polls"
    if not (audit / "levada-2022-04.toml").exists():
        pytest.skip("published-poll examples not present")
    polls = read_poll_files([audit / "levada-2022-04.toml", EXAMPLES / "published-polls.csv"])
    apr = polls.iloc[0]
    assert (apr["pollster"], apr["n"], apr["yes"], apr["no"]) == ("Levada Center", 1616, 74, 19)
    assert str(apr["start"].date()) == "2022-04-21" and "censor.net" in apr["source"]
    # same poll in both files: the CSV row matches the audit file's figures
    assert (polls.iloc[1][["n", "yes", "no"]] == apr[["n", "yes", "no"]]).all()
    if (audit / "vciom-svo-support.toml").exists():
        r = cli("trend", audit / "vciom-svo-support.toml", EXAMPLES / "published-polls.csv")
        assert r.code == 2 and "'fieldwork' is missing" in r.err


def test_study_file_becomes_a_raked_poll():
    study = ROOT / "examples" / "demo" / "study.toml"
    if not study.exists():
        pytest.skip("demo study not present")
    (poll,) = read_poll_files(study).to_dict(orient="records")
    assert poll["pollster"] == "demo-wartime-phone-survey" and poll["wording"] == "support_direct"
    assert str(poll["start"].date()) == "2026-03-02" and poll["n"] > 1000
    assert 0 < poll["se_all"] < 0.05 and poll["deff"] > 1.0  # raked to the census margins


@settings(max_examples=20, deadline=None, derandomize=True)
@given(seed=st.integers(0, 10_000), shift=st.floats(-0.1, 0.1))
def test_shifting_one_house_moves_only_its_effect(seed, shift):
    """With fixed sampling variances, adding c to every poll of a non-reference house changes its
    house effect by exactly c and leaves the trend and the other effects alone."""
    df, _, _ = simulate_polls(seed, n_days=50, n_polls=21)
    df["se_all"] = 0.015
    a = fit_trend(df, reference="A")
    a_fixed = fit_trend(df, reference="A", sigma=0.003)
    df.loc[df["pollster"] == "C", "yes"] += 100 * shift
    b = fit_trend(df, reference="A")
    b_fixed = fit_trend(df, reference="A", sigma=0.003)
    assert b.details["sigma"] == pytest.approx(a.details["sigma"], rel=1e-5, abs=1e-9)  # optimizer tolerance
    np.testing.assert_allclose(b_fixed.trend["share"], a_fixed.trend["share"], atol=1e-10)
    np.testing.assert_allclose(b_fixed.trend["se"], a_fixed.trend["se"], atol=1e-10)
    np.testing.assert_allclose(b_fixed.houses["effect"] - a_fixed.houses["effect"], [0, 0, shift], atol=1e-10)


def test_matches_statsmodels_exact_diffuse_smoother():
    """statsmodels' UnobservedComponents (random-walk level, house dummies as diffuse states,
    exact diffuse initialization) is an independent implementation of the same model."""
    sm = pytest.importorskip("statsmodels.api")
    df, _, _ = simulate_polls(3, n_days=90, n_polls=40)
    df = df.drop_duplicates("start").reset_index(drop=True)  # statsmodels: one poll per day
    res = fit_trend(df, reference="A", sigma=0.004)
    p, T = res.polls, len(res.trend)
    t = (p["date"] - res.trend["date"].iloc[0]).dt.days.to_numpy()
    y = np.full(T, np.nan)
    y[t] = p["y"]
    r = np.ones(T)
    r[t] = p["se"] ** 2
    X = np.zeros((T, 2))
    X[t, 0], X[t, 1] = p["house"] == "B", p["house"] == "C"
    mod = sm.tsa.UnobservedComponents(y, level="random walk", exog=X, mle_regression=False)
    mod.ssm["obs_cov"] = r.reshape(1, 1, T)
    mod.ssm.initialize_diffuse()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = mod.smooth([0.004**2])
        np.testing.assert_allclose(out.smoothed_state[0], res.trend["share"], atol=1e-10)
        np.testing.assert_allclose(np.sqrt(out.smoothed_state_cov[0, 0]), res.trend["se"], atol=1e-10)
        np.testing.assert_allclose(out.smoothed_state[1:, -1], res.houses["effect"][1:], atol=1e-10)
        # the diffuse log-likelihoods differ only by a constant (a log 2π convention) ...
        consts = [mod.smooth([s**2]).llf - fit_trend(df, reference="A", sigma=s).details["loglik"] for s in (0.001, 0.004, 0.01)]
        np.testing.assert_allclose(consts, np.log(2 * np.pi), atol=1e-8)
        # ... so the ML sigma is the same (statsmodels with a tight optimizer)
        fit = mod.fit(disp=False, start_params=[0.004**2], method="nm", maxiter=2000, xtol=1e-12, ftol=1e-14)
    assert fit_trend(df, reference="A").details["sigma"] == pytest.approx(np.sqrt(fit.params[0]), rel=1e-5)


def test_dynamics_does_not_import_the_study_or_audit_formats():
    """The model takes poll tables and waves; study and published-poll files are read at the edge
    (sottovoce.trend_sources), so nothing under dynamics/ imports study, audit or pipeline."""
    import ast

    pkg = ROOT / "src" / "sottovoce" / "dynamics"
    for path in pkg.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                assert not any(part in ("study", "audit", "pipeline", "trend_sources") for part in name.split(".")), (path.name, name)


def test_a_study_file_goes_through_the_edge_reader(tmp_path):
    from sottovoce.errors import InputError

    study = ROOT / "examples" / "demo" / "study.toml"
    with pytest.raises(InputError, match="read_poll_files"):
        read_polls(study)
    assert len(read_poll_files(study)) == 1


def test_latest_interval_is_the_one_rule_and_equals_the_band():
    """TrendResult.ci comes from the one interval rule (logit, as R svyciprop) and equals the last
    day of the vectorised band; bands stay in [0, 1], house effects and shifts in [-1, 1]."""
    rng = np.random.default_rng(12)
    t = np.sort(rng.integers(0, 80, 20))
    start = DAY0 + pd.to_timedelta(t, unit="D")
    df = pd.DataFrame({"pollster": np.array(["A", "B"])[np.arange(20) % 2], "start": start, "end": start,
                       "n": rng.integers(300, 900, 20), "yes": rng.uniform(2, 9, 20)})  # a small share: skewed bands
    res = fit_trend(df, events=["2022-02-01=Mid"])
    last = res.trend.iloc[-1]
    assert res.ci_method == "logit" and res.scale == "share"
    assert res.ci == pytest.approx((last["low"], last["high"]), rel=1e-12, abs=1e-15)
    assert ((res.trend["low"] >= 0) & (res.trend["high"] <= 1)).all()
    assert ((res.houses["low"] >= -1) & (res.houses["high"] <= 1)).all()
    assert all(-1 <= t["low"] <= t["high"] <= 1 for t in res.tests)
    json.dumps(res.to_dict(), allow_nan=False)
    text, html = res.summary(), res._repr_html_()
    for h in res.houses.itertuples():
        assert f"{100 * h.effect:.1f}" in text and f"{100 * h.effect:.1f}" in html


def test_a_trend_outside_0_100_is_flagged_never_quoted():
    """A reference house near 1% and another house whose polls drop: on the reference scale the
    linear model puts the latest share below 0%. It is kept, flagged, explained; its interval is cut at 0."""
    rows = [("R", 0, 1.0), ("R", 1, 1.0), ("B", 0, 30.0), ("B", 1, 30.0), ("B", 60, 25.0), ("B", 61, 25.0)]
    df = pd.DataFrame([{"pollster": p, "start": DAY0 + pd.Timedelta(days=t), "end": DAY0 + pd.Timedelta(days=t),
                        "yes": y, "n": 2000} for p, t, y in rows])
    res = fit_trend(df, reference="R", sigma=0.001)
    assert res.estimate < 0 and res.out_of_range and res.to_dict()["out_of_range"] is True
    assert res.ci[0] == 0.0 and 0 < res.ci[1] < 0.01
    assert res.trend["out_of_range"].iloc[-1] and (res.trend["low"] >= 0).all()
    assert "not a finding" in res.summary() and any("outside [0%, 100%]" in w for w in res.warnings)


# -- tracker defaults shared by `trend`, a study's [trend] and `series` (dynamics.identify) -------------


def _one_pollster(seed: int, n_main: int = 10, n_other: int = 3, effect: float = 0.08) -> tuple[pd.DataFrame, np.ndarray]:
    """One pollster, a main wording and another (asked early, ``effect`` higher): the issue's case."""
    df, alpha, _ = simulate_polls(seed, n_polls=n_main + n_other, houses={"main": 0.0}, sigma=0.002)
    df = df.sort_values("start").reset_index(drop=True)
    df["wording"] = ["early"] * n_other + ["main"] * n_main
    df.loc[:n_other - 1, "yes"] += 100 * effect  # the early wording reads higher
    df["pollster"] = "Chronicles"
    return df, alpha


def test_one_pollster_defaults_to_its_main_wording(cli, tmp_path):
    """Sum to zero puts one pollster's trend halfway between its wordings (the issue: 54.5% while
    the last wave measured 51.7%); the default reference is the main wording, said in en and ru."""
    df, _ = _one_pollster(41)
    res = fit_trend(df)
    assert res.details["reference"] == "Chronicles / main" and res.details["reference_rule"] == "main-wording"
    notes = res.details["trend_notes"]
    assert any("main wording" in n["en"] and "основная формулировка" in n["ru"] for n in notes)
    last_main = df[df["wording"] == "main"].iloc[-1]["yes"] / 100
    assert abs(res.estimate - last_main) < 0.03
    stz = fit_trend(df, sum_to_zero=True)
    assert stz.details["reference"] is None and stz.estimate - res.estimate == pytest.approx(0.04, abs=0.01)  # half of 8 points
    same = fit_trend(df, reference="Chronicles / main")
    assert same.estimate == pytest.approx(res.estimate, rel=1e-12)
    out = cli("trend", write_csv(tmp_path, df))
    assert out.code == 0 and "the pollster's main wording" in out.out and "relative to Chronicles / main" in out.out
    assert "sum to zero" in cli("trend", write_csv(tmp_path, df), "--sum-to-zero").out


def test_main_wording_tie_goes_to_the_latest_poll():
    df, _ = _one_pollster(42, n_main=3, n_other=3)
    assert fit_trend(df).details["reference"] == "Chronicles / main"  # "main" polls are the later ones
    df["wording"] = df["wording"].map({"main": "early", "early": "main"})
    assert fit_trend(df).details["reference"] == "Chronicles / early"


def test_several_pollsters_keep_sum_to_zero():
    df, _, _ = simulate_polls(43, n_polls=30)
    res = fit_trend(df)
    assert res.details["reference"] is None and res.details["constraint"] == "sum to zero" and res.details["trend_notes"] == []


def test_one_poll_wording_is_left_out_with_a_note(cli, tmp_path):
    """A wording asked once (a split-ballot arm) has a house effect that fits its poll exactly: it
    is left out with a note instead of stopping `trend`; the trend is the same as without it."""
    df, _ = _one_pollster(44, n_main=8, n_other=2)
    arm = df.iloc[[5]].assign(wording="arm", yes=df.iloc[5]["yes"] - 6)
    with_arm = pd.concat([df, arm], ignore_index=True)
    res = fit_trend(with_arm)
    assert res.details["left_out"] == ["Chronicles / arm"] and res.details["n_polls"] == len(df)
    assert any("Chronicles / arm" in n["en"] and "не вошли в тренд" in n["ru"] for n in res.details["trend_notes"])
    assert res.estimate == pytest.approx(fit_trend(df).estimate, rel=1e-12)
    r = cli("trend", write_csv(tmp_path, with_arm))
    assert r.code == 0 and "left out of the trend: Chronicles / arm" in r.out


def _flat_polls() -> pd.DataFrame:
    """Four polls two months apart: the likelihood of sigma is flat up to its bound (10 points a day)."""
    start = DAY0 + pd.to_timedelta([0, 60, 120, 180], unit="D")
    return pd.DataFrame({"pollster": "P", "start": start, "end": start, "n": 1500, "yes": [50.0, 55.0, 45.0, 52.0]})


def test_flat_likelihood_for_sigma_is_capped_with_a_warning():
    df = _flat_polls()
    free = fit_trend(df, sigma_cap=None)
    assert free.details["flat_sigma"] and any("hardly determine" in w for w in free.warnings)
    res = fit_trend(df)
    cap = 0.02 / np.sqrt(7)  # 2 points a week, on a day grid
    assert res.details["sigma_cap"] == pytest.approx(cap) and res.details["sigma"] == pytest.approx(cap)
    assert res.details["bands"] == "plugin" and any("fixed at its cap" in w for w in res.warnings)
    assert any("плоское правдоподобие" in n["ru"] for n in res.details["trend_notes"])
    width, free_width = (res.trend["high"] - res.trend["low"]).max(), (free.trend["high"] - free.trend["low"]).max()
    assert free_width > 0.3 and width < 0.15  # the uncapped bands balloon between polls
    week = fit_trend(df, unit="week")
    assert week.details["sigma_cap"] == pytest.approx(0.02) and week.details["sigma"] == pytest.approx(0.02)
    assert fit_trend(df, sigma_cap=0.005).details["sigma"] == pytest.approx(0.005)


def test_a_cap_the_polls_reject_is_not_used():
    """A real jump (12 points in two weeks): the likelihood at the cap is far below its maximum,
    so the cap is not imposed (it would force a misfit) and the warning says why."""
    start = DAY0 + pd.to_timedelta([0, 14, 28, 200], unit="D")
    df = pd.DataFrame({"pollster": "P", "start": start, "end": start, "n": 1500, "yes": [40.0, 52.0, 53.0, 52.0]})
    res = fit_trend(df)
    assert res.details["flat_sigma"] and res.details["sigma_cap"] is None and res.details["sigma"] > 0.02 / np.sqrt(7)
    assert any("reject a cap" in w for w in res.warnings) and any("отвергают предел" in n["ru"] for n in res.details["trend_notes"])


def test_cli_sigma_cap_option(cli, tmp_path):
    path = write_csv(tmp_path, _flat_polls())
    capped = cli("trend", path, "--json").json()
    free = cli("trend", path, "--sigma-cap", "none", "--json").json()
    assert capped["sigma_cap"] is not None and free["sigma_cap"] is None and free["sigma"] != capped["sigma"]
    assert "--sigma-cap 'x'" in _bad(cli, tmp_path, _flat_polls(), "--sigma-cap", "x")
