"""AAPOR outcome rates: hand computations from the Standard Definitions formulas, properties, CLI."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sottovoce.errors import InputError
from sottovoce.nonresponse import Dispositions, classify_dispositions, outcome_rates, parse_counts

# Worked example: I=500, P=20, R=300, NC=200, O=10, UH=900, UO=50, NE=400, e = 0.72.
# By hand: (I+P) = 520, (R+NC+O) = 510, eligible 1030, U = UH+UO = 950, e·U = 684,
# contacted (I+P)+R+O = 830.
HAND = {
    "RR1": 500 / 1980, "RR2": 520 / 1980, "RR3": 500 / 1714, "RR4": 520 / 1714,
    "RR5": 500 / 1030, "RR6": 520 / 1030,
    "COOP1": 500 / 830, "COOP2": 520 / 830, "COOP3": 500 / 820, "COOP4": 520 / 820,
    "REF1": 300 / 1980, "REF2": 300 / 1714, "REF3": 300 / 1030,
    "CON1": 830 / 1980, "CON2": 830 / 1714, "CON3": 830 / 1030,
}
COUNTS = "I=500,P=20,R=300,NC=200,O=10,UH=900,UO=50,NE=400"


def test_every_rate_matches_hand_computation():
    res = outcome_rates(counts=COUNTS, e=0.72)
    assert set(res.rates) == set(HAND)
    for k, v in HAND.items():
        assert res.rates[k] == pytest.approx(v, rel=1e-12), k
    d = res.to_dict()
    assert d["formulas"]["RR3"]["formula"] == "I / ((I+P) + (R+NC+O) + e(UH+UO))"
    assert d["estimate"] == pytest.approx(HAND["RR3"])


def test_e_estimated_by_proportional_allocation():
    res = outcome_rates(counts=COUNTS)
    e = 1030 / 1430
    assert res.e == pytest.approx(e)
    assert res.rates["RR3"] == pytest.approx(500 / (1030 + e * 950))


def test_disposition_codes_in_every_spelling():
    codes = ["1.1", 1.1, "1.10", 1100, "1.2", 2.111, "2.12", 2120, "2.21", 2.32, "2.9", "3.13", 3.21, "3.9", "4.3", 4100]
    d = classify_dispositions(codes)
    assert d.as_dict() == {"I": 4, "P": 1, "R": 3, "NC": 1, "O": 2, "UH": 1, "UO": 2, "NE": 2}
    df = pd.DataFrame({"disp": [str(c) for c in codes]})
    assert outcome_rates(df, column="disp").counts == d.as_dict()


def test_unknown_codes_are_listed():
    with pytest.raises(InputError, match=r"'5\.1'.*'refused'|'refused'.*'5\.1'"):
        classify_dispositions(["1.1", "5.1", "refused", "1.1"])
    with pytest.raises(InputError, match="1.0"):  # summary code, not a final one
        classify_dispositions(["1.0"])


def test_counts_parsing_and_errors():
    assert parse_counts("i=1, p=2 nc=3").as_dict()["NC"] == 3
    with pytest.raises(InputError, match="negative"):
        parse_counts("I=10,R=-1")
    with pytest.raises(InputError, match="unknown category 'X'"):
        parse_counts("I=10,X=1")
    with pytest.raises(InputError, match="e is the eligible share"):
        outcome_rates(counts=COUNTS, e=1.5)


counts_st = st.builds(
    Dispositions,
    **{k: st.integers(0, 10_000).map(float) for k in ("P", "R", "NC", "O", "UH", "UO", "NE")},
    I=st.integers(1, 10_000).map(float),
)


@settings(max_examples=300, deadline=None)
@given(d=counts_st, e=st.one_of(st.none(), st.floats(0, 1)))
def test_rate_orderings_implied_by_definitions(d, e):
    r = outcome_rates(counts=d, e=e).rates
    eps = 1e-12
    for k, v in r.items():
        assert math.isnan(v) or -eps <= v <= 1 + eps, (k, v)
    le = lambda a, b: r[a] <= r[b] + eps  # noqa: E731
    # partials count in RR2/4/6; e <= 1 moves RR1 -> RR3 -> RR5
    for a, b in [("RR1", "RR2"), ("RR2", "RR4"), ("RR4", "RR6"), ("RR1", "RR3"), ("RR3", "RR5"),
                 ("RR3", "RR4"), ("RR5", "RR6"), ("REF1", "REF2"), ("REF2", "REF3"),
                 ("CON1", "CON2"), ("CON2", "CON3"), ("RR1", "COOP1"), ("RR2", "COOP2"),
                 ("COOP1", "COOP2"), ("COOP1", "COOP3"), ("COOP3", "COOP4"), ("COOP2", "COOP4")]:
        assert le(a, b), (a, b, r[a], r[b])
    # response + refusal never exceeds the whole eligible base
    assert r["RR2"] + r["REF1"] <= 1 + eps


def test_cli_rates_json_and_table(cli, tmp_path):
    res = cli("rates", "--counts", COUNTS, "--e", "0.72", "--json")
    assert res.code == 0, res.err
    d = res.json()
    assert d["rates"]["COOP3"] == pytest.approx(500 / 820)
    assert d["formulas"]["CON1"]["name"] == "Contact rate 1"
    path = tmp_path / "disp.csv"
    pd.DataFrame({"code": ["1.1"] * 3 + ["2.11", "3.13", "4.3"]}).to_csv(path, index=False)
    res = cli("rates", path, "--column", "code", "--json")
    assert res.code == 0, res.err
    assert res.json()["counts"]["I"] == 3
    table = cli("rates", "--counts", COUNTS)
    assert table.code == 0 and "RR6" in table.out


def test_cli_unknown_codes(cli, tmp_path):
    path = tmp_path / "disp.csv"
    pd.DataFrame({"code": ["1.1", "7.7", "1.1", "oops"]}).to_csv(path, index=False)
    res = cli("rates", path, "--column", "code")
    assert res.code == 2
    assert res.err.startswith("error:") and "'7.7'" in res.err and "'oops'" in res.err
    assert len(res.err.strip().splitlines()) == 1


def test_cli_negative_counts(cli):
    res = cli("rates", "--counts", "I=100,R=-3")
    assert res.code == 2 and "R=-3" in res.err and "negative" in res.err


def test_cli_needs_input(cli):
    res = cli("rates")
    assert res.code == 2 and res.err.startswith("error:")
