"""Poll tables from the files a user has: the edge between the file formats and the trend model.

:mod:`sottovoce.dynamics` pools a *poll table* (one row per poll; see
:mod:`sottovoce.dynamics.polls`) and knows only its own inputs: CSV/TSV/XLSX poll tables and
waves files (``[[wave]]``). The other formats sottovoce reads are turned into poll rows here, so
the model never imports them:

* a **study file** (``[study]``, ``docs/study-file.md``): one poll per direct question, estimated
  from the study's microdata with its weights, margins and design (a :class:`~sottovoce.dynamics.Wave`),
  dated by ``[study] fieldwork``;
* a **published-poll file** (the ``sottovoce audit`` format, ``examples/published-polls``): one
  poll with its cited toplines, dated by ``fieldwork = "start/end"``.

``sottovoce trend`` and the ``[trend]`` step of ``sottovoce analyze`` read their files with
:func:`read_poll_files` and hand the table to :func:`sottovoce.dynamics.fit_trend`.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import InputError

__all__ = ["read_poll_files", "study_polls", "published_poll"]


def read_poll_files(paths: str | Path | Sequence[str | Path], waves: Iterable[Any] = ()) -> pd.DataFrame:
    """One validated poll table from poll tables, waves, study and published-poll files."""
    from .dynamics.polls import read_polls, validate_polls

    if isinstance(paths, (str, Path)):
        paths = [paths]
    frames: list[pd.DataFrame] = []
    for p in paths:
        path = Path(p)
        if not path.exists():
            raise InputError(f"{path}: file not found")
        kind = _toml_kind(path) if path.suffix.lower() == ".toml" else "table"
        if kind == "study":
            frames.append(validate_polls(pd.DataFrame(study_polls(path)), str(path)))
        elif kind == "published":
            frames.append(validate_polls(pd.DataFrame([published_poll(path)]), str(path)))
        else:
            frames.append(read_polls(path))
    waves = list(waves)
    if waves:
        frames.append(read_polls([], waves))
    if not frames:
        raise InputError("no polls given; pass a polls CSV, a waves/study/poll TOML file, or microdata waves")
    return pd.concat(frames, ignore_index=True)


def _toml_kind(path: Path) -> str:
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: not valid TOML ({exc})") from None
    if "wave" in doc:
        return "waves"
    if "study" in doc:
        return "study"
    if "shares" in doc or "sample_size" in doc:
        return "published"
    raise InputError(f"{path}: neither a waves file ([[wave]]), a study file ([study]) nor a published-poll file "
                     "(pollster, fieldwork, sample_size and [shares], as in examples/published-polls)")


def study_polls(path: str | Path) -> list[dict[str, Any]]:
    """One poll row per direct question of a study file, from its microdata (design-based SEs)."""
    from .dynamics import Wave, wave_to_poll
    from .study import DirectQuestion, load_study

    path = Path(path)
    study = load_study(path)
    if study.data is None:
        raise InputError(f"{path}: the study has no [data] section; the trend needs its microdata")
    if len(study.fieldwork) < 1:
        raise InputError(f"{path}: [study] fieldwork is missing; add fieldwork = [\"start\", \"end\"] so the wave can be dated")
    start, end = study.fieldwork[0], study.fieldwork[-1]
    title = study.title.get("en") or next(iter(study.title.values()), study.id) if isinstance(study.title, Mapping) else str(study.title)
    rows = []
    for q in study.questions:
        if not isinstance(q, DirectQuestion):
            continue
        rows.append(wave_to_poll(Wave(
            data=study.data.path, question=q.column, yes=tuple(q.yes), start=start, end=end, pollster=study.id,
            wording=q.id, weights=study.data.weights, strata=study.data.strata, psu=study.data.psu,
            hard_to_say=tuple(q.hard_to_say), refused=tuple(q.refused), source=f"{title} ({path.name})",
            margins=study.weighting.margins, trim=study.weighting.trim,
        )))
    if not rows:
        raise InputError(f"{path}: the study has no direct question; the trend needs one (type = \"direct\")")
    return rows


def published_poll(path: str | Path) -> dict[str, Any]:
    """The poll row of a published-poll file (``sottovoce audit`` format) with its cited toplines."""
    from .audit import load_poll

    path = Path(path)
    spec = load_poll(path)
    fieldwork = spec.get("fieldwork")
    if not fieldwork:
        raise InputError(f"{path}: 'fieldwork' is missing; the trend needs the fieldwork dates "
                         "(fieldwork = \"2022-04-21/2022-04-27\"), or leave this poll out")
    start, _, end = str(fieldwork).partition("/")
    shares = spec["shares"]
    sources = spec.get("sources", {})
    sid = shares.get("shares_source", shares.get("source", spec.get("source")))
    cite = sources.get(sid, {}) if isinstance(sid, str) else {}
    source = "; ".join(str(cite[k]) for k in ("publisher", "title", "url") if cite.get(k)) or str(path)
    return {
        "pollster": spec.get("pollster", ""), "start": start.strip(), "end": (end or start).strip(),
        "n": spec.get("sample_size"), "yes": shares.get("yes"), "no": shares.get("no", np.nan),
        "hard_to_say": shares.get("hard_to_say", np.nan), "refused": shares.get("refused", np.nan),
        "wording": str(spec.get("wording", "")), "mode": spec.get("mode", ""),
        "deff": spec.get("design_effect", np.nan), "source": source,
    }
