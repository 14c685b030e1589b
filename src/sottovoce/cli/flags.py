"""The one mapping from Python parameter names to CLI flags.

Library messages name Python parameters the way a Python user writes them (``truncate=True``,
``items=``, ``arms={0: 'control', 1: 'item A'}``); before the CLI prints an error or a warning it
rewrites them into the flags of the command line (``--truncate``, ``--items``,
``--arms "0=control,1=item A"``), so each audience reads its own spelling.
"""

from __future__ import annotations

import re

__all__ = ["FLAGS", "to_cli"]

#: Python parameter -> CLI flag (the same in every command that has it)
FLAGS: dict[str, str] = {
    "alpha": "--alpha",
    "arms": "--arms",
    "ballot": "--ballot",
    "bands": "--bands",
    "base": "--base",
    "by": "--by",
    "by_model": "--by-model",
    "ceiling": "--ceiling",
    "ci": "--ci",
    "column": "--column",
    "control": "--control",
    "control_var": "--control-var",
    "count": "--count",
    "count_b": "--count-b",
    "counts": "--counts",
    "covariates": "--covariates",
    "deff": "--deff",
    "design": "--design",
    "direct": "--direct",
    "e": "--e",
    "family": "--family",
    "floor": "--floor",
    "fpc": "--fpc",
    "items": "--items",
    "level": "--level",
    "list_model": "--model",
    "lonely_psu": "--lonely-psu",
    "margins": "--margins",
    "max_iter": "--max-iter",
    "method": "--method",
    "moe": "--moe",
    "n": "--n",
    "p": "--p",
    "p0": "--p0",
    "p1": "--p1",
    "placebo_arm": "--placebo-arm",
    "placebo_prevalence": "--placebo-prevalence",
    "prevalence": "--prevalence",
    "psu": "--psu",
    "q": "--q",
    "reference": "--reference",
    "replicate_type": "--replicate-type",
    "replicate_weights": "--replicate-weights",
    "response": "--response",
    "se": "--se",
    "sigma": "--sigma",
    "strata": "--strata",
    "treat": "--treat",
    "truncate": "--truncate",
    "unit": "--unit",
    "upper": "--trim",
    "var": "--var",
    "variable": "--var",
    "weights": "--weights",
    "window": "--window",
}
# flags that negate a Python default
_NEGATED = {"constrained=False": "--unconstrained", "method='dim'": "--method dim", "counts=:": "--counts:",
            "method='types'": "--method types", "method='ml'": "--method ml", "method='nls'": "--method nls",
            "overdispersed=True": "--model betabinomial", "overdispersed=False": "--model binomial",
            "by_model='refit'": "--by-model refit", "by_model='overall'": "--by-model overall"}

_PARAM = re.compile(r"(?<![\w\-.'\"])(" + "|".join(sorted(map(re.escape, FLAGS), key=len, reverse=True)) + r")=(True\b|False\b)?")
_ARMS = re.compile(r"arms=\{([^{}]*)\}")
_ITEM = re.compile(r"""\s*(['"]?)([^:'"]+)\1\s*:\s*(['"])(.*?)\3\s*""")


def _arms(m: re.Match[str]) -> str:
    pairs = []
    for part in m.group(1).split(","):
        item = _ITEM.fullmatch(part)
        if item is None:
            return m.group(0)
        pairs.append(f"{item.group(2).strip()}={item.group(4)}")
    return f'--arms "{",".join(pairs)}"'


def _param(m: re.Match[str]) -> str:
    flag = FLAGS[m.group(1)]
    if m.group(2) == "True":
        return flag
    if m.group(2) == "False":
        return f"no {flag}"
    return flag + " " if m.end() < len(m.string) and m.string[m.end()] not in " ,;)" else flag


def to_cli(message: str) -> str:
    """``message`` with Python parameters written as CLI flags."""
    for py, flag in _NEGATED.items():
        message = message.replace(py, flag)
    message = _ARMS.sub(_arms, message)
    return _PARAM.sub(_param, message)
