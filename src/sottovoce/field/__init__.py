"""The encrypted survey server: keys, sealed storage, the survey page, export and decrypt.

See ``docs`` in README ("Fielding a survey"). Nothing here is re-exported at the top level of
``sottovoce``; import ``sottovoce.field`` explicitly.
"""

from __future__ import annotations

__all__: list[str] = []
