"""Exceptions and warnings shared by every part of sottovoce.

``InputError`` (and anything derived from ``SottovoceError``) means the *user's input* cannot be
used as given: the CLI prints its message as one ``error: ...`` line and exits with status 2.
Messages say what is wrong, where (file, column, value) and how to fix it.
"""

from __future__ import annotations


class SottovoceError(Exception):
    """Base class: a problem with the user's input or design, reported without a traceback."""


class InputError(SottovoceError, ValueError):
    """Bad input: a missing file or column, an impossible value, an inconsistent specification."""


class DesignError(SottovoceError, ValueError):
    """A design that cannot be estimated (unidentified, too few respondents in an arm, ...)."""


class ConvergenceError(SottovoceError, RuntimeError):
    """An iterative fit (raking, EM, Newton) did not converge; the message says why and what to try."""


class SottovoceWarning(UserWarning):
    """Something the analyst should know about a result (single PSU in a domain, truncated estimate)."""
