"""The survey design object: weights, strata, PSUs, fpc, replicates, calibration and estimation.

Every design-based standard error in sottovoce goes through :meth:`Survey.cov_total`: an
estimator writes its linearization (influence) values ``u_i`` so that ``theta_hat - theta ≈
sum_i w_i u_i``, and the design turns them into a covariance matrix (Taylor linearization with
strata and PSUs, Lumley 2010, *Complex Surveys*, ch. 2 and appendix C; Wolter 2007, ch. 6;
replicate weights, Wolter ch. 4-5). After raking or post-stratification the influence values
are first replaced by their calibration residuals (Deville & Särndal 1992), as R's ``survey``
package does in ``svyrecvar``; see :meth:`Survey.rake` for the exact relation to R.

The estimates (:meth:`Survey.mean`, :meth:`Survey.proportion`, :meth:`Survey.total`) reproduce
R's ``svymean``/``svytotal``/``svyciprop``/``svychisq`` (tests/reference/ holds the R script and
its outputs). Everything is vectorised: respondents are collapsed to PSU totals with
``np.bincount`` before any per-stratum arithmetic.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import sparse

from ._results import Result
from .errors import DesignError, InputError, SottovoceError, SottovoceWarning
from .intervals import CI_METHODS, DF_RULES, SMALL_DF, DegreesOfFreedom, design_df, satterthwaite_df
from .io import as_frame, require_columns, value_labels
from .linearization import (
    CalibrationPlan,
    Coded,
    StratumVariance,
    aggregate_dense,
    stratum_variance,
)
from .linearization import PostStep as _PostStep
from .linearization import RakeStep as _RakeStep
from .modelframe import one_variable
from .multistage import later_stages
from .subgroups import Level, _sorted_codes, clean_code, estimate_by

__all__ = ["Survey", "as_survey"]

#: a design column: a column name, or the values themselves (a pandas Series aligned with the
#: data, or an array with one value per row)
Column = Any

LONELY_PSU = ("adjust", "remove", "certainty", "fail")
REPLICATE_TYPES = ("jk1", "jkn", "bootstrap", "other")
# R's svyrecvar makes exactly this many backfitting sweeps over the margins of a raked design.
R_RAKE_SWEEPS = 10


@dataclass(frozen=True)
class _Replicates:
    """Replicate weights, either as PSU-level multipliers of the base weights or as full columns."""

    kind: str
    scale: float
    rscales: np.ndarray  # (R,)
    mse: bool
    multipliers: np.ndarray | None = None  # (n_psu, R), replicate weight = w_i * m[psu_i, r]
    columns: np.ndarray | None = None  # (n, R) full replicate weights

    @property
    def count(self) -> int:
        return int(self.rscales.shape[0])


@dataclass(frozen=True)
class _Spec:
    """What one call of mean/proportion/total estimates (shared by all its domains)."""

    var: str
    cat: np.ndarray | None  # (n,) category code of each row (0 for a row without an answer); None for a value
    answered: np.ndarray | None  # (n,) rows with an answer; None = every row
    k: int
    value: np.ndarray | None  # (n,) numeric values (None: category indicators)
    levels: Any
    kind: str
    is_share: bool
    ci: str
    level: float
    df: float | str | None  # a number, a rule of design_df ("effective", "design") or None (the design's rule)


def as_survey(
    data: Any,
    weights: Column = None,
    strata: Column = None,
    psu: Column = None,
    fpc: Column = None,
    **design: Any,
) -> Survey:
    """The one way in for a survey design: every estimator calls this on what the user passed.

    ``data`` is a :class:`Survey` (used as it is: its weights, calibration and variance) or a
    table (pandas; polars and anything ``pandas.DataFrame`` accepts are converted) with the
    design given by ``weights``, ``strata``, ``psu``, ``fpc`` (column names, or the values as a
    pandas Series aligned with the table) and any other :class:`Survey` argument. Giving a
    design twice — a Survey *and* weights/strata/psu — is an error, not a silent choice.
    """
    given = {k: v for k, v in (("weights", weights), ("strata", strata), ("psu", psu), ("fpc", fpc), *design.items())
             if v is not None and not (k == "lonely_psu" and v == "adjust") and not (k == "mse" and v is False)
             and not (k == "df" and v == "effective")}
    if isinstance(data, Survey):
        if given:
            names = ", ".join(f"{k}=" for k in given)
            raise InputError(
                f"the design was given twice: give it either as a Survey or as {names} on a table, not both "
                f"(data is a Survey, which carries its own weights, strata, PSUs and calibration)"
            )
        return data
    if data is None:
        raise InputError("data= is None; pass a pandas DataFrame (or a Survey)")
    if isinstance(data, (str, bytes)) or hasattr(data, "__fspath__"):
        raise InputError(f"data={str(data)!r} is a path; read it first with sottovoce.read_table(path), then pass the table")
    return Survey(data, weights=weights, strata=strata, psu=psu, fpc=fpc, **design)


def design_columns(df: pd.DataFrame, **columns: Column) -> tuple[pd.DataFrame, tuple[str | None, ...]]:
    """Resolve design arguments to column names of ``df``.

    A string must name a column; a pandas Series (aligned on the index) or an array with one
    value per row is attached to a shallow copy of the table under its own name (or
    ``"<parameter> (values)"``); anything else is an :class:`InputError` naming the parameter.
    """
    names: list[str | None] = []
    out = df
    for param, spec in columns.items():
        if spec is None or isinstance(spec, str):
            names.append(spec)
            continue
        if isinstance(spec, pd.Series):
            if isinstance(spec.name, str) and spec.name in out.columns and spec.index.equals(out.index) and out[spec.name].equals(spec):
                names.append(spec.name)  # df["w"]: the column itself
                continue
            if len(spec) == len(out) and spec.index.equals(out.index):
                values = spec.to_numpy()
            elif out.index.isin(spec.index).all() and spec.index.is_unique:
                values = spec.reindex(out.index).to_numpy()
            else:
                raise InputError(
                    f"{param}= is a pandas Series whose index does not match the data's rows; pass a Series from the "
                    f"same table (e.g. df['w']) or the column's name ({param}='w')"
                )
        elif isinstance(spec, (np.ndarray, list, tuple)):
            values = np.asarray(spec)
            if values.shape != (len(out),):
                raise InputError(f"{param}= has {values.size} values for {len(out)} rows; give one value per row or a column name")
        else:
            raise InputError(
                f"{param}={spec!r} must be a column name (str) or a pandas Series with one value per row, "
                f"not a {type(spec).__name__}"
            )
        name = spec.name if isinstance(spec, pd.Series) and isinstance(spec.name, str) and spec.name not in out.columns else f"{param} (values)"
        if out is df:
            out = df.copy(deep=False)
            out.attrs = dict(df.attrs)
        out[name] = values
        names.append(name)
    return out, tuple(names)


class Survey:
    """A survey design: data plus weights, strata, PSUs, fpc, replicate weights, calibration.

    Parameters
    ----------
    data : DataFrame (pandas, or polars converted to pandas).
    weights : name of the weight column; ``None`` means equal weights of 1. Zero weights are
        legitimate (excluded respondents); negative or missing weights are an error.
    strata, psu : names of the stratum and PSU (cluster) columns; PSU ids are taken as nested
        within strata. Without ``psu`` every row is its own PSU. A list of columns gives the
        stages of a multistage design (R's ``ids = ~psu + ssu``), each nested in the one before.
    fpc : column with the population number of PSUs in each stratum (values > 1) or the sampling
        fraction (values <= 1), constant within a stratum, as R's ``svydesign(fpc=)``; a list
        gives one per stage, and the later stages then add their variance
        (:mod:`sottovoce.multistage`; without them only the first stage counts, as in R).
    replicate_weights : list of columns holding replicate weights (full weights, as R's
        ``svrepdesign(combined.weights=TRUE)``); the variance then uses the replicates.
    replicate_type : ``"JK1"`` (scale (R-1)/R), ``"bootstrap"`` (scale 1/(R-1)), ``"JKn"`` or
        ``"other"`` (give ``scale`` and ``rscales``), as R's ``svrepdesign(type=)``.
    scale, rscales, mse : replicate variance ``scale * sum_r rscales_r (t_r - c)^2`` with ``c``
        the mean of the replicates (``mse=False``, R's default) or the full-sample estimate.
    lonely_psu : a stratum with a single PSU: ``"adjust"`` (deviation from the population
        mean of zero, R's ``"adjust"``), ``"remove"``/``"certainty"`` (contributes nothing) or
        ``"fail"`` (an error).
    df : the degrees of freedom of t intervals (:func:`sottovoce.intervals.design_df`):
        ``"effective"`` (default) uses each estimate's Satterthwaite effective df where they are
        fewer than PSUs − strata (few PSUs carrying the variance: intervals that cover), and
        ``"design"`` always PSUs − strata, as R's ``survey`` (results equal R's).
    """

    def __init__(
        self,
        data: Any,
        weights: Column = None,
        strata: Column = None,
        psu: Column = None,
        fpc: Column = None,
        replicate_weights: Sequence[str] | None = None,
        replicate_type: str | None = None,
        scale: float | None = None,
        rscales: Sequence[float] | None = None,
        mse: bool = False,
        lonely_psu: Literal["adjust", "remove", "certainty", "fail"] = "adjust",
        df: Literal["effective", "design"] = "effective",
    ) -> None:
        if isinstance(data, Survey):
            raise InputError("data is already a Survey; use it as it is (or its .data to build another design)")
        frame = as_frame(data)
        source = frame.attrs.get("source", "data")
        if len(frame) == 0:
            raise InputError(f"{source}: no rows")
        if isinstance(replicate_weights, str):
            replicate_weights = [replicate_weights]
        # Several PSU columns are the stages of a multistage design (R's ids = ~psu + ssu).
        psu, stage_cols = _first_stage(psu, frame)
        fpc, stage_fpcs = _first_stage(fpc, frame)
        frame, (weights, strata, psu, fpc) = design_columns(frame, weights=weights, strata=strata, psu=psu, fpc=fpc)
        require_columns(frame, [weights, strata, psu, fpc, *stage_cols, *stage_fpcs, *(replicate_weights or [])])
        if lonely_psu not in LONELY_PSU:
            raise InputError(f"lonely_psu='{lonely_psu}' is not one of {', '.join(LONELY_PSU)}")
        if df not in DF_RULES:
            raise InputError(f"df={df!r} is not a degrees-of-freedom rule; use 'effective' (Satterthwaite, the default) or 'design' (as R)")
        self.df_rule: str = df
        self.data = frame
        self.weights_column = weights
        self.strata_column = strata
        self.psu_column = psu
        self.fpc_column = fpc
        self.lonely_psu = lonely_psu
        n = len(frame)
        self._w = np.ones(n) if weights is None else _weight_column(frame, weights)
        if not (self._w > 0).any():
            raise InputError(f"weight column '{weights}' is zero for every respondent")
        if psu is None:
            self._psu = np.arange(n, dtype=np.int64)
            self._psu_stratum = _codes(frame, strata, "stratum")
        else:
            self._psu, self._psu_stratum = _nested_psus(frame, strata, psu)
        self._n_psu = len(self._psu_stratum)
        self._n_h = np.bincount(self._psu_stratum)
        self._f_h = self._finite_factor(fpc)
        if lonely_psu == "fail" and (self._n_h == 1).any():
            h = int(np.argmax(self._n_h == 1))
            raise DesignError(f"stratum {self._stratum_name(h)} of '{strata}' has a single PSU; "
                              "merge it with a neighbouring stratum or use lonely_psu='adjust'")
        self._mask: np.ndarray | None = None
        # what the design fixes, computed once and shared with its domains (see _fresh)
        self._cache: dict[str, Any] = {}
        self._cal: tuple[_PostStep | _RakeStep, ...] = ()
        self._trimmed = False
        self._stages = later_stages(frame, self._psu, (1.0 - self._f_h)[self._psu_stratum], stage_cols,
                                    [*stage_fpcs, *[None] * (len(stage_cols) - len(stage_fpcs))], lonely_psu)
        self._rep: _Replicates | None = None
        if replicate_weights:
            self._rep = _read_replicates(frame, list(replicate_weights), replicate_type, scale, rscales, mse)
        elif replicate_type is not None:
            raise InputError("replicate_type given without replicate_weights columns")

    # -- basic properties ---------------------------------------------------------------------
    @property
    def _strata(self) -> np.ndarray:
        """The stratum code of each row."""
        return self._psu_stratum[self._psu]

    @property
    def weights(self) -> np.ndarray:
        """The final weights, one per row (zeros for excluded respondents and outside a domain)."""
        return self._w if self._mask is None else self._w * self._mask

    def _weights_scaled_to_population(self) -> bool:
        """Whether the weights sum to more than twice the respondents (a population scale, not
        the sample's): the SRS reference of ``deff`` is then without replacement."""
        rows = self._design_rows()
        return bool(rows["W"] > 2 * rows["n_pos"])

    @property
    def n(self) -> int:
        """Respondents with a positive weight (in the domain, for a domain)."""
        return int((self.weights > 0).sum())

    @property
    def calibrated(self) -> bool:
        """True after :meth:`rake` or :meth:`poststratify`: SEs use calibration residuals."""
        return bool(self._cal)

    @property
    def replicates(self) -> int:
        """Number of replicate weights (0 for a linearization design)."""
        return 0 if self._rep is None else self._rep.count

    @property
    def df(self) -> float:
        """Design degrees of freedom: PSUs minus strata among respondents with positive weight
        (R's ``degf``); for replicate designs the rank of the replicate weights of those
        respondents minus one (R's ``degf`` of a subset of a replicate design, whose rows are
        dropped: a domain in fewer PSUs has fewer degrees of freedom)."""
        if self._mask is None and "df" in self._cache:
            return float(self._cache["df"])
        if self._rep is not None:
            if self._mask is not None:
                return float(self._rep_rank(self.weights > 0) - 1)
            if "rank" not in self._cache:
                self._cache["rank"] = self._rep_rank(self.weights > 0)
            return float(self._cache["rank"] - 1)
        held = self._psus_held()  # PSUs minus strata, of those with a positive weight
        df = int(round(float(held.sum()))) - int(np.count_nonzero(held))
        if self._mask is None:
            self._cache["df"] = df
        return float(df)

    def _fresh(self) -> Survey:
        """A copy whose weights, calibration or replicates will change: nothing cached is shared."""
        new = copy.copy(self)
        new._cache = {}
        return new

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        parts = [f"{self.n} respondents", f"{self._n_psu} PSUs", f"{len(self._n_h)} strata"]
        if self._rep is not None:
            parts.append(f"{self._rep.count} {self._rep.kind} replicates")
        if self._cal:
            parts.append("calibrated")
        if self._mask is not None:
            parts.append("domain")
        return f"Survey({', '.join(parts)})"

    # -- variance -----------------------------------------------------------------------------
    def cov_total(self, u: np.ndarray) -> np.ndarray:
        """Design covariance of the weighted totals ``sum_i w_i u_ik`` (a k×k matrix).

        Linearization: ``sum_h f_h n_h/(n_h - 1) sum_j (z_hj - zbar_h)(z_hj - zbar_h)'`` with
        ``z_hj`` the weighted PSU totals (with-replacement approximation; ``f_h = 1 - n_h/N_h``
        with an fpc), after replacing ``u`` by its calibration residuals when the design was
        raked or post-stratified. Replicate designs use the replicate totals instead. In a
        domain, rows outside the domain count as zero (R's ``subset.survey.design``).
        """
        u = np.asarray(u, dtype=float)
        if u.ndim == 1:
            u = u[:, None]
        if u.shape[0] != len(self.data):
            raise InputError(f"cov_total: influence values have {u.shape[0]} rows, the design has {len(self.data)}")
        if self._mask is not None:
            u = u * self._mask[:, None]
        if self._rep is not None:
            t_full = self._w @ u
            t_rep = self._rep_totals(u)
            return self._rep_cov(t_rep, t_full)
        cov, _ = self._variance(aggregate_dense(u), full=True)
        assert cov is not None
        return cov

    def with_df(self, rule: Literal["effective", "design"]) -> Survey:
        """The same design with another degrees-of-freedom rule (see ``df`` of :class:`Survey`)."""
        if rule not in DF_RULES:
            raise InputError(f"df={rule!r} is not a degrees-of-freedom rule; use 'effective' or 'design'")
        new = copy.copy(self)
        new.df_rule = rule
        return new

    def variance_by_stratum(self, u: np.ndarray) -> StratumVariance:
        """Each stratum's contribution to the linearization variances of the totals ``sum_i w_i
        u_ik`` (they sum to the diagonal of :meth:`cov_total`): what a Satterthwaite effective
        df needs; ``n_h`` counts the stratum's PSUs with a positive weight (in the domain, for a
        domain). Not defined for replicate designs."""
        if self._rep is not None:
            raise DesignError("a replicate design has no strata contributions; its df are the replicates' rank − 1")
        u = np.asarray(u, dtype=float)
        if u.ndim == 1:
            u = u[:, None]
        if u.shape[0] != len(self.data):
            raise InputError(f"influence values have {u.shape[0]} rows, the design has {len(self.data)}")
        if self._mask is not None:
            u = u * self._mask[:, None]
        parts = self._variance(aggregate_dense(u), full=False)[1]
        return StratumVariance(parts.var, parts.parts, self._psus_held())

    def _psus_held(self) -> np.ndarray:
        """The PSUs of each stratum with a positive weight (in the domain, for a domain): the
        others' totals are zero whatever was sampled, so they add no degrees of freedom (as
        in R's ``degf``). ``n_h`` when every weight is positive."""
        if self._mask is None and "psus_held" in self._cache:
            return self._cache["psus_held"]
        pos = self._design_rows()["pos"] if self._mask is None else (self.weights > 0).astype(float)
        held = None if pos is None else np.bincount(self._psu, weights=pos, minlength=self._n_psu) > 0
        # every row with a positive weight (the design's PSU codes only exist with rows): all PSUs
        out = self._n_h if held is None or held.all() else np.bincount(self._psu_stratum, weights=held, minlength=len(self._n_h))
        if self._mask is None:
            self._cache["psus_held"] = out
        return out

    def _variance(self, agg: Any, full: bool) -> tuple[np.ndarray | None, StratumVariance]:
        """The design variance of the totals of the (calibration residuals of the) weighted
        influence values that ``agg`` aggregates: the k×k covariance when ``full``, and each
        stratum's part. PSU totals take one pass over the rows, plus one per calibration step;
        the later stages of a multistage design add theirs (:mod:`sottovoce.multistage`; not
        split by stratum)."""
        units = [(st.unit, st.n_units) for st in self._stages]
        plan = self._calibration_plan()
        if plan is None:
            z = agg(self._psu, self._n_psu, self._w)
            z_units = [agg(u, n_u, self._w) for u, n_u in units]
        else:
            z, z_units = plan.psu_totals(agg, self._psu, self._n_psu, units)
        cov, parts = stratum_variance(z, self._psu_stratum, self._n_h, self._f_h, self.lonely_psu, full)
        if self._stages:
            extra = [st.from_totals(zu, full) for st, zu in zip(self._stages, z_units, strict=True)]
            if full:
                assert cov is not None
                cov = cov + sum(extra)
                parts = StratumVariance(np.diag(cov).copy(), parts.parts, parts.n_h)
            else:
                parts = StratumVariance(parts.var + sum(extra), parts.parts, parts.n_h)
        return cov, parts

    def _calibration_plan(self) -> CalibrationPlan | None:
        """The calibration steps in cell space, built once per design (see linearization.py)."""
        if not self._cal:
            return None
        plan = self._cache.get("calibration")
        if plan is None:
            plan = self._cache["calibration"] = CalibrationPlan(self._cal, self._w, self._psu, self._n_psu)
        return plan

    # -- domains ------------------------------------------------------------------------------
    def domain(self, mask: Any) -> Survey:
        """The design restricted to a domain (subgroup) for estimation, keeping the full design
        for the variance (R's ``subset.survey.design``). ``mask`` is a boolean array or Series
        aligned with the data."""
        m = mask.reindex(self.data.index).to_numpy() if isinstance(mask, pd.Series) else np.asarray(mask)
        if m.shape != (len(self.data),):
            raise InputError(f"domain mask has shape {m.shape}; it needs one value per row ({len(self.data)})")
        m = np.where(pd.isna(m), False, m).astype(bool)
        new = copy.copy(self)
        new._mask = m if self._mask is None else (self._mask & m)
        return new

    # -- replicates ---------------------------------------------------------------------------
    def with_replicates(self, kind: str = "jk1", n: int = 50, seed: int | None = None) -> Survey:
        """A replicate-weight version of this design (R's ``as.svrepdesign``).

        ``"jk1"``: delete-one-PSU jackknife for unstratified designs, multipliers ``n/(n-1)``,
        scale ``f (n-1)/n``. ``"jkn"``: stratified jackknife, rscales ``f_h (n_h-1)/n_h``.
        ``"bootstrap"``: Canty & Davison's (1999) with-replacement bootstrap of ``n_h`` PSUs per
        stratum, multiplier = times drawn, scale ``nbar/((nbar-1)(R-1))`` with ``nbar`` the
        harmonic mean PSUs per stratum (R's ``bootweights``).
        """
        kind = kind.lower()
        if self._rep is not None:
            raise DesignError("this design already has replicate weights")
        if self._cal:
            raise DesignError("create replicate weights before raking or post-stratifying, not after")
        n_h, n_psu = self._n_h, self._n_psu
        if kind == "jk1":
            if len(n_h) > 1:
                raise DesignError("JK1 replicates are for unstratified designs; use kind='jkn' for a stratified one")
            if n_psu < 2:
                raise DesignError("a jackknife needs at least 2 PSUs")
            mult = np.full((n_psu, n_psu), n_psu / (n_psu - 1))
            np.fill_diagonal(mult, 0.0)
            rep = _Replicates("jk1", float(self._f_h[0] * (n_psu - 1) / n_psu), np.ones(n_psu), False, multipliers=mult)
        elif kind == "jkn":
            if (n_h < 2).any():
                raise DesignError("the stratified jackknife needs at least 2 PSUs in every stratum")
            mult = np.ones((n_psu, n_psu))
            same = self._psu_stratum[:, None] == self._psu_stratum[None, :]
            nh = n_h[self._psu_stratum]
            mult = np.where(same, (nh / (nh - 1))[None, :], 1.0)
            np.fill_diagonal(mult, 0.0)
            rs = self._f_h[self._psu_stratum] * (nh - 1) / nh
            rep = _Replicates("jkn", 1.0, rs, False, multipliers=mult)
        elif kind == "bootstrap":
            if n < 2:
                raise InputError("bootstrap needs at least 2 replicates")
            if (n_h < 2).any():
                raise DesignError("the bootstrap needs at least 2 PSUs in every stratum")
            if self.fpc_column is not None:
                raise DesignError("bootstrap replicates with an fpc are not supported; drop the fpc or use kind='jkn'")
            rng = np.random.default_rng(seed)
            mult = np.zeros((n_psu, n))
            order = np.argsort(self._psu_stratum, kind="stable")
            starts = np.concatenate([[0], np.cumsum(n_h)[:-1]])
            # Draw n_h PSUs with replacement in every stratum, for all replicates at once.
            draws = rng.random((n_psu, n))
            pick = starts[self._psu_stratum[order]][:, None] + np.floor(draws * n_h[self._psu_stratum[order]][:, None]).astype(np.int64)
            chosen = order[pick]
            for r in range(n):  # R replicates, each one vectorised bincount
                mult[:, r] = np.bincount(chosen[:, r], minlength=n_psu)
            nbar = 1.0 / np.mean(1.0 / n_h)
            rep = _Replicates("bootstrap", float(nbar / ((nbar - 1) * (n - 1))), np.ones(n), False, multipliers=mult)
        else:
            raise InputError(f"unknown replicate kind '{kind}'; use jk1, jkn or bootstrap")
        new = self._fresh()
        new._rep = rep
        return new

    def replicate_weights(self) -> np.ndarray:
        """The replicate weights as an (n, R) array (full weights, not multipliers)."""
        if self._rep is None:
            raise DesignError("this design has no replicate weights; use with_replicates() first")
        if self._rep.columns is not None:
            return self._rep.columns
        assert self._rep.multipliers is not None
        return self._w[:, None] * self._rep.multipliers[self._psu]

    def _rep_totals(self, y: np.ndarray) -> np.ndarray:
        """Replicate totals ``sum_i w_ri y_ik`` as an (R, k) array."""
        rep = self._rep
        assert rep is not None
        if rep.columns is not None:
            return rep.columns.T @ y
        assert rep.multipliers is not None
        z = np.stack([np.bincount(self._psu, weights=self._w * y[:, j], minlength=self._n_psu) for j in range(y.shape[1])], axis=1)
        return rep.multipliers.T @ z

    def _rep_cov(self, est_rep: np.ndarray, est_full: np.ndarray) -> np.ndarray:
        rep = self._rep
        assert rep is not None
        centre = est_full if rep.mse else est_rep.mean(axis=0)
        dev = est_rep - centre
        return rep.scale * (dev * rep.rscales[:, None]).T @ dev

    def _rep_rank(self, rows: np.ndarray) -> int:
        """Rank of the replicate weights of ``rows`` (replicate multipliers of their PSUs)."""
        rep = self._rep
        assert rep is not None
        if rep.multipliers is not None:
            mat = rep.multipliers[np.unique(self._psu[rows])]
        else:
            mat = np.unique(np.asarray(rep.columns)[rows], axis=0)
        return int(np.linalg.matrix_rank(mat)) if len(mat) else 0

    # -- calibration --------------------------------------------------------------------------
    def rake(self, margins: Any, *, tol: float = 1e-8, max_iter: int = 1000, variance: Literal["r", "exact"] = "r") -> Survey:
        """Rake the weights to population margins; the new design's SEs use calibration residuals.

        The weights come from :func:`sottovoce.weighting.rake` (iterative proportional fitting).
        The variance replaces each influence value by its residual from the margins' category
        means, by backfitting over the margins (R's ``svyrecvar`` for a ``rake()`` design):
        ``variance="r"`` makes exactly R's 10 sweeps and agrees with R to 1e-6 relative;
        ``variance="exact"`` sweeps until the projection has converged (the limit R approximates;
        the two differ only when the margins are strongly associated). R projects with the
        weights of each margin's last raking step; at convergence these equal the final weights,
        which are used here.
        """
        from . import weighting

        if variance not in ("r", "exact"):
            raise InputError(f"variance='{variance}' must be 'r' or 'exact'")
        self._check_calibratable("rake")
        m = weighting.load_margins(margins)
        new_w = _as_weights(weighting.rake(self.data, m, weights=self._w, tol=tol, max_iter=max_iter), self.data)
        if self._rep is not None:  # rake every replicate too (R's rake on an svyrep.design)
            return self._recalibrated_replicates(new_w, lambda w: weighting.rake(self.data, m, weights=w, tol=tol, max_iter=max_iter))
        codes = tuple(_margin_codes(self.data, col) for col in m)
        step = _RakeStep(codes, new_w, R_RAKE_SWEEPS if variance == "r" else None)
        return self._calibrated(new_w, step)

    def poststratify(self, cells: str | Sequence[str], targets: Any, **kwargs: Any) -> Survey:
        """Post-stratify the weights to population cell totals (or shares); the new design's SEs
        use within-cell deviations from the old-weighted cell means (R's ``postStratify``)."""
        from . import weighting

        self._check_calibratable("poststratify")
        cols = [cells] if isinstance(cells, str) else list(cells)
        new_w = _as_weights(weighting.poststratify(self.data, cols, targets, weights=self._w, **kwargs), self.data)
        if self._rep is not None:  # post-stratify every replicate too (R's postStratify.svyrep.design)
            return self._recalibrated_replicates(new_w, lambda w: weighting.poststratify(self.data, cols, targets, weights=w, **kwargs))
        cell_codes = pd.MultiIndex.from_frame(self.data[cols]).factorize()[0] if len(cols) > 1 else pd.factorize(self.data[cols[0]])[0]
        cell_codes = np.where(cell_codes < 0, int(cell_codes.max()) + 1, cell_codes).astype(np.int64)
        return self._calibrated(new_w, _PostStep(cell_codes, self._w.copy(), new_w))

    def trim(self, upper: float = 5.0, lower: float | None = None, *, margins: Any = None, **kwargs: Any) -> Survey:
        """Trim the weights to at most ``upper`` (at least ``lower``) times the mean weight with
        :func:`sottovoce.weighting.trim`, re-raking to ``margins`` when given.

        As R's ``trimWeights``, the calibration already in the design is kept for the variance
        and the trimmed weights are otherwise treated as fixed; with ``margins`` the re-raking is
        added as a raking step (its residuals are used, as for :meth:`rake`).
        """
        from . import weighting

        if self._rep is not None:
            raise DesignError("trimming a replicate-weight design is not supported; trim first, then create replicates")
        if self._mask is not None:
            raise DesignError("trim the full sample, then take the domain")
        new_w = _as_weights(weighting.trim(self.data, upper, lower, weights=self._w, margins=margins, **kwargs), self.data)
        new = self._fresh()
        new._w = new_w
        new._trimmed = True
        if margins is not None:
            m = weighting.load_margins(margins)
            codes = tuple(_margin_codes(self.data, col) for col in m)
            new._cal = (*self._cal, _RakeStep(codes, new_w, R_RAKE_SWEEPS))
        return new

    def _calibrated(self, new_w: np.ndarray, step: _PostStep | _RakeStep) -> Survey:
        new = self._fresh()
        new._w = new_w
        new._cal = (*self._cal, step)
        return new

    def _recalibrated_replicates(self, new_w: np.ndarray, calibrate: Any) -> Survey:
        """A replicate design whose full-sample and replicate weights were each recalibrated, so
        the replicate variance reflects the calibration (Wolter 2007, §4.6; Lumley 2010, §7.4)."""
        assert self._rep is not None
        reps = self.replicate_weights()
        cols = np.column_stack([_as_weights(calibrate(reps[:, r]), self.data) for r in range(reps.shape[1])])
        new = self._fresh()
        new._w = new_w
        new._rep = _Replicates(self._rep.kind, self._rep.scale, self._rep.rscales, self._rep.mse, columns=cols)
        return new

    def _check_calibratable(self, what: str) -> None:
        if self._mask is not None:
            raise DesignError(f"{what} the full sample, then take the domain")

    # -- estimation ---------------------------------------------------------------------------
    def mean(self, var: str, by: str | None = None, ci: str = "wilson", level: float = 0.95, df: float | str | None = None) -> Result:
        """Weighted mean of a numeric column with its linearization (or replicate) SE.

        A 0/1 column is a share and gets a proportion interval (``ci``); other means get
        ``mean ± t·se``. ``by`` adds one result per level in ``groups`` (domain estimation).
        ``df``: the interval's degrees of freedom — a number, or a rule for this estimate
        (``"effective"``, ``"design"``; default: the design's, see :class:`Survey`).
        """
        return self._estimate(var, "mean", by, ci, level, df)

    def total(self, var: str, by: str | None = None, level: float = 0.95, df: float | str | None = None,
              categorical: bool | None = None) -> Result:
        """Weighted total of a numeric column (R's ``svytotal``); a categorical column (value
        labels or text, or ``categorical=True``) gives one total per category."""
        if categorical is None:
            categorical = self._kind(var) == "proportion"
        return self._estimate(var, "category-total" if categorical else "total", by, "wald", level, df)

    def proportion(self, var: str, by: str | None = None, ci: str = "wilson", level: float = 0.95, df: float | str | None = None) -> Result:
        """Share of each category of ``var``: one child result per category in ``categories``
        with its ``code`` and value ``label``; intervals by ``ci`` (wilson, logit, beta, wald)."""
        return self._estimate(var, "proportion", by, ci, level, df)

    def estimate(self, var: str, by: str | None = None, ci: str = "wilson", level: float = 0.95, df: float | str | None = None) -> Result:
        """Proportions for a categorical column (value labels or text), a share for a 0/1
        column, otherwise a mean."""
        return self._estimate(var, self._kind(var), by, ci, level, df)

    def _kind(self, var: str) -> str:
        var = one_variable(var)
        require_columns(self.data, [var])
        s = self.data[var]
        if value_labels(self.data, var) or not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
            return "proportion"
        return "mean"

    def _estimate(self, var: str, kind: str, by: str | None, ci: str, level: float, df: float | str | None) -> Result:
        var, by = one_variable(var), one_variable(by)  # R's "~support" as well as "support"
        require_columns(self.data, [var, by])
        spec, top = self._spec_and_top(var, kind, ci, level, df)
        return _warned(top if by is None else self._by(spec, top, by))

    def _spec_and_top(self, var: str, kind: str, ci: str, level: float, df: float | str | None) -> tuple[_Spec, Result]:
        """What an estimate of ``var`` needs, and its estimate among all respondents."""
        if isinstance(df, str) and df not in DF_RULES:
            raise InputError(f"df='{df}' is not a degrees-of-freedom rule; use a number, 'effective' (Satterthwaite) or 'design' (as R)")
        if ci not in CI_METHODS:
            raise InputError(f"ci='{ci}' is not an interval method for shares; use one of {', '.join(CI_METHODS)}")
        if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 1:
            raise InputError(f"level={level!r}: the confidence level must be a number between 0 and 1 (e.g. 0.95)")
        s = self.data[var]
        # numpy integers and booleans cannot be missing: no pass over the rows to find out
        plain_int = isinstance(s.dtype, np.dtype) and s.dtype.kind in "iu"
        missing: np.ndarray | None = None if plain_int or s.dtype == np.bool_ else s.isna().to_numpy()
        categorical = kind in ("proportion", "category-total")
        if kind == "category-total":
            kind = "total"
        value: np.ndarray | None
        cat: np.ndarray | None
        is_share = kind == "proportion"
        any_missing = missing is not None and bool(missing.any())
        if categorical:
            codes, levels = _sorted_codes(s)  # integer codes by counting, others as pandas.factorize(sort=True)
            if len(levels) == 0:
                raise InputError(f"column '{var}' has no non-missing values")
            cat = np.asarray(codes, dtype=np.int64)
            if missing is not None and any_missing:
                cat = np.where(missing, 0, cat)
            k, value = len(levels), None
        else:
            if not pd.api.types.is_numeric_dtype(s):
                raise InputError(f"column '{var}' is not numeric; use proportion() for a categorical variable")
            if plain_int:  # integers enter the products as they are (no float copy)
                value = s.to_numpy()
                is_share = kind == "mean" and int(value.min()) >= 0 and int(value.max()) <= 1
            else:
                value = s.to_numpy(dtype=float, na_value=np.nan, copy=any_missing)
                if missing is not None and any_missing:
                    value[missing] = 0.0
                is_share = kind == "mean" and bool(((value == 0) | (value == 1)).all())
            cat, k, levels = None, 1, None
        rows = self._row_cache()
        n_missing = 0
        if missing is not None and any_missing:
            n_missing = int(np.count_nonzero(missing)) if rows["all_pos"] else int(np.count_nonzero(missing & rows["pos_bool"]))
        # weights are never negative: the zero weights are the rows that are not positive
        n_zero = (len(self._w) if self._mask is None else int(np.count_nonzero(self._mask))) - rows["n_pos"]
        warns: list[str] = []
        if n_missing:
            warns.append(f"{n_missing} respondents with no answer to '{var}' are left out (a domain)")
        spec = _Spec(var, cat, ~missing if any_missing and missing is not None else None, k, value, levels, kind, is_share, ci, level, df)
        got = self._domains(spec, None, [])[0]
        if isinstance(got, SottovoceError):
            raise got
        details = {"weighted_base": float(got.details["weighted_n"]), "n_missing": n_missing, "n_zero_weight": n_zero}
        top = got.with_(details={**got.details, **details}, warnings=tuple(warns) + got.warnings)
        return spec, top

    def _by(self, spec: _Spec, top: Result, by: str, levels: Any = None) -> Result:
        """``top`` with the estimates of ``spec`` in every level of ``by`` (one pass)."""
        kind, is_share = spec.kind, spec.is_share
        groups, notes = estimate_by(
            self, by, fit_all=lambda index, levs: self._domains(spec, index, levs), known=levels,
            failure=lambda lev, why: Result.failure(why, method=kind, n=lev.n, variable=spec.var, level_ci=spec.level,
                                                    scale="share" if is_share else kind),
        )
        return top.with_(by=by, groups=groups, warnings=tuple(dict.fromkeys((*top.warnings, *notes))))

    def _mean_each_by(self, var: str, bys: Sequence[str], levels: dict[str, Any] | None = None, ci: str = "wilson") -> Result:
        """``mean(var)`` with the groups of ``mean(var, by=b)`` for every ``b`` in ``bys`` appended
        (as ``analyze`` reports a question), estimating the overall mean once. ``levels`` keeps
        the levels of each ``by`` column between calls (the caller promises the data do not
        change in between)."""
        from .subgroups import by_codes

        require_columns(self.data, [var, *bys])
        spec, top = self._spec_and_top(var, "mean", ci, 0.95, None)
        groups: list[Result] = []
        for b in bys:
            if levels is not None and b not in levels:
                levels[b] = by_codes(self, b)
            groups.extend(_warned(self._by(spec, top, b, None if levels is None else levels[b])).groups)
        return _warned(top).with_(groups=tuple(groups))

    def _domains(self, spec: _Spec, index: np.ndarray | None, levs: list[Level]) -> list[Result | SottovoceError]:
        """Estimates of ``spec`` in every domain at once: the answered rows (``index`` None) or
        each level of ``levs`` (``index``: the level of each row). One pass over (domain × PSU ×
        category) gives every estimate and variance; no n × k matrix is built."""
        w, k = self._w, spec.k
        design_rows = self._design_rows()
        # the domain of each row: 0..n_dom-1, or n_dom for rows outside every domain (None: all rows in 0)
        sel = spec.answered if self._mask is None else (self._mask if spec.answered is None else spec.answered & self._mask)
        dcode: np.ndarray | None
        # a mean among the answered rows of the whole design: the unanswered rows' values are
        # zero, so only the weight totals need the domain (the design's minus those rows')
        answered_mean = index is None and sel is not None and spec.cat is None and self._mask is None and self._rep is None
        if index is None:
            n_dom, g_all, key = 1, None, None
            dcode = None if sel is None or answered_mean else (~sel).astype(np.int64)
        else:
            n_dom = len(levs)
            if [lev.index for lev in levs] == list(range(n_dom)) and int(index.min()) >= 0:
                g_all = index  # every row in a level, every level estimated: the index is the domain
            else:
                remap = np.full(max((lev.index for lev in levs), default=-1) + 2, n_dom, dtype=np.int64)
                remap[[lev.index for lev in levs]] = np.arange(n_dom)
                g_all = remap[index]  # index -1 picks the last entry: outside
            key = (index, tuple(lev.index for lev in levs))
            dcode = g_all if sel is None else np.where(sel, g_all, n_dom)
        groups = _GroupTotals(self._cache, len(w), g_all, n_dom, key, sel, dcode)
        K = n_dom * k
        total_kind = spec.kind == "total"
        rows_g = groups.totals(None, 1, None)[0]
        n_g = rows_g if design_rows["pos"] is None else groups.totals(None, 1, design_rows["pos"])[0]
        w2_g = groups.totals(None, 1, design_rows["w2"])[0]
        complete = dcode is None and not answered_mean
        col: np.ndarray
        if complete:
            col = design_rows["zeros"] if spec.cat is None else spec.cat
        elif answered_mean:
            col, complete = design_rows["zeros"], True
        elif k == 1:
            assert dcode is not None
            col = dcode
        else:
            assert spec.cat is not None and dcode is not None
            col = dcode * k
            col += spec.cat
            col[dcode == n_dom] = K
        coded = Coded(col, K, np.repeat(np.arange(n_dom), k), np.zeros(K), np.ones(K), spec.value,
                      complete=complete, record=self._psu, base=groups.totals)
        # the estimates from the PSU table that the variance pass uses (one pass over the rows)
        a1, b_psu = coded.raw(self._psu, self._n_psu, w)
        est_tot = a1.sum(axis=0).reshape(n_dom, k)
        W_g = b_psu.sum(axis=0)
        W_safe = np.where(W_g > 0, W_g, 1.0)
        mean_y = est_tot / W_safe[:, None]
        est = est_tot if total_kind else mean_y
        if not total_kind:
            coded = coded.centred(mean_y.ravel(), np.repeat(np.where(W_g > 0, 1.0 / W_safe, 0.0), k))
        eff_all = None
        if self._rep is None:
            _, parts = self._variance(coded.aggregate, full=False)
            var_all = parts.var.reshape(n_dom, k)
            eff_all = satterthwaite_df(parts, self._psus_held() if dcode is None else None).reshape(n_dom, k)
        else:
            var_all = self._rep_domain_var(coded, dcode, n_dom, est, total_kind)
        # design df per domain: PSUs minus strata among the domain's respondents (R's degf)
        given_df = spec.df is not None and not isinstance(spec.df, str)
        if given_df or self._rep is not None:
            base_df = np.full(n_dom, np.nan)
        elif sel is None and index is None:
            base_df = np.array([self.df])
        else:
            # a PSU holds the domain when its weights in the domain sum to more than zero: the
            # domain totals per PSU were made by the variance pass (weights are never negative)
            psu_in = (coded.recorded() > 0).T
            n_str = len(self._n_h)
            str_in = np.zeros((n_dom, n_str))
            np.add.at(str_in.T, self._psu_stratum, psu_in.T.astype(float))
            base_df = (psu_in.sum(axis=1) - (str_in > 0).sum(axis=1)).astype(float)
            if eff_all is not None:  # each domain's effective df count the PSUs that hold it (issue 17)
                eff_all = satterthwaite_df(parts, np.repeat(str_in.T, k, axis=1)).reshape(n_dom, k)
        # R's deff: the SRS variance from the domain's weighted variance of y
        if spec.value is None or spec.is_share:
            s2_all = mean_y * (1.0 - mean_y)
        else:
            if dcode is None and sel is not None:  # the unanswered rows' zeros are not values here
                dcode = (~sel).astype(np.int64)
            wy = w * spec.value
            wyy = np.bincount(dcode, weights=wy * spec.value, minlength=n_dom + 1)[:n_dom] if dcode is not None else np.array([wy @ spec.value])
            s2_all = (wyy / W_safe - mean_y[:, 0] ** 2)[:, None]
            if (s2_all <= 1e-8 * mean_y**2).any():  # cancellation: the two-pass sum
                d2 = spec.value - mean_y[np.minimum(dcode, n_dom - 1), 0] if dcode is not None else spec.value - mean_y[0, 0]
                d2 = w * d2 * d2
                s2_all = ((np.bincount(dcode, weights=d2, minlength=n_dom + 1)[:n_dom] if dcode is not None else np.array([d2.sum()])) / W_safe)[:, None]
        # Korn-Graubard's t_{n-1} uses the rows of the design as R's svyciprop: the domain's rows,
        # but all rows for a calibrated design (R keeps them when taking a domain).
        if self._cal:
            rows_g = np.full(n_dom, len(w))
        labels = value_labels(self.data, spec.var)
        out: list[Result | SottovoceError] = []
        for g in range(n_dom):
            n, W = int(n_g[g]), float(W_g[g])
            if n == 0 or W <= 0:
                out.append(DesignError(f"no respondents with a positive weight and an answer to '{spec.var}'"))
                continue
            rule = spec.df if isinstance(spec.df, str) else None
            dofs = [DegreesOfFreedom(float(spec.df), "given (df=)") if given_df  # type: ignore[arg-type]
                    else design_df(self, base=float(base_df[g]), rule=rule,
                                   effective=None if eff_all is None else float(eff_all[g, j]))
                    for j in range(k)]
            out.append(self._domain_result(spec, est[g], var_all[g], s2_all[g], n, W, n * float(w2_g[g]) / W**2,
                                           int(rows_g[g]), dofs, labels))
        return out

    def _design_rows(self) -> dict[str, Any]:
        """Per-row arrays of the design's weights (not of its domain), computed once: the squared
        weights, the rows with a positive weight as 0/1 (None when every weight is positive) and
        a column of zeros (the code of a single column); their count and total weight."""
        got = self._cache.get("design_rows")
        if got is None:
            w = self._w
            pos = w > 0
            n_pos = int(np.count_nonzero(pos))
            all_pos = n_pos == len(w)
            got = self._cache["design_rows"] = {
                "w2": w * w, "pos": None if all_pos else pos.astype(float), "zeros": np.zeros(len(w), dtype=np.int64),
                "pos_bool": pos, "all_pos": all_pos, "n_pos": n_pos, "W": float(w.sum())}
        return got

    def _row_cache(self) -> dict[str, Any]:
        """The rows with a positive weight in the design's domain (``pos_bool``), their number
        (``n_pos``) and whether they are all rows (``all_pos``); computed once for the design."""
        if self._mask is None:
            return self._design_rows()
        pos = self.weights > 0
        n_pos = int(np.count_nonzero(pos))
        return {"pos_bool": pos, "all_pos": n_pos == len(pos), "n_pos": n_pos}

    def _domain_result(self, spec: _Spec, est: np.ndarray, var_raw: np.ndarray, s2: np.ndarray, n: int, W: float,
                       deff_kish: float, n_rows: int, dofs: list[DegreesOfFreedom], labels: Any) -> Result:
        """The result of one domain (per category for a categorical variable)."""
        var, levels, kind, is_share, level = spec.var, spec.levels, spec.kind, spec.is_share, spec.level
        total_kind = kind == "total"
        var_ = np.clip(var_raw, 0.0, None)
        undefined = not np.isfinite(var_).all()
        se = np.sqrt(var_)
        warns: list[str] = []
        if any(d.value < 1 for d in dofs):
            warns.append("only one PSU: the SE is unreliable; the interval uses normal quantiles and the respondent count")
            dofs = [DegreesOfFreedom(math.inf, "normal: a single PSU") if d.value < 1 else d for d in dofs]
        small = [d.value for d in dofs if d.name.startswith("effective") and d.value < SMALL_DF]
        if small:
            warns.append(f"{var}: few effective degrees of freedom ({min(small):.1f}, Satterthwaite): the variance rests "
                         "on a few PSUs, and the interval is wide for that reason")
        s2 = s2 * (n / (n - 1) if n > 1 else math.nan)
        # R's deff=TRUE compares with SRS without replacement from a population of W; that is
        # meaningless when the weights are scaled to the sample size (W ≈ n), so there the
        # with-replacement SRS variance is used (R's deff="replace"). Decided once for the whole
        # design: per group, a group weighted up above 2× its size would flip to the other
        # reference (a deff near 2 with an SRS-sized SE) while its neighbours keep the first.
        srs_fpc = self._weights_scaled_to_population()
        srs_var = s2 * ((W - n) / (W * n) if srs_fpc else 1.0 / n)
        if total_kind:
            srs_var = srs_var * W**2
        with np.errstate(divide="ignore", invalid="ignore"):
            deff = np.where(srs_var > 0, var_ / srs_var, np.nan)
        children = []
        if undefined:  # as R: a replicate without any respondent of the domain has no estimate
            warns.append(f"{var}: some replicates have no respondent in this group, so the replicate SE is undefined; "
                         "use a linearization design")
        scale = "share" if is_share else kind
        design = self._describe()
        codes = [clean_code(c) for c in levels.tolist()] if levels is not None else [None] * spec.k
        for j in range(spec.k):
            code = codes[j]
            common: dict[str, Any] = dict(
                n=n, method=kind, code=code, variable=var,
                label=(labels.get(code, str(code)) if levels is not None else None),
                details={"deff": float(deff[j]), "deff_kish": deff_kish,
                         "deff_srs": "without replacement" if srs_fpc else "with replacement", "weighted_n": W},
            )
            dof = dofs[j]
            if undefined:
                child = Result(estimate=float(est[j]), se=float(se[j]), level_ci=level, scale=scale,
                               df=dof.finite, df_name=dof.name, **common)
            else:
                child = Result.from_estimate(float(est[j]), float(se[j]), scale=scale, df=dof, level=level,
                                             ci=spec.ci if is_share else "t", n_rows=n_rows, **common)
                fallback = child.details.get("ci_fallback")
                if fallback:
                    what = "estimate is 0 or 1" if fallback == "boundary" else "estimated variance is zero"
                    warns.append(f"{var}{'=' + str(code) if levels is not None else ''}: {what}; "
                                 f"{child.ci_method} interval from the {n} respondents")
            children.append(child)
        if levels is None:
            r = children[0]
            return r.with_(warnings=tuple(warns), details={**r.details, "design": design})
        common_top = {"weighted_n": W, "deff_kish": deff_kish, "design": design}
        return Result(n=n, method=kind, level_ci=level, variable=var, scale=scale, categories=tuple(children),
                      details=common_top, warnings=tuple(warns))

    def _rep_domain_var(self, coded: Coded, dcode: np.ndarray | None, n_dom: int, est: np.ndarray, total_kind: bool) -> np.ndarray:
        """Replicate variances of the domain estimates (ratios re-estimated in every replicate)."""
        rep = self._rep
        assert rep is not None
        if rep.multipliers is not None:
            a1, b = coded.raw(self._psu, self._n_psu, self._w)
            num, den = rep.multipliers.T @ a1, rep.multipliers.T @ b
        else:
            assert rep.columns is not None
            rows = np.flatnonzero(coded.code < coded.k)
            ones = np.ones(len(rows))
            vals = ones if coded.value is None else coded.value[rows]
            num = np.asarray(sparse.csr_matrix((vals, (coded.code[rows], rows)), shape=(coded.k, len(self._w))) @ rep.columns).T
            dom_of = np.zeros(len(rows), dtype=np.int64) if dcode is None else dcode[rows]
            den = np.asarray(sparse.csr_matrix((ones, (dom_of, rows)), shape=(n_dom, len(self._w))) @ rep.columns).T
        with np.errstate(divide="ignore", invalid="ignore"):
            est_rep = num if total_kind else num / den[:, coded.group_of]
        centre = est.ravel() if rep.mse else est_rep.mean(axis=0)
        dev = est_rep - centre
        return (rep.scale * (rep.rscales[:, None] * dev * dev).sum(axis=0)).reshape(est.shape)

    def _describe(self) -> str:
        if self._rep is not None:
            what = f"{self._rep.count} {self._rep.kind} replicate weights"
        else:
            what = "Taylor linearization"
            if len(self._n_h) > 1:
                what += f", {len(self._n_h)} strata"
            if self.psu_column:
                what += f", {self._n_psu} PSUs"
            if self.fpc_column:
                what += ", fpc"
        if self._cal:
            what += ", calibration residuals (" + ", ".join("raking" if isinstance(s, _RakeStep) else "post-stratification" for s in self._cal) + ")"
        if self._trimmed:
            what += ", trimmed weights"
        return what

    # -- tests --------------------------------------------------------------------------------
    def chisq(self, row: str, col: str) -> Result:
        """Rao–Scott (1984) test of independence in a weighted crosstab (R's ``svychisq``).

        ``estimate`` is the second-order corrected F statistic (R's default ``statistic="F"``):
        ``F = X²/tr(Δ)`` on ``d0 = tr(Δ)²/tr(Δ²)`` and ``d0·ν`` degrees of freedom, with ``X²``
        Pearson's statistic on the weighted table scaled to the sample size, ``Δ`` the
        generalised design effects of the interaction contrasts and ``ν`` = PSUs − strata.
        ``details`` also give the first-order correction ``X²/mean(Δ)`` on ``(r-1)(c-1)`` df
        (R's ``statistic="Chisq"``).
        """
        from scipy import stats

        require_columns(self.data, [row, col])
        # Levels are those of respondents with a positive weight (R's svychisq after droplevels):
        # an empty or all-zero-weight level would add a row of zeros to the table and a false
        # degree of freedom to the test.
        pos = self.weights > 0
        warns: list[str] = []
        codes = []
        for name in (row, col):
            s = self.data[name]
            kept = s.where(pos)
            c, lev = pd.factorize(kept, sort=True)
            for gone in _dropped_levels(s, lev):
                n_gone = int((s == gone).sum())
                warns.append(f"{name}={clean_code(gone)}: "
                             + (f"all {n_gone} respondents have zero weight" if n_gone else "no respondents")
                             + "; level left out of the test")
            codes.append((c, lev))
        (rc, rlev), (cc, clev) = codes
        nr, nc = len(rlev), len(clev)
        if nr < 2 or nc < 2:
            raise DesignError(f"a crosstab of '{row}' by '{col}' needs at least 2 categories with respondents in each; it has {nr}×{nc}")
        ok = (rc >= 0) & (cc >= 0)
        dom = self.domain(ok)
        w = dom.weights
        cell = np.where(ok, rc + nr * cc, 0)  # rows vary fastest, as R's interaction()
        mm = np.zeros((len(w), nr * nc))
        mm[np.nonzero(ok)[0], cell[ok]] = 1.0
        W = w.sum()
        p = (w @ mm) / W
        if self._rep is not None:
            num = self._rep_totals(mm * ok[:, None] * (1.0 if self._mask is None else self._mask[:, None]))
            den = self._rep_totals((ok * (1.0 if self._mask is None else self._mask))[:, None].astype(float))
            V = self._rep_cov(num / den, p)
            nu = self.df
        else:
            V = dom.cov_total((mm - p) / W)
            nu = float(np.unique(self._psu[pos]).size - np.unique(self._strata[pos]).size)
        N = float(pos.sum())  # R's nrow(model.matrix) of a design restricted to positive weights
        table = (p * N).reshape(nc, nr).T  # r × c
        expected = np.outer(table.sum(1), table.sum(0)) / N
        with np.errstate(divide="ignore", invalid="ignore"):
            x2 = float(np.nansum(np.where(expected > 0, (table - expected) ** 2 / expected, 0.0)))
        # Contrasts for the interaction, orthogonal to the main effects (any basis gives the same Δ).
        grid_r = np.tile(np.arange(nr), nc)
        grid_c = np.repeat(np.arange(nc), nr)
        x1 = np.column_stack([np.ones(nr * nc)] + [grid_r == i for i in range(1, nr)] + [grid_c == j for j in range(1, nc)]).astype(float)
        x12 = np.column_stack([(grid_r == i) & (grid_c == j) for j in range(1, nc) for i in range(1, nr)]).astype(float)
        q, _ = np.linalg.qr(x1)
        C = x12 - q @ (q.T @ x12)
        inv_p = np.where(p > 0, 1.0 / np.where(p > 0, p, 1.0), 0.0)
        denom = C.T @ (inv_p[:, None] * C) / N
        numr = C.T @ (inv_p[:, None] * V * inv_p[None, :]) @ C
        delta = np.linalg.solve(denom, numr)
        tr = float(np.trace(delta))
        tr2 = float(np.trace(delta @ delta))
        d0 = tr**2 / tr2
        f_stat = x2 / tr
        p_f = float(stats.f.sf(f_stat, d0, d0 * nu)) if nu > 0 else math.nan
        dfc = (nr - 1) * (nc - 1)
        chisq1 = x2 / (tr / dfc)
        p_c = float(stats.chi2.sf(chisq1, dfc))
        if nu <= 0:
            warns.append("fewer PSUs than strata + 1: the F test has no denominator degrees of freedom")
        tests = {
            "F": {"name": "Rao–Scott F (second order)", "statistic_name": "F", "statistic": f_stat,
                  "df": [d0, d0 * nu], "p_value": p_f},
            "chisq": {"name": "Rao–Scott χ² (first order)", "statistic_name": "χ²", "statistic": chisq1,
                      "df": dfc, "p_value": p_c},
        }
        return Result(
            estimate=f_stat, n=int((w > 0).sum()), method="rao-scott", variable=row, by=col, scale="statistic",
            hypothesis_tests=tests,
            notes=(f"test of independence of {row} ({nr} levels) and {col} ({nc} levels); {self._describe()}",),
            details={"statistic": "F", "F": f_stat, "ndf": d0, "ddf": d0 * nu, "p_value": p_f,
                     "pearson_chisq": x2, "chisq_first_order": chisq1, "df": dfc, "p_value_chisq": p_c,
                     "mean_deff": tr / dfc, "design": self._describe(), "levels": {row: nr, col: nc}},
            warnings=tuple(warns),
        )

    # -- construction helpers -----------------------------------------------------------------
    def _finite_factor(self, fpc: str | None) -> np.ndarray:
        n_h = self._n_h
        if fpc is None:
            return np.ones(len(n_h))
        v = pd.to_numeric(self.data[fpc], errors="coerce").to_numpy(dtype=float)
        if (~np.isfinite(v)).any() or (v <= 0).any():
            bad = int(np.argmax(~np.isfinite(v) | (v <= 0)))
            raise InputError(f"fpc column '{fpc}' has a missing, non-numeric or non-positive value at row {bad + 1}")
        lo = np.full(len(n_h), np.inf)
        hi = np.full(len(n_h), -np.inf)
        np.minimum.at(lo, self._strata, v)
        np.maximum.at(hi, self._strata, v)
        if (hi - lo > 1e-9 * np.maximum(1.0, hi)).any():
            h = int(np.argmax(hi - lo > 1e-9 * np.maximum(1.0, hi)))
            raise InputError(f"fpc column '{fpc}' varies within stratum {self._stratum_name(h)}; give one value per stratum")
        if (hi <= 1).all():  # sampling fractions, as R
            return 1.0 - hi
        if (hi < n_h).any():
            h = int(np.argmax(hi < n_h))
            raise InputError(f"fpc column '{fpc}': stratum {self._stratum_name(h)} has {int(n_h[h])} sampled PSUs but a population of {hi[h]:g}")
        return (hi - n_h) / hi

    def _stratum_name(self, h: int) -> str:
        if self.strata_column is None:
            return "(the whole sample)"
        levels = pd.factorize(self.data[self.strata_column], sort=True)[1]
        return f"'{levels[h]}'"

    # -- R survey verbs beyond means (thin wrappers; the methods live in their own modules) -----
    def glm(self, formula: str, family: str = "gaussian", level: float = 0.95, by: str | None = None) -> Any:
        """Design-based GLM (R's ``svyglm``): see :func:`sottovoce.glm.svyglm`. ``by``: the model
        refitted in each level's domain as well (R's ``svyby(formula, ~by, design, svyglm)``),
        one :class:`~sottovoce.glm.GLMResult` per level in ``groups``."""
        from .glm import svyglm

        if by is not None:
            return self.by(by, lambda s: svyglm(s, formula, family, level=level))
        return svyglm(self, formula, family, level=level)

    def quantile(self, var: str, quantiles: float | Sequence[float] = 0.5, level: float = 0.95,
                 by: str | None = None) -> Result:
        """Quantiles with Woodruff intervals (R's ``svyquantile`` default): see :mod:`sottovoce.quantile`.
        ``by``: also in each level's domain (R's ``svyby(~var, ~by, design, svyquantile, ...)``)."""
        from .quantile import svyquantile

        if by is not None:
            return self.by(by, lambda s: svyquantile(s, var, quantiles, level=level))
        return svyquantile(self, var, quantiles, level=level)

    def ratio(self, numerator: str, denominator: str, level: float = 0.95, by: str | None = None) -> Result:
        """Ratio of two totals (R's ``svyratio``): see :mod:`sottovoce.ratio`. ``by``: also in each
        level's domain (R's ``svyby(~num, ~by, design, svyratio, denominator = ~den)``)."""
        from .ratio import svyratio

        if by is not None:
            return self.by(by, lambda s: svyratio(s, numerator, denominator, level=level))
        return svyratio(self, numerator, denominator, level=level)

    def by(self, by: str, statistic: Callable[[Survey], Result] | str, *args: Any, min_n: int = 1, **kwargs: Any) -> Any:
        """Any statistic in each level of ``by`` (R's ``svyby``): the statistic on the whole design
        with one result per level in ``groups``, each computed on the level's domain (variance on
        the full design), through :func:`sottovoce.subgroups.estimate_by` — so levels with no
        respondents are dropped and a level whose statistic fails (too few respondents, a model
        that cannot be fitted there) is a *failed* group while the others stand.

        ``statistic`` is a function of a :class:`Survey` returning a result
        (``lambda s: s.glm("y ~ age")``) or the name of a method of this class with its
        arguments (``svy.by("region", "quantile", "income", [0.25, 0.5])``).
        """
        by = one_variable(by) if isinstance(by, str) else by
        fn: Callable[[Survey], Result]
        if isinstance(statistic, str):
            name = statistic
            if name not in _BY_STATISTICS:
                raise InputError(f"statistic='{name}' is not an estimator of a Survey (one of {', '.join(_BY_STATISTICS)}); "
                                 "or pass a function of the design, e.g. lambda s: s.quantile('income', 0.5)")

            def fn(s: Survey) -> Result:
                return getattr(s, name)(*args, **kwargs)  # type: ignore[no-any-return]
        elif callable(statistic):
            if args or kwargs:
                raise InputError("arguments after statistic= go with a method name; a function takes the design only")
            fn = statistic
        else:
            raise InputError(f"statistic={statistic!r} must be a function of the design or a method name such as 'quantile'")
        try:
            top = fn(self)
        except TypeError as exc:  # wrong arguments for the method named
            if not isinstance(statistic, str):
                raise
            raise InputError(f"statistic='{statistic}' with these arguments: {exc}") from None
        if not isinstance(top, Result):
            raise InputError(f"statistic returned a {type(top).__name__}, not a result")
        with warnings.catch_warnings():  # each level's warnings come back in the notes, prefixed with the level
            warnings.simplefilter("ignore", SottovoceWarning)
            groups, notes = estimate_by(self, by, lambda dom, lev: fn(dom), min_n=min_n)
        for note in notes:
            warnings.warn(note, SottovoceWarning, stacklevel=2)
        return top.with_(by=by, groups=groups, warnings=tuple(dict.fromkeys((*top.warnings, *notes))))

    def means(self, variables: str | Sequence[str], by: str | None = None, level: float = 0.95) -> Any:
        """Means of several variables and/or domains with their joint covariance (R's ``svyby``
        with ``covmat=TRUE``), ready for ``.contrast()``: see :mod:`sottovoce.contrast`."""
        from .contrast import domain_means

        return domain_means(self, variables, by=by, level=level)

    def subset(self, condition: str) -> Survey:
        """The domain where ``condition`` holds (``"age >= 18 & region == 'Moscow'"``); its SEs
        keep the full design (R's ``subset(design, ...)``)."""
        from .modelframe import subset_mask

        return self.domain(subset_mask(self.data, condition))

    # -- accessors for estimators in other modules ---------------------------------------------
    def domain_mask(self) -> np.ndarray:
        """Rows in the current domain (every row outside a domain)."""
        return np.ones(len(self.data), dtype=bool) if self._mask is None else self._mask.copy()

    def replicate_cov(self, est_rep: np.ndarray, est_full: np.ndarray) -> np.ndarray:
        """Covariance from replicate estimates (R's ``svrVar``: the design's scale, rscales and
        mse); replicates with a missing estimate are left out, as R's ``na.action``."""
        rep = self._rep
        if rep is None:
            raise DesignError("this design has no replicate weights")
        est_rep = np.asarray(est_rep, dtype=float).reshape(rep.count, -1)
        ok = np.isfinite(est_rep).all(axis=1)
        if not ok.any():
            raise DesignError("every replicate estimate is missing; the replicate variance is undefined")
        est_full = np.asarray(est_full, dtype=float).reshape(-1)
        centre = est_full if rep.mse else est_rep[ok].mean(axis=0)
        dev = est_rep[ok] - centre
        return rep.scale * (dev * rep.rscales[ok][:, None]).T @ dev


_BY_STATISTICS = ("mean", "total", "proportion", "estimate", "glm", "quantile", "ratio", "means", "chisq")


class _GroupTotals:
    """Totals over the domains of one estimate, for any partition of the rows and row weights.

    The domains are the groups ``g_all`` (None: one group holding every row; ``n_groups`` for a
    row in none) cut to the rows ``sel`` (answered, in the design's domain; None: all). Totals
    over ``g_all`` depend on the design and the grouping only, so they are kept in the design's
    cache (``key``: the grouping's level index and its levels; None for the single group) and
    only the rows that ``sel`` drops are aggregated per estimate and subtracted — bitwise exact
    for a cell whose rows are all dropped, since both sums add the same values in row order.
    When ``sel`` drops many rows the totals are taken over the kept rows (``dcode``) directly.
    """

    def __init__(self, cache: dict[str, Any], n_rows: int, g_all: np.ndarray | None, n_groups: int, key: Any,
                 sel: np.ndarray | None, dcode: np.ndarray | None) -> None:
        self.n_rows, self.g_all, self.n_groups, self.sel = n_rows, g_all, n_groups, sel
        # the domain of each kept row (n_groups: none) for direct totals
        self.dcode = dcode if dcode is not None or sel is None or g_all is not None else (~sel).astype(np.int64)
        self.drop: np.ndarray | None = None
        self.direct = False
        if sel is not None:
            dropped = ~sel if g_all is None else (~sel & (g_all < n_groups))
            n_drop = int(np.count_nonzero(dropped))
            if 4 * n_drop <= len(sel):
                self.drop = np.flatnonzero(dropped)
            else:
                self.direct = True
        store: dict[Any, Any] = cache.setdefault("group_totals", {})
        if key is None:
            self.memo: dict[Any, Any] = store.setdefault(None, {})
        else:
            index, levels = key
            entry = store.get((id(index), levels))
            if entry is None or entry[0] is not index:
                entry = store[(id(index), levels)] = (index, {})
                for old in [k for k in store if k is not None][:-4]:  # the last few groupings only
                    del store[old]
            self.memo = entry[1]

    def totals(self, part: np.ndarray | None, n_part: int, v: np.ndarray | None, idx: np.ndarray | None = None) -> np.ndarray:
        """(n_part, n_groups) totals of ``v`` (None: counts) over each part's rows in each domain;
        ``part`` None: one part of every row. ``idx``: an index of (part, code) the caller has
        made, used when it is the one these totals need (:class:`~.linearization.Coded`)."""
        if self.direct:
            assert self.dcode is not None
            return self._sum(part, n_part, v, self.dcode, self.n_groups, self.n_rows)
        key = (id(part), id(v))
        hit = self.memo.get(key)
        if hit is not None and hit[0] is part and hit[1] is v:
            full = hit[2]
        else:
            if idx is not None and ((self.g_all is None and len(idx) == self.n_rows and idx is part)
                                    or (self.g_all is not None and self.sel is None and idx is not part)):
                # the caller's index is part * (n_groups + 1) + g_all (or the part itself)
                width = 1 if self.g_all is None else self.n_groups + 1
                full = np.bincount(idx, weights=v, minlength=n_part * width).reshape(n_part, width)[:, : self.n_groups]
            else:
                full = self._sum(part, n_part, v, self.g_all, self.n_groups, self.n_rows)
            self.memo[key] = (part, v, full)
        if self.drop is None or not len(self.drop):
            return full  # type: ignore[no-any-return]
        d = self.drop
        return full - self._sum(None if part is None else part[d], n_part, None if v is None else v[d],
                                None if self.g_all is None else self.g_all[d], self.n_groups, len(d))

    @staticmethod
    def _sum(part: np.ndarray | None, n_part: int, v: np.ndarray | None, g: np.ndarray | None, n_groups: int,
             n: int) -> np.ndarray:
        if g is None:
            if part is None:
                return np.array([[float(n if v is None else v.sum())]])
            return np.bincount(part, weights=v, minlength=n_part).astype(float, copy=False).reshape(n_part, 1)
        idx = g if part is None else part * (n_groups + 1) + g
        size = n_part * (n_groups + 1)
        return np.bincount(idx, weights=v, minlength=size).astype(float, copy=False).reshape(n_part, n_groups + 1)[:, :n_groups]


def _first_stage(spec: Column, df: pd.DataFrame) -> tuple[Column, list[str]]:
    """The first-stage column and the later stages' columns of ``psu=``/``fpc=``: a list of
    column names is the stages of a multistage design; anything else is one design column."""
    if isinstance(spec, (list, tuple)) and spec and all(isinstance(c, str) and c in df.columns for c in spec):
        return spec[0], list(spec[1:])
    return spec, []


def _dropped_levels(s: pd.Series, kept: Any) -> list[Any]:
    """Levels of ``s`` (all its values, and the unused categories of a categorical) not in ``kept``."""
    present = set(pd.unique(s.dropna()).tolist())
    if isinstance(s.dtype, pd.CategoricalDtype):
        present |= set(s.cat.categories.tolist())
    keep = set(pd.Index(kept).tolist())
    out = [v for v in present if v not in keep]
    try:
        return sorted(out)
    except TypeError:
        return out


def _warned(result: Result) -> Result:
    """Raise each caveat of a result once as a SottovoceWarning (the result keeps them too)."""
    for w in result.warnings:
        warnings.warn(w, SottovoceWarning, stacklevel=4)
    return result


def _read_replicates(df: pd.DataFrame, cols: list[str], kind: str | None, scale: float | None,
                     rscales: Sequence[float] | None, mse: bool) -> _Replicates:
    if kind is None:
        raise InputError("replicate_weights need replicate_type: JK1, JKn, bootstrap or other")
    k = kind.lower()
    if k not in REPLICATE_TYPES:
        raise InputError(f"replicate_type '{kind}' is not one of JK1, JKn, bootstrap, other")
    mat = np.column_stack([_weight_column(df, c) for c in cols])
    R = mat.shape[1]
    if scale is None:
        if k == "jk1":
            scale = (R - 1) / R
        elif k == "bootstrap":
            scale = 1.0 / (R - 1) if R > 1 else math.nan
        elif k == "jkn":
            scale = 1.0
        else:
            raise InputError("replicate_type 'other' needs scale= (and rscales= if they vary)")
    if rscales is None:
        if k == "jkn":
            raise InputError("replicate_type 'JKn' needs rscales= ((n_h - 1)/n_h of each replicate's stratum)")
        rs = np.ones(R)
    else:
        rs = np.asarray(rscales, dtype=float)
        if rs.shape != (R,):
            raise InputError(f"rscales has {rs.size} values for {R} replicate weight columns")
    return _Replicates(k, float(scale), rs, mse, columns=mat)


def _weight_column(df: pd.DataFrame, name: str) -> np.ndarray:
    s = df[name]
    w = s.to_numpy() if s.dtype == np.float64 else pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)
    if len(w) and float(w.min()) >= 0 and math.isfinite(float(w.max())):  # two reductions for valid weights
        return w
    bad = ~np.isfinite(w)
    if bad.any():
        raise InputError(f"weight column '{name}' has {int(bad.sum())} missing or non-numeric values (first at row {int(np.argmax(bad)) + 1})")
    if (w < 0).any():
        raise InputError(f"weight column '{name}' has {int((w < 0).sum())} negative values (first at row {int(np.argmax(w < 0)) + 1}); weights must be >= 0")
    return w


def _margin_codes(df: pd.DataFrame, col: str) -> np.ndarray:
    codes = pd.factorize(df[col])[0].astype(np.int64)
    # Missing categories can only be on zero-weight rows (raking refuses them otherwise).
    return np.where(codes < 0, int(codes.max()) + 1, codes)


def _as_weights(w: Any, data: pd.DataFrame) -> np.ndarray:
    if isinstance(w, pd.Series):
        w = w.reindex(data.index)
    arr = np.asarray(w, dtype=float)
    if arr.shape != (len(data),) or not np.isfinite(arr).all():
        raise DesignError("weighting returned weights that do not match the data")
    return arr


def _codes(df: pd.DataFrame, column: str | None, what: str) -> np.ndarray:
    if column is None:
        return np.zeros(len(df), dtype=np.int64)
    s = df[column]
    if s.isna().any():
        raise InputError(f"{what} column '{column}' has {int(s.isna().sum())} missing values (first at row {int(np.argmax(s.isna().to_numpy())) + 1}); every row needs a {what}")
    if pd.api.types.is_integer_dtype(s.dtype) and not isinstance(s.dtype, pd.CategoricalDtype):
        return _dense_codes(s.to_numpy(dtype=np.int64))
    return pd.factorize(s, sort=True)[0].astype(np.int64)


def _nested_psus(df: pd.DataFrame, strata: str | None, psu: str) -> tuple[np.ndarray, np.ndarray]:
    """The PSU code of each row, PSUs nested in strata (one PSU per (stratum, psu) pair, numbered
    in the order of the pairs' values), and the stratum code of each PSU. Integer columns whose
    pairs span a small range take one counting pass over the pair values, without coding each
    column first; others are coded column by column."""
    s = None if strata is None else df[strata]
    p = df[psu]
    plain = all(c is None or (isinstance(c.dtype, np.dtype) and (c.dtype.kind == "i" or (c.dtype.kind == "u" and c.dtype.itemsize < 8)))
                for c in (s, p))
    if plain:
        pv = p.to_numpy()
        p_lo, p_hi = int(pv.min()), int(pv.max())
        width = p_hi - p_lo + 1
        if s is None:
            s_lo, s_span = 0, 1
        else:
            sv = s.to_numpy()
            s_lo = int(sv.min())
            s_span = int(sv.max()) - s_lo + 1
        if s_span * width <= 4 * len(pv) + 1024:
            if s is None:
                pair = pv.astype(np.int64)
            else:
                pair = sv.astype(np.int64)
                pair -= s_lo
                pair *= width
                pair += pv
            psu_codes, keys = _dense(pair, own=True)
            stratum_of = (keys - p_lo) // width  # non-decreasing: the pairs are sorted
            new = np.r_[False, stratum_of[1:] != stratum_of[:-1]]
            return psu_codes, np.cumsum(new).astype(np.int64)
    strata_codes = _codes(df, strata, "stratum")
    psu_codes = _codes(df, psu, "PSU")
    n_ids = int(psu_codes.max()) + 1
    pair = strata_codes * n_ids
    pair += psu_codes
    codes, pairs = _dense(pair)
    return codes, pairs // n_ids


def _dense_codes(x: np.ndarray) -> np.ndarray:
    """Codes 0..k-1 in sorted order of the integer values (one O(n) pass when their range is small)."""
    return _dense(x)[0]


def _dense(x: np.ndarray, own: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_dense_codes` and the sorted distinct values (the value of each code). ``own``:
    ``x`` is an int64 array of the caller's that may be shifted in place and returned."""
    lo, hi = int(x.min()), int(x.max())
    if hi - lo > 4 * len(x) + 1024:
        codes, uniques = pd.factorize(x, sort=True)
        return codes.astype(np.int64), np.asarray(uniques, dtype=np.int64)
    if own and x.dtype == np.int64:
        shifted = x
        if lo:
            shifted -= lo
    else:
        shifted = (x - lo).astype(np.int64, copy=False)
    present = np.bincount(shifted, minlength=hi - lo + 1) > 0
    keys = np.flatnonzero(present)
    if len(keys) == hi - lo + 1:  # every value in the range occurs: the shifted values are the codes
        return shifted, keys + lo
    rank = np.cumsum(present) - 1
    return rank[shifted], keys + lo


def _safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b != 0, a / np.where(b != 0, b, 1.0), 0.0)
