"""Checks at the edge of the Python API: a wrong type is an :class:`InputError` naming the parameter.

Public functions call these on what the user passed, so a Python user reads
``p='0.667' must be a number …`` instead of ``TypeError: unsupported operand type(s)`` from deep
inside numpy. Messages name Python parameters as ``name=``; the CLI rewrites them into its flags
(:mod:`sottovoce.cli.flags`).
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from .errors import InputError

__all__ = ["check_level", "check_number", "check_probability", "check_int", "check_bool", "check_column"]


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_number(value: Any, name: str, *, allow_none: bool = False) -> float | None:
    """A finite real number (or None when allowed)."""
    if value is None and allow_none:
        return None
    if not _is_number(value):
        raise InputError(f"{name}={value!r} must be a number, not a {type(value).__name__}")
    v = float(value)
    if not math.isfinite(v):
        raise InputError(f"{name}={value!r} must be a finite number")
    return v


def check_probability(value: Any, name: str, *, allow_none: bool = False) -> float | None:
    """A number in [0, 1] (or None when allowed)."""
    v = check_number(value, name, allow_none=allow_none)
    if v is not None and not 0.0 <= v <= 1.0:
        raise InputError(f"{name}={value!r} must be a probability between 0 and 1")
    return v


def check_level(level: Any) -> float:
    """A confidence level strictly between 0 and 1."""
    if not _is_number(level) or not 0.0 < float(level) < 1.0:
        raise InputError(f"level={level!r}: the confidence level must be a number between 0 and 1 (e.g. 0.95)")
    return float(level)


def check_int(value: Any, name: str, *, minimum: int | None = None, allow_none: bool = False) -> int | None:
    """A whole number (a float like 3.0 is accepted), at least ``minimum``."""
    if value is None and allow_none:
        return None
    if not _is_number(value) or float(value) != math.floor(float(value)):
        raise InputError(f"{name}={value!r} must be a whole number, not a {type(value).__name__}")
    v = int(value)
    if minimum is not None and v < minimum:
        raise InputError(f"{name}={v} must be at least {minimum}")
    return v


def check_bool(value: Any, name: str) -> bool:
    """True or False (numpy booleans too)."""
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return bool(value)
    raise InputError(f"{name}={value!r} must be True or False")


def check_column(value: Any, name: str, *, allow_none: bool = True) -> str | None:
    """A column name (a string)."""
    if value is None and allow_none:
        return None
    if not isinstance(value, str):
        raise InputError(f"{name}={value!r} must be the name of a column (a str), not a {type(value).__name__}")
    return value
