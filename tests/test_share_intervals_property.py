"""Property (issue 12): for random data, designs and subgroups, no share interval that sottovoce
prints, renders or serialises leaves [0, 1] (a difference of shares: [−1, 1]), for every
estimator of a share."""

from __future__ import annotations

import json
import re
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sottovoce as sv
from sottovoce.errors import SottovoceError

RANGE = {"share": (0.0, 1.0), "share-difference": (-1.0, 1.0)}


def _frame(seed: int, n: int, prevalence: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 2, n)
    t[:2] = [0, 1]
    z = rng.random(n) < prevalence
    trait, ans = sv.simulate_rr("forced", np.full(n, prevalence), n, rng, p=2 / 3, p1=1 / 6)
    return pd.DataFrame({
        "y": (rng.random(n) < prevalence).astype(int),
        "cat": rng.integers(0, 3, n),
        "count": rng.binomial(3, rng.uniform(0.05, 0.95), n) + t * z,
        "countb": rng.binomial(3, 0.5, n) + (1 - t) * z,
        "t": t, "t3": np.where(rng.random(n) < 0.3, 2, t),
        "d": (z & (rng.random(n) < 0.7)).astype(int),
        "rr": ans, "rd": trait,
        "g": rng.integers(0, 3, n),
        "w": rng.uniform(0.2, 5, n), "stratum": rng.integers(0, 2, n), "psu": rng.integers(0, max(2, n // 4), n),
        "q": rng.choice([1.0, 2.0, 9.0, np.nan], n),
    })


def _estimators(df: pd.DataFrame, design: dict, by: str | None, ci: str) -> list:
    svy = sv.Survey(df, **design)
    kw = dict(design)
    return [
        lambda: svy.mean("y", by=by, ci=ci),
        lambda: svy.proportion("cat", by=by, ci=ci),
        lambda: sv.list_experiment(df, "count", "t", 4, by=by, **kw),
        lambda: sv.list_direct(df, "count", "t", 4, "d", by=by, **kw),
        lambda: sv.double_list(df, "count", "countb", "t", 4, **kw),
        lambda: sv.placebo_list(df, "count", "t3", 4, **kw),
        lambda: sv.rr_prevalence(df, "rr", "forced", p=2 / 3, p1=1 / 6, by=by, direct="rd", **kw),
        lambda: sv.rr_prevalence(df, "rr", "forced", p=2 / 3, p1=1 / 6, by=by, truncate=True, **kw),
        lambda: sv.rr_gap(df, "rr", "rd", "forced", p=2 / 3, p1=1 / 6, by=by, **kw),
        lambda: sv.split_ballot(df, "cat", "t", **kw),
        lambda: sv.item_nonresponse(df, ["q"], hard_to_say=[9], by=by, **kw),
        lambda: sv.survey_bounds(df, "q", 1.0, 2.0, 0.5, **kw),
    ]


def _check_json(node: object) -> None:
    if isinstance(node, dict):
        scale = node.get("scale")
        if scale in RANGE and node.get("ci") is not None and None not in node["ci"]:
            lo, hi = RANGE[scale]
            assert lo <= node["ci"][0] <= node["ci"][1] <= hi, node
        for v in node.values():
            _check_json(v)
    elif isinstance(node, list):
        for v in node:
            _check_json(v)


def _check_display(r: sv.Result) -> None:
    text, markup = r.summary(), r._repr_html_()
    rows = r.rows()
    table = r.display().tables[0] if r.display().tables else None
    if table is None or len(table.header) < 4 or "CI" not in table.header[3]:
        return
    for (name, x), cells in zip(rows, table.rows, strict=True):
        if x.scale not in RANGE or x.ci is None:
            assert cells[3] == "–"
            continue
        assert np.isfinite(x.ci).all(), (name, x.ci)  # an interval is a pair of numbers or None
        lo_c, hi_c = (float(v.replace("%", "")) for v in cells[3].split(" – "))
        lo, hi = (100 * v for v in RANGE[x.scale])
        assert lo <= lo_c <= hi_c <= hi, (name, cells)
        assert cells[3] in text and cells[3] in markup


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10**6),
    n=st.integers(8, 80),
    prevalence=st.sampled_from([0.0, 0.02, 0.3, 0.5, 0.97, 1.0]),
    design=st.sampled_from(["none", "weights", "strata_psu"]),
    by=st.sampled_from([None, "g"]),
    ci=st.sampled_from(["wilson", "logit", "beta", "wald"]),
)
def test_no_share_interval_leaves_its_range(seed, n, prevalence, design, by, ci):
    df = _frame(seed, n, prevalence)
    kw = {"none": {}, "weights": {"weights": "w"}, "strata_psu": {"weights": "w", "strata": "stratum", "psu": "psu"}}[design]
    for make in _estimators(df, kw, by, ci):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                r = make()
        except SottovoceError:
            continue  # an honest refusal (too few respondents in an arm, a design not followed …)
        payload = json.loads(json.dumps(r.to_dict(), allow_nan=False))
        _check_json(payload)
        _check_display(r)


@pytest.mark.parametrize("est,se", [(1.33, 1.37), (-0.9, 0.5), (0.5, 10.0), (0.0, 0.0), (1.0, 0.2), (-3.0, 0.1)])
def test_moment_estimates_outside_the_range_keep_a_valid_interval(est, se):
    from sottovoce.intervals import DegreesOfFreedom

    r = sv.Result.from_estimate(est, se, scale="share", df=DegreesOfFreedom(6, "test"), n=7, method="m")
    assert r.estimate == est
    if r.ci is not None:
        assert 0 <= r.ci[0] <= r.ci[1] <= 1
    assert r.out_of_range == (not 0 <= est <= 1)
    _check_json(r.to_dict())


# -- crosswise and list ML on small and degenerate data (tiny arms, all-0/all-1 answers, few PSUs) --
J = 3  # control items of the degenerate list experiments
DESIGNS = {"none": {}, "weights": {"weights": "w"}, "strata_psu": {"weights": "w", "strata": "stratum", "psu": "psu"}}


def _degenerate_frame(seed: int, n: int, treated: float, control: str, item: str, cross: str, q: float, psus: int) -> pd.DataFrame:
    """Small data at the edges: an arm of one or two respondents, control counts all 0 or all J,
    the sensitive item never or always held, crosswise answers all "different" or all "same", and
    ``psus`` PSUs per stratum."""
    rng = np.random.default_rng(seed)
    t = (rng.random(n) < treated).astype(int)
    t[:2] = [0, 1]  # both arms present, however small
    u = rng.uniform(0.05, 0.95, 2)
    ctrl = {"zeros": np.zeros(n, int), "full": np.full(n, J), "random": rng.binomial(J, u[0], n)}[control]
    z = {"never": np.zeros(n, int), "always": np.ones(n, int), "random": (rng.random(n) < u[1]).astype(int)}[item]
    trait = rng.random(n) < u[1]
    same = (trait == (rng.random(n) < q)).astype(int)
    stratum = rng.integers(0, 2, n)
    return pd.DataFrame({
        "count": ctrl + t * z, "t": t, "d": z,
        "cw": {"zeros": np.zeros(n, int), "ones": np.ones(n, int), "random": same}[cross],
        "g": rng.integers(0, 2, n), "w": rng.uniform(0.2, 5, n),
        "stratum": stratum, "psu": 10 * stratum + rng.integers(0, psus, n),
    })


# the data a small pilot can produce: see _degenerate_frame
DEGENERATE = {
    "seed": st.integers(0, 10**6), "n": st.integers(4, 40), "treated": st.sampled_from([0.1, 0.5, 0.9]),
    "control": st.sampled_from(["zeros", "full", "random"]), "item": st.sampled_from(["never", "always", "random"]),
    "cross": st.sampled_from(["zeros", "ones", "random"]), "q": st.sampled_from([0.1, 0.25, 0.8]),
    "psus": st.sampled_from([1, 2, 3]), "design": st.sampled_from(list(DESIGNS)), "by": st.sampled_from([None, "g"]),
}


def _degenerate_estimators(df: pd.DataFrame, kw: dict, by: str | None, q: float) -> list:
    return [
        lambda: sv.rr_prevalence(df, "cw", "crosswise", q=q, by=by, **kw),
        lambda: sv.rr_prevalence(df, "cw", "crosswise", q=q, by=by, truncate=True, **kw),
        lambda: sv.rr_prevalence(df, "cw", "crosswise", q=q, by=by, direct="d", **kw),
        lambda: sv.list_experiment(df, "count", "t", J, by=by, **kw),
        lambda: sv.list_experiment(df, "count", "t", J, method="ml", by=by, **kw),
        lambda: sv.list_experiment(df, "count", "t", J, method="ml", constrained=False, **kw),
        lambda: sv.fit_list_model(df, "count", "t", J, method="ml", by=by, **kw),
        lambda: sv.list_direct(df, "count", "t", J, "d", by=by, **kw),
    ]


def _rounding_false_alarm(x: sv.Result) -> bool:
    """An estimate of 0 or 1 up to rounding (e.g. −9e−16 with se 2e−16) whose t interval, cut to
    [0, 1], comes out empty: intervals.interval tests ``out`` with a tolerance but not ``lo > hi``."""
    est = x.estimate if x.estimate is not None else float("nan")
    return x.out_of_range and x.ci is None and (abs(est) < 1e-12 or abs(est - 1) < 1e-12) and "raw_estimate" not in x.details


def test_an_estimate_of_rounding_noise_is_not_impossible():
    """Everyone in a weighted subgroup answers J in both arms: the difference in means is 0 up to
    rounding (−8.9e−16, se 2.0e−16). It must be shown as 0 with an interval, not as an impossible
    estimate whose "design was probably not followed"."""
    df = _degenerate_frame(9, 13, 0.1, "full", "never", "random", 0.25, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = sv.list_experiment(df, "count", "t", J, by="g", weights="w")
    g1 = r.groups[1]
    assert g1.estimate == pytest.approx(0, abs=1e-12)
    assert not g1.out_of_range and g1.ci is not None and g1.ci[0] == 0
    assert not any("no value is compatible" in w for w in r.warnings)


def _check_flags(r: sv.Result) -> None:
    """An estimate outside its range is flagged (``out_of_range``) with a caveat the user sees,
    and never carries an interval that pretends otherwise."""
    text = r.summary()
    for name, x in r.rows():
        if x.scale not in RANGE or x.estimate is None:
            continue
        lo, hi = RANGE[x.scale]
        outside = not lo - 1e-12 <= x.estimate <= hi + 1e-12  # (J + 1) − J may be 1 + 4e-16: not a finding
        if outside:  # kept as computed: flagged, with a caveat in the text
            caveats = [w for w in (*r.warnings, *x.warnings) if "outside" in w]
            assert x.out_of_range and caveats and all(w in text for w in caveats), (name, x.estimate, r.warnings)
        elif _rounding_false_alarm(x):
            raise AssertionError((name, x.estimate, "rounding noise on a bound flagged as impossible"))
        elif x.out_of_range:  # reported truncated (truncate=True): the computed value and the cut are said
            assert not 0 < x.estimate < 1 and x.details.get("raw_estimate") is not None, (name, x.estimate, x.details)
            assert any("truncate" in w and w in text for w in (*r.warnings, *x.warnings)), (name, r.warnings)
            assert "kept as computed" not in text, text


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(**DEGENERATE)
def test_crosswise_and_list_ml_intervals_stay_in_range_on_degenerate_data(seed, n, treated, control, item, cross, q, psus, design, by):
    df = _degenerate_frame(seed, n, treated, control, item, cross, q, psus)
    for make in _degenerate_estimators(df, DESIGNS[design], by, q):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                r = make()
        except SottovoceError:
            continue  # an honest refusal (an arm too small, an impossible estimate without truncate …)
        _check_json(json.loads(json.dumps(r.to_dict(), allow_nan=False)))
        _check_display(r)
        _check_flags(r)


# -- what the CLI prints: `estimate`, `list` (DiM, ML, with --direct) and `rr --design crosswise` ----
PRINTED_CI = re.compile(r"(?<![\d.])(-?\d+(?:\.\d+)?) – (-?\d+(?:\.\d+)?)(?![\d.])")  # a table's "low – high" cell


def _cli_commands(path: str, design: str, by: str | None, q: float) -> list[tuple[list[str], tuple[float, float]]]:
    """Each command with the range its printed intervals must keep (percent)."""
    kw = {"none": [], "weights": ["--weights", "w"], "strata_psu": ["--weights", "w", "--strata", "stratum", "--psu", "psu"]}[design]
    grp = ["--by", by] if by else []
    lst = ["list", path, "--count", "count", "--treat", "t", "--items", str(J), *kw]
    return [
        (["estimate", path, "--var", "cw", "--categories", *grp, *kw], (0, 100)),
        ([*lst, *grp], (0, 100)),
        ([*lst, "--method", "ml", *grp], (0, 100)),
        ([*lst, "--direct", "d", *grp], (-100, 100)),  # its gap row is a difference of shares
        (["rr", path, "--response", "cw", "--design", "crosswise", "--q", str(q), *grp, *kw], (0, 100)),
        (["rr", path, "--response", "cw", "--design", "crosswise", "--q", str(q), "--truncate", *grp, *kw], (0, 100)),
    ]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(**DEGENERATE)
def test_cli_never_prints_a_share_bound_outside_0_100(seed, n, treated, control, item, cross, q, psus, design, by):
    from conftest import run_cli

    df = _degenerate_frame(seed, n, treated, control, item, cross, q, psus)
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "answers.csv")
        df.to_csv(path, index=False)
        for args, (lo, hi) in _cli_commands(path, design, by, q):
            r = run_cli(*args)
            assert r.code in (0, 2) and "Traceback" not in r.err, (args, r.code, r.err[-2000:])
            if r.code == 2:  # an honest refusal: one line naming the problem
                assert r.err.startswith("error:") and r.err.count("\n") == 1, (args, r.err)
                continue
            printed = PRINTED_CI.findall(r.out)
            assert printed or "–" in r.out, (args, r.out)  # a table was printed (an interval or a dash)
            for a, b in printed:
                assert lo <= float(a) <= float(b) <= hi, (args, a, b, r.out)
            shown = re.findall(r"│\s*(-?\d+(?:\.\d+)?) \(!\)", r.out)  # an impossible estimate carries its flag …
            if shown:
                assert "outside the range of a share" in r.out and "warning:" in r.err, (args, r.out, r.err)  # … and its caveat


# -- what the report prints (results.json and the headline sentences of report.html) --------------
PLUS_MINUS = re.compile(r"(-?\d+(?:\.\d+)?)% \(±(\d+(?:\.\d+)?)\)")  # "45% (±21)"


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10**6),
    control=st.sampled_from(["zeros", "full", "random"]),
    item=st.sampled_from(["never", "always", "random"]),
    cross=st.sampled_from(["zeros", "ones", "random"]),
)
def test_report_never_publishes_a_share_interval_outside_its_range(seed, control, item, cross):
    import html as html_lib

    from test_study_fixtures import ALL_DESIGNS, make_study

    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as tmp:
        study = make_study(Path(tmp) / "study", n=40, seed=seed % 1000, extra=ALL_DESIGNS)
        data = Path(tmp) / "study" / "respondents.csv"
        df = pd.read_csv(data)
        t, m = df["list_treat"].to_numpy(), len(df)
        ctrl = {"zeros": np.zeros(m, int), "full": np.full(m, 3), "random": rng.binomial(3, 0.5, m)}[control]
        z = {"never": np.zeros(m, int), "always": np.ones(m, int), "random": rng.integers(0, 2, m)}[item]
        df["list_count"] = ctrl + t * z
        df["cw_answer"] = {"zeros": np.zeros(m, int), "ones": np.ones(m, int), "random": rng.integers(0, 2, m)}[cross]
        df.to_csv(data, index=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sv.analyze(study, out_dir=Path(tmp) / "out")
        _check_json(json.loads((Path(tmp) / "out" / "results.json").read_text()))
        text = html_lib.unescape(re.sub(r"<[^>]+>", " ", (Path(tmp) / "out" / "report.html").read_text()))
        text = re.sub(r"\s+", " ", text)
        for est, half in PLUS_MINUS.findall(text):  # "±" only for an interval inside 0–100% (else its two ends)
            assert -0.5 <= float(est) - float(half) and float(est) + float(half) <= 100.5, (est, half)
        for sentence in re.findall(r"Asked indirectly.*?(?:\.\s|$)", text):
            first = re.search(r"(-?\d+(?:\.\d+)?)%", sentence)
            if first and not 0 <= float(first.group(1)) <= 100:  # an impossible share is never a headline
                assert "not a finding" in sentence or "no share can be" in sentence, sentence
