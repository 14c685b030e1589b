"""Later sampling stages of a multistage design (R's ``svydesign(ids = ~psu + ssu, fpc = ~N1 + N2)``).

With a finite population correction at every stage, the variance of a total is the first-stage
(between-PSU) term plus, for each PSU, its own within-PSU variance weighted by the first-stage
sampling fraction, and so on down the stages (Särndal, Swensson & Wretman 1992, §4.3; Lumley
2010, §3.2). For stage ``s`` and a sampled unit ``g`` of stage ``s − 1`` holding ``n_g`` sampled
stage-``s`` units out of ``N_g``,

    V_s(g) = π_g · (1 − n_g/N_g) · n_g/(n_g − 1) · Σ_k (z_gk − z̄_g)²,

with ``z_gk`` the weighted totals of the stage-``s`` units and ``π_g`` the product of the sampling
fractions ``n/N`` of ``g`` and its ancestors. This is what R's ``svyrecvar`` computes (its
``multistage``/``onestage`` recursion), written here without recursion: one ``bincount`` per
stage. Later stages carry no strata of their own (units are nested in their parent).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import DesignError, InputError

__all__: list[str] = []


@dataclass(frozen=True)
class Stage:
    """One later stage: each row's unit, each unit's parent and each parent's scale factors."""

    unit: np.ndarray  # (n,) dense unit codes of this stage (nested in the parent)
    parent_of_unit: np.ndarray  # (n_units,) dense parent codes
    n_parent: np.ndarray  # (n_parents,) sampled units per parent
    scale: np.ndarray  # (n_parents,) π_g (1 − f_g) n_g/(n_g − 1), zero where nothing to add
    centre: np.ndarray  # (n_parents,) bool: subtract the parent's mean (False for lone "adjust")

    @property
    def n_units(self) -> int:
        return len(self.parent_of_unit)

    def cov(self, x: np.ndarray) -> np.ndarray:
        """This stage's contribution to the covariance of the totals of the columns of ``x``."""
        k = x.shape[1]
        z = np.empty((self.n_units, k))
        for j in range(k):
            z[:, j] = np.bincount(self.unit, weights=x[:, j], minlength=self.n_units)
        out = self.from_totals(z, full=True)
        assert out is not None
        return out

    def from_totals(self, z: np.ndarray, full: bool) -> np.ndarray:
        """The same from the (n_units, k) totals ``z`` of the stage's units: the covariance
        matrix when ``full``, else the k variances."""
        n_par = len(self.n_parent)
        k = z.shape[1]
        sums = np.empty((n_par, k))
        for j in range(k):
            sums[:, j] = np.bincount(self.parent_of_unit, weights=z[:, j], minlength=n_par)
        mean = np.where(self.centre[:, None], sums / np.maximum(self.n_parent, 1)[:, None], 0.0)
        dev = z - mean[self.parent_of_unit]
        s = self.scale[self.parent_of_unit]
        if not full:
            return (dev * dev * s[:, None]).sum(axis=0)
        return (dev * s[:, None]).T @ dev


def _dense(*codes: np.ndarray) -> np.ndarray:
    stacked = np.column_stack(codes)
    return np.unique(stacked, axis=0, return_inverse=True)[1].ravel().astype(np.int64)


def later_stages(df: pd.DataFrame, psu: np.ndarray, psu_fraction: np.ndarray, columns: list[str],
                 fpcs: list[str | None], lonely_psu: str) -> tuple[Stage, ...]:
    """The stages after the first, from their id columns and fpc columns.

    ``psu`` are the first-stage PSU codes of the rows and ``psu_fraction`` each PSU's first-stage
    sampling fraction ``n_h/N_h``. Without an fpc for every stage only the first stage counts
    (R: later stages add nothing to a with-replacement first stage).
    """
    if not columns:
        return ()
    if any(f is None for f in fpcs):
        return ()
    parent = psu
    fraction = psu_fraction  # π of each parent, per parent code
    stages = []
    for col, fpc in zip(columns, fpcs, strict=True):
        ids = df[col]
        if ids.isna().any():
            raise InputError(f"stage column '{col}' has {int(ids.isna().sum())} missing values; every row needs an id at every stage")
        unit = _dense(parent, pd.factorize(ids, sort=True)[0])
        n_units = int(unit.max()) + 1
        parent_of_unit = np.zeros(n_units, dtype=np.int64)
        parent_of_unit[unit] = parent
        n_par = len(fraction)
        n_g = np.bincount(parent_of_unit, minlength=n_par).astype(float)
        v = pd.to_numeric(df[fpc], errors="coerce").to_numpy(dtype=float)
        if (~np.isfinite(v)).any() or (v <= 0).any():
            raise InputError(f"fpc column '{fpc}' has a missing, non-numeric or non-positive value; give the population size (or sampling fraction) of every unit")
        lo = np.full(n_par, np.inf)
        hi = np.full(n_par, -np.inf)
        np.minimum.at(lo, parent, v)
        np.maximum.at(hi, parent, v)
        if (hi - lo > 1e-9 * np.maximum(1.0, hi)).any():
            raise InputError(f"fpc column '{fpc}' varies within a unit of the previous stage; give one value per '{col}' parent unit")
        if (hi <= 1).all():  # sampling fractions, as R
            N_g = n_g / hi
        else:
            N_g = hi
            if (N_g < n_g).any():
                raise InputError(f"fpc column '{fpc}': a unit has {int(n_g[np.argmax(N_g < n_g)])} sampled '{col}' but a population of {N_g[np.argmax(N_g < n_g)]:g}")
        f = (N_g - n_g) / N_g
        lonely = n_g == 1
        if lonely_psu == "fail" and (lonely & (f > 1e-7)).any():
            raise DesignError(f"a unit of the previous stage has a single sampled '{col}'; use lonely_psu='adjust'")
        scale = fraction * f * np.where(lonely, 1.0, n_g / np.maximum(n_g - 1, 1))
        if lonely_psu in ("remove", "certainty"):
            scale = np.where(lonely, 0.0, scale)
        centre = ~(lonely & (lonely_psu == "adjust"))
        stages.append(Stage(unit, parent_of_unit, n_g, scale, centre))
        parent = unit
        fraction = (fraction * n_g / N_g)[parent_of_unit]
    return tuple(stages)
