"""From a study file to results and a report: read → weight → estimate → audit → explain.

:func:`analyze` runs every step a study file asks for and returns a :class:`StudyResults`; with
``out_dir`` it also writes ``results.json``, ``results.csv``, the charts and ``report.html``.
Each estimator is looked up in its module when the step runs, so a capability this installation
lacks is recorded as skipped ("not available") instead of failing the whole analysis. Errors in
the study or the data (:class:`~sottovoce.errors.InputError`) stop the run before anything is
written; a design that cannot be estimated for one question (``DesignError``,
``ConvergenceError``) is recorded for that question and shown as a caveat.
"""

from __future__ import annotations

import contextlib
import csv
import importlib
import io
import json
import os
import platform
import re
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._results import Result, jsonable
from .disclosure import publishable
from .errors import ConvergenceError, DesignError, InputError
from .io import _key, _norm, read_table, value_labels
from .report.text import t
from .study import (
    LANGUAGES,
    ChoiceQuestion,
    CrosswiseQuestion,
    DirectQuestion,
    DoubleListQuestion,
    ListQuestion,
    NumericQuestion,
    RRQuestion,
    Study,
    check_against_data,
    load_study,
)

__all__ = ["analyze", "StudyResults", "load_results", "FORMAT"]

FORMAT = "sottovoce-results/1"
CSV_COLUMNS = ["question", "type", "method", "group", "category", "estimate", "se", "ci_low", "ci_high", "n", "suppressed",
               "out_of_range", "status"]
_DEPENDENCIES = ("numpy", "scipy", "pandas", "matplotlib", "jinja2", "pyreadstat")


# -- the results object -------------------------------------------------------------------------


@dataclass(frozen=True)
class StudyResults:
    """All results of a study, as the JSON-clean payload written to ``results.json``.

    ``data`` follows the layout documented in ``docs/study-file.md`` ("Results") and is safe to
    publish: every estimate from fewer than ``min_cell`` respondents is blanked (see
    :func:`publishable`). ``internal`` holds the same payload unsuppressed, in memory only, for
    the analyst (``None`` when read back from ``results.json``). The object renders as HTML
    tables in Jupyter and re-renders the report without recomputing.
    """

    data: Mapping[str, Any]
    study: Study | None = field(default=None, compare=False, repr=False)
    internal: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The ``results.json`` payload (plain JSON types)."""
        return dict(self.data)

    def to_json(self) -> str:
        return json.dumps(self.data, ensure_ascii=False, indent=2, allow_nan=False) + "\n"

    def question(self, qid: str) -> dict[str, Any]:
        """The entry of one question (``result``, ``status``, ...)."""
        for q in self.data.get("questions", []):
            if q["id"] == qid:
                return q
        raise KeyError(qid)

    def headline(self, lang: str | None = None) -> list[str]:
        """The main finding in plain sentences (see :func:`sottovoce.report.headline`)."""
        from .report import headline

        return headline(self.data, lang)

    def failures(self, lang: str | None = None) -> list[str]:
        """Every question, subgroup or comparison that could not be estimated, with why."""
        from .report import failures

        return failures(self.data, lang)

    def report_html(self, lang: str | None = None) -> str:
        """The self-contained HTML report."""
        from .report import render_report

        return render_report(self.data, lang)

    def rows(self) -> list[dict[str, Any]]:
        """One tidy row per estimate (small cells suppressed), as in ``results.csv``."""
        return tidy_rows(self.data)

    def summary(self) -> str:
        lines = [" ".join(self.headline()), ""]
        lines.append(f"{'question':<22} {'group':<28} {'estimate':>9} {'95% CI':>15} {'n':>6}")
        for r in self.rows():
            grp = f"{r['group']}={r['category']}" if r["group"] else ""
            if r["suppressed"]:
                val, ci = "–", "suppressed"
            elif r["status"] == "failed":
                val, ci = "–", "not estimated"
            else:
                val = _pct(r["estimate"]) + (" (impossible)" if r["out_of_range"] else "")
                ci = f"{_pct(r['ci_low'])}–{_pct(r['ci_high'])}"
            lines.append(f"{r['question'][:22]:<22} {grp[:28]:<28} {val:>9} {ci:>15} {r['n'] if r['n'] is not None else '':>6}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        import html

        head = "".join(f"<p><b>{html.escape(s)}</b></p>" for s in self.headline())
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape('' if r[c] is None else (_pct(r[c]) if c in ('estimate', 'se', 'ci_low', 'ci_high') and not r['suppressed'] else str(r[c])))}</td>" for c in CSV_COLUMNS) + "</tr>"
            for r in self.rows()
        )
        header = "".join(f"<th>{c}{' (%)' if c in ('estimate', 'se', 'ci_low', 'ci_high') else ''}</th>" for c in CSV_COLUMNS)
        return f"<div>{head}<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table></div>"

    def save(self, out_dir: str | os.PathLike[str], lang: str | None = None) -> Path:
        """Write ``results.json``, ``results.csv``, ``charts/`` and ``report.html`` into ``out_dir``.

        Everything is built in a temporary sibling folder and moved into place at the end, so a
        failure leaves no partial output in ``out_dir``.
        """
        return write_outputs(self.data, out_dir, lang)


def _pct(x: Any) -> str:
    return "" if x is None else f"{100 * float(x):.1f}"


def load_results(path: str | Path) -> StudyResults:
    """Read a ``results.json`` written by :func:`analyze` (to re-render its report)."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: results file not found; run `sottovoce analyze STUDY.toml --out DIR` first")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{p}: not a JSON results file ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InputError(f"{p}: not a sottovoce results.json (format '{FORMAT}' expected); give the results.json that `sottovoce analyze` wrote")
    return StudyResults(data)


# -- writing ----------------------------------------------------------------------------------


def tidy_rows(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Flatten the results to one row per estimate, as published: rows under ``min_cell``
    respondents blanked, intervals inside the range of their quantity ([0, 1] for shares,
    [−1, 1] for gaps), an impossible share flagged ``out_of_range`` and a failed estimate
    ``status = failed`` (see :mod:`sottovoce.report.shares`)."""
    from .report.shares import DIFFERENCE, SHARE, failed, has_interval, out_of_range, shown_ci

    data = publishable(data)
    min_cell = int(data.get("min_cell", 30))
    rows: list[dict[str, Any]] = []

    def add(question: str, qtype: str, r: Mapping[str, Any], group: str | None = None, category: Any = None) -> None:
        n = r.get("n")
        small = bool(r.get("suppressed")) or (r.get("estimate") is not None and (n is None or n < min_cell))
        bounds = DIFFERENCE if qtype == "gap" else SHARE
        ci = shown_ci(r, bounds) if has_interval(r) and not small else (None, None)
        rows.append({
            "question": question, "type": qtype, "method": r.get("method"), "group": group or "",
            "category": "" if category is None else str(category),
            "estimate": None if small else r.get("estimate"), "se": None if small else r.get("se"),
            "ci_low": ci[0], "ci_high": ci[1], "n": n, "suppressed": small,
            "out_of_range": not small and out_of_range(r, bounds), "status": "failed" if failed(r) else "done",
        })

    for q in data.get("questions", []):
        r = q.get("result")
        if not r:
            continue
        add(q["id"], q["type"], r)
        for g in r.get("groups", []) or []:
            add(q["id"], q["type"], g, g.get("by"), g.get("label") if g.get("label") is not None else g.get("level"))
    for c in data.get("comparisons", []):
        name = f"{c['direct']} - {c['indirect']}"
        add(name, "gap", c)
        for g in c.get("groups", []) or []:
            add(name, "gap", g, g.get("by"), g.get("label") if g.get("label") is not None else g.get("level"))
    return rows


def _write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=CSV_COLUMNS)
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if r[k] is None else (repr(float(r[k])) if isinstance(r[k], float) else r[k])) for k in CSV_COLUMNS})


def write_outputs(data: Mapping[str, Any], out_dir: str | os.PathLike[str], lang: str | None = None) -> Path:
    """Write all output files atomically into ``out_dir`` (see :meth:`StudyResults.save`)."""
    from .report import build_view, render_report
    from .report.view import trend_chart_svg

    data = publishable(data)  # idempotent: whatever the caller passes, only publishable figures are written
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder; give --out a folder name")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    try:
        (tmp / "results.json").write_text(json.dumps(data, ensure_ascii=False, indent=2, allow_nan=False) + "\n", encoding="utf-8")
        _write_csv(tidy_rows(data), tmp / "results.csv")
        charts_dir = tmp / "charts"
        charts_dir.mkdir()
        view = build_view(data, lang)
        if view["compare_chart"]:
            (charts_dir / "compare.svg").write_text(_standalone(view["compare_chart"]), encoding="utf-8")
        for g in (g for g in view["groups"] if g["chart"]):
            (charts_dir / f"by-{_safe(g['column'])}.svg").write_text(_standalone(g["chart"]), encoding="utf-8")
        if view["trend"] and view["trend"]["chart"]:
            (charts_dir / "trend.svg").write_text(trend_chart_svg(data["trend"], view["lang"]), encoding="utf-8")
        if view["nonresponse"].get("sens_chart"):
            (charts_dir / "nonresponse-sensitivity.svg").write_text(_standalone(view["nonresponse"]["sens_chart"]), encoding="utf-8")
        (tmp / "report.html").write_text(render_report(data, lang), encoding="utf-8")
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private; the output is an ordinary folder
        if not out.exists():
            os.replace(tmp, out)
        else:  # keep the user's other files in DIR; replace ours one by one
            for item in tmp.iterdir():
                target = out / item.name
                if target.is_dir() and not target.is_symlink():
                    shutil.rmtree(target)
                os.replace(item, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def _standalone(svg: str) -> str:
    return svg.replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1) if "xmlns=" not in svg.split(">", 1)[0] else svg


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in str(name))


# -- the pipeline -------------------------------------------------------------------------------


class _Steps:
    """Progress display on stderr (rich) for the long steps; silent when disabled."""

    def __init__(self, enabled: bool, total: int) -> None:
        self.enabled = enabled
        self.total = total
        self._progress: Any = None

    @contextlib.contextmanager
    def running(self) -> Iterator[_Steps]:
        if not self.enabled:
            yield self
            return
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        console = Console(stderr=True)
        if not console.is_terminal:  # a log file or a pipe gets no progress bar (and no stray newlines)
            yield self
            return
        with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                      console=console, transient=True) as prog:
            self._progress = prog
            self._task = prog.add_task("sottovoce", total=self.total)
            yield self

    def step(self, text: str) -> None:
        if self._progress is not None:
            self._progress.update(self._task, description=text, advance=1)


def analyze(
    study_or_path: Study | str | os.PathLike[str],
    out_dir: str | os.PathLike[str] | None = None,
    lang: str | None = None,
    *,
    progress: bool = False,
) -> StudyResults:
    """Run a study: read the data, weight, estimate every question, audit nonresponse, report.

    Parameters
    ----------
    study_or_path : a study file (TOML, see ``docs/study-file.md``) or a loaded :class:`Study`.
    out_dir : if given, write ``results.json``, ``results.csv``, ``charts/`` and ``report.html``
        there (nothing is written on an error).
    lang : report language (``en`` or ``ru``); default the study's ``[report] language``.
    progress : show a progress display on stderr.

    Direct questions give the weighted share of the ``yes`` codes among respondents with an
    answer ("hard to say" and refusals count as not "yes"), with Taylor-linearization standard
    errors that account for raking (Lumley 2010; Deville & Särndal 1992). Indirect questions use
    the list-experiment (Imai 2011) and randomized-response (Blair, Imai & Zhou 2015) estimators;
    comparisons give ``direct − indirect`` with the covariance of answers from the same people.
    """
    study = study_or_path if isinstance(study_or_path, Study) else load_study(study_or_path)
    lang = lang or study.report.language
    if lang not in LANGUAGES:
        raise InputError(f"unknown report language '{lang}'; use one of {', '.join(LANGUAGES)}")
    if out_dir is not None:
        _check_not_an_input(study, Path(out_dir))
    n_steps = 4 + len(study.questions) + len(study.derived) + (study.trend is not None)
    with _Steps(progress, n_steps).running() as steps:
        full = _run(study, lang, steps)
        res = StudyResults(publishable(full), study, internal=full)
        if out_dir is not None:
            steps.step(t(lang, "step_writing"))
            res.save(out_dir, lang)
    return res


OUTPUT_NAMES = ("results.json", "results.csv", "report.html", "charts")


def _check_not_an_input(study: Study, out: Path) -> None:
    """Refuse an output folder where writing our files would replace an input file."""
    inputs = [study.path, study.data.path if study.data else None, study.dispositions.path if study.dispositions else None]
    if isinstance(study.weighting.margins, Path):
        inputs.append(study.weighting.margins)
    if study.trend is not None:
        inputs.extend(study.trend.polls)
    targets = {(out / name).resolve() for name in OUTPUT_NAMES}
    for p in inputs:
        if p is not None and p.resolve() in targets:
            raise InputError(f"{out}: writing the results there would replace the input file {p.name}; choose another --out folder")


def _module(name: str) -> Any:
    """An estimator module, or ``None`` when this installation does not have it yet."""
    try:
        return importlib.import_module(f"sottovoce.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"sottovoce.{name}":
            return None
        raise


def _fn(module: Any, name: str) -> Any:
    """A function of an estimator module, or ``None`` when the module or the function is missing."""
    f = getattr(module, name, None) if module is not None else None
    return f if callable(f) else None


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in ("sottovoce", *_DEPENDENCIES):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def _run(study: Study, lang: str, steps: _Steps) -> dict[str, Any]:
    assert study.path is None or study.path.exists()
    if study.data is None:
        raise InputError(f"{study.path or 'study'}: data: missing section; add [data] with path = \"respondents.csv\" to analyze a study")
    steps.step(t(lang, "step_reading"))
    df = read_table(study.data.path)
    if len(df) == 0:
        raise InputError(f"{study.data.path}: the data file has no rows")
    skipped: list[dict[str, str]] = []
    weighting = _module("weighting")
    margins = None
    if study.weighting.margins is not None:
        if weighting is None:
            skipped.append({"step": "weighting", "reason": "not_available"})
        else:
            margins = _margins_by_option_text(study, df, weighting.load_margins(study.weighting.margins))
    check_against_data(study, df, margins)

    # [[derive]] composites become 0/1 columns estimated as direct questions (sottovoce.derive).
    df, composite_questions = _with_composites(study, df)
    questions = [*study.questions, *composite_questions]

    # Derived 0/1 columns: the sensitive answer of each direct question.
    derived: dict[str, str] = {}
    for q in questions:
        if isinstance(q, DirectQuestion):
            derived[q.id] = f"__sv_yes_{q.id}"
    extra: dict[str, Any] = {}
    for q in questions:
        if isinstance(q, DirectQuestion):
            extra.update(_direct_columns(df, q))
    declined = _declines(study, df)  # "prefer not to say" is item nonresponse, not an answer
    answered = _answered(study, df, declined)
    for q in study.questions:  # declines and questions not asked: estimated on the domain of answers
        if q.id in answered:
            for c in _answer_columns(q):
                extra[c] = df[c].where(answered[q.id], 0)
    work = df.copy(deep=False)
    with warnings.catch_warnings():
        # a column per derived variable: pandas warns of a fragmented frame, but consolidating
        # (a 2-d copy of every column) would cost more than the estimates read from it
        warnings.simplefilter("ignore", pd.errors.PerformanceWarning)
        for name, values in extra.items():
            work[name] = values
    work.attrs = dict(df.attrs)

    steps.step(t(lang, "step_weighting"))
    svy, wrec = _design(study, work, margins, weighting, skipped)

    out_q: list[dict[str, Any]] = []
    comparisons: list[dict[str, Any]] = []
    subgroups = list(study.report.subgroups)
    levels: dict[str, Any] = {}  # the levels of each subgroup column, found once for all questions
    definitions = {d.id: d.to_dict() for d in study.derived}
    for q in questions:
        if isinstance(q, ChoiceQuestion | NumericQuestion):
            continue  # profile questions: subgroups and margins, not estimates
        steps.step(t(lang, "step_estimating", q=q.id))
        qsvy = svy.domain(answered[q.id].to_numpy()) if q.id in answered else svy
        entry = _question(study, q, qsvy, work, derived, subgroups, lang, skipped, levels)
        if q.id in definitions:
            entry["derived"] = definitions[q.id]
        if getattr(q, "decline", None) is not None:
            entry["item_nonresponse"] = _declined_shares(q, df, declined, svy.weights)
        if getattr(q, "wording_by", None) and entry.get("status") == "done":
            entry["split"] = _split(study, q, svy)
        out_q.append(entry)
    by_id = {q["id"]: q for q in out_q}
    for q in study.questions:
        if q.measures is None or q.type == "direct":
            continue
        dq = study.question(q.measures)
        assert isinstance(dq, DirectQuestion)  # load_study checks that indirect questions measure a direct one
        if by_id[q.id].get("status") != "done" or by_id[dq.id].get("status") != "done":
            continue
        qsvy = svy.domain(answered[q.id].to_numpy()) if q.id in answered else svy
        comp = _comparison(study, q, dq, qsvy, work, derived[dq.id], subgroups, by_id)
        if comp is not None:
            comparisons.append(comp)

    steps.step(t(lang, "step_nonresponse"))
    nonresponse = _nonresponse(study, work, svy, by_id, derived, skipped)
    extra_steps: dict[str, Any] = {}
    if study.trend is not None:
        steps.step(t(lang, "step_trend"))
        extra_steps["trend"] = _trend(study)

    # the derived 0/1 columns are the pipeline's own: results name the data column and the question
    # (a [[derive]] composite has no data column: it is named by its id)
    question_of = {q.id: q for q in questions if isinstance(q, DirectQuestion)}
    columns = {col: (qid if question_of[qid].column.startswith("__sv_") else question_of[qid].column)
               for qid, col in derived.items()}
    out_q, comparisons = _named(out_q, columns), _named(comparisons, columns)
    s = study
    assert s.data is not None
    return jsonable({
        "format": FORMAT,
        "study": {
            "id": s.id, "title": s.title, "population": s.population, "fieldwork": list(s.fieldwork),
            "simulated": s.simulated, "file": s.path.name if s.path else None, "sha256": s.sha256,
            "data_file": s.data.path.name,
            **({"truth": {"share": s.truth.share, "question": s.truth.question, "explanation": dict(s.truth.explanation)}}
               if s.truth is not None else {}),  # only for a simulated study with a planted truth
        },
        "versions": _versions(),
        "language": lang,
        "min_cell": s.report.min_cell,
        "subgroups": subgroups,
        "labels": {**_profile_labels(s, df), **dict(s.report.labels)},
        "n_respondents": int(len(df)),
        "weighting": wrec,
        "questions": out_q,
        "comparisons": comparisons,
        "nonresponse": nonresponse,
        **extra_steps,  # "trend" only when the study has a [trend] table (results.json is otherwise unchanged)
        "skipped": skipped,
    })


def _answer_columns(q: Any) -> list[str]:
    """The answer columns of an indirect question (what a decline or a skip leaves empty)."""
    if isinstance(q, ListQuestion):
        return [q.count]
    if isinstance(q, DoubleListQuestion):
        return [q.count_a, q.count_b]
    return [q.response] if isinstance(q, RRQuestion | CrosswiseQuestion) else []


def _declines(study: Study, df: pd.DataFrame) -> dict[str, pd.Series]:
    """Answer column -> rows whose answer is the question's "prefer not to say" code."""
    out: dict[str, pd.Series] = {}
    for q in study.questions:
        code = getattr(q, "decline", None)
        if code is None:
            continue
        for c in _answer_columns(q):
            codes, (hit,) = _answer_codes(df[c], (code,))
            out[c] = pd.Series(hit[codes], index=df.index)
    return out


def _answered(study: Study, df: pd.DataFrame, declined: Mapping[str, pd.Series]) -> dict[str, pd.Series]:
    """Question id -> rows with a real answer, for indirect questions that can be declined or skipped
    (the estimate is then a domain estimate, keeping the full design for the variance)."""
    out: dict[str, pd.Series] = {}
    for q in study.questions:
        cols = _answer_columns(q)
        if not cols or (getattr(q, "decline", None) is None and not q.ask_if):
            continue
        ok = pd.Series(True, index=df.index)
        for c in cols:
            ok &= df[c].notna() & ~declined.get(c, pd.Series(False, index=df.index))
        out[q.id] = ok
    return out


def _declined_shares(q: Any, df: pd.DataFrame, declined: Mapping[str, pd.Series], w: np.ndarray) -> dict[str, float]:
    """Weighted shares of respondents who declined the item, and of those with no answer at all."""
    cols = [c for c in q.columns() if c in declined]
    hit = np.zeros(len(df), dtype=bool)
    for c in cols:
        hit |= declined[c].to_numpy()
    missing = df[cols].isna().any(axis=1).to_numpy()
    total = float(w.sum())
    declined_share = float(w[hit].sum() / total)
    # "refused" too, so the report's item-nonresponse table shows the declines in that column
    return {"declined": declined_share, "refused": declined_share, "missing": float(w[missing].sum() / total)}


def _split(study: Study, q: Any, svy: Any) -> dict[str, Any]:
    """The split-ballot comparison of a question whose wording depends on a split arm (``split``).

    An arm with fewer than ``min_cell`` respondents withholds the whole comparison (small cells)."""
    lx = _module("listexp")
    fn = _fn(lx, "split_ballot")
    if fn is None:
        return {"status": "skipped", "reason": "not_available"}
    try:
        res = fn(svy, q.column, q.wording_by).to_dict()
    except (DesignError, InputError) as exc:
        return {"status": "failed", "message": study_hint(str(exc))}
    if any((g.get("n") or 0) < study.report.min_cell for g in res.get("groups", [])):
        return {"status": "suppressed", "ballot": q.wording_by}
    split = study.design.split(q.wording_by) if study.design is not None else None
    labels = {str(i): dict(t) for i, t in enumerate(split.labels, 1)} if split is not None else {}
    return {"status": "done", "ballot": q.wording_by, "yes": list(q.yes), "labels": labels, "result": res}


def _margins_by_option_text(study: Study, df: pd.DataFrame, margins: Any) -> Any:
    """Margins on a profile question's column may name its options by their text (any language of
    the study file, e.g. ``"Male"`` or ``"Мужской"``) as well as by code: answers that come from the
    survey server hold only the codes (no value labels), so the text is mapped to the option's code
    here. A name that is a code of the data, or one of the data's own value labels, is left as it is."""
    tables = {}
    for q in study.questions:
        if not (isinstance(q, ChoiceQuestion) and not q.multiple and q.column in margins):
            continue
        own = {_key(c) for c in df[q.column].dropna().unique()} if q.column in df.columns else set()
        own |= {_norm(v) for v in value_labels(df, q.column).values()}
        by_text = {_norm(t): o.code for o in q.options for t in o.text.values()}
        table = margins[q.column]
        renamed = {(by_text[_norm(k)] if _key(k) not in own and _norm(k) not in own and _norm(k) in by_text else k): v
                   for k, v in table.items()}
        if len(renamed) != len(table):
            raise InputError(f"{margins.source}: column '{q.column}': two categories name the same option of question "
                             f"'{q.id}' (a code and its text); give each option once")
        if renamed != table:
            tables[q.column] = renamed
    if not tables:
        return margins
    return type(margins)({**margins, **tables}, source=margins.source, counts=margins.counts)


def _profile_labels(study: Study, df: pd.DataFrame) -> dict[str, dict[str, str]]:
    """Report labels of the profile questions' columns and codes (for subgroups), from the study file;
    also keyed by the data's own value label, which names a subgroup when the file has one."""
    out: dict[str, dict[str, str]] = {}
    for q in study.questions:
        if isinstance(q, ChoiceQuestion | NumericQuestion) and q.text:
            out[q.column] = dict(q.text)
        if isinstance(q, ChoiceQuestion) and not q.multiple:
            data_labels = {_key(k): v for k, v in value_labels(df, q.column).items()}
            for o in q.options:
                out[f"{q.column}={o.code}"] = dict(o.text)
                if isinstance(o.code, int):
                    out[f"{q.column}={float(o.code)}"] = dict(o.text)
                if _key(o.code) in data_labels:
                    out[f"{q.column}={data_labels[_key(o.code)]}"] = dict(o.text)
    return out


def _named(obj: Any, columns: Mapping[str, str]) -> Any:
    """``obj`` with each derived column named by its data column (as a value) or its question (in text)."""
    if isinstance(obj, str):
        return columns.get(obj) or (_DERIVED.sub(r"\1", obj) if "__sv_" in obj else obj)
    if isinstance(obj, Mapping):
        return {k: _named(v, columns) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_named(v, columns) for v in obj]
    return obj


def _with_composites(study: Study, df: pd.DataFrame) -> tuple[pd.DataFrame, list[DirectQuestion]]:
    """The data with one 0/1 column per ``[[derive]]`` entry, and a direct question reading it."""
    if not study.derived:
        return df, []
    from .derive import column_resolver, derive_indicator
    from .study import Option

    where = str(study.path or "study")
    resolve = column_resolver(df, where=str(study.data.path if study.data else where))
    cols = {f"__sv_derive_{d.id}": derive_indicator(d, resolve, df.index, where=where) for d in study.derived}
    out = df.assign(**cols)
    out.attrs = dict(df.attrs)
    qs = [DirectQuestion(id=d.id, column=f"__sv_derive_{d.id}", yes=(1,), text=dict(d.text),
                         options=(Option(code=1, text=dict(d.text) or {"en": d.id}),)) for d in study.derived]
    return out, qs


def _direct_columns(df: pd.DataFrame, q: DirectQuestion) -> dict[str, np.ndarray]:
    """0/1 columns of a direct question: ``yes`` among answers (NaN if missing), and ``yes`` and a
    substantive other answer among everyone interviewed (for the nonresponse bounds)."""
    col = df[q.column]
    codes, hits = _answer_codes(col, q.yes, (*q.hard_to_say, *q.refused))
    missing = codes < 0
    is_yes = hits[0][codes]  # code -1 (missing) picks the appended False
    yes = is_yes.astype(float)
    yes[missing] = np.nan
    silent = hits[1][codes] | missing
    return {
        f"__sv_yes_{q.id}": yes,
        f"__sv_y_{q.id}": is_yes.astype(float),
        f"__sv_n_{q.id}": (~is_yes & ~silent & ~missing).astype(float),
    }


def _answer_codes(s: pd.Series, *code_sets: tuple[Any, ...]) -> tuple[np.ndarray, list[np.ndarray]]:
    """The answers of ``s`` as codes (−1 for a missing answer; one hashing pass) and, for each
    set of study codes, which codes belong to it (codes matched as in the margins: ``1`` matches
    ``1.0`` and ``"1"``). Each table has a trailing False, so ``table[codes]`` is False where
    the answer is missing."""
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    keys = [_key(u) for u in uniques]
    tables = []
    for code_set in code_sets:
        wanted = {_key(c) for c in code_set}
        tables.append(np.array([k in wanted for k in keys] + [False], dtype=bool))
    return np.asarray(codes, dtype=np.intp), tables


def _design(study: Study, df: pd.DataFrame, margins: Any, weighting: Any, skipped: list[dict[str, str]]) -> tuple[Any, dict[str, Any]]:
    from .survey import Survey

    d = study.data
    assert d is not None
    svy = Survey(df, weights=d.weights, strata=d.strata, psu=d.psu)
    rec: dict[str, Any] = {"status": "none", "trim": study.weighting.trim}
    if margins is None:
        return svy, rec
    # A calibrated design: every standard error below includes the calibration residuals.
    svy = svy.rake(margins)
    if study.weighting.trim:
        svy = svy.trim(upper=study.weighting.trim, margins=margins)
    w = np.asarray(svy.weights, dtype=float)
    diag = weighting.diagnostics(df, w, margins)
    stats = diag.attrs.get("weights", {})
    rec.update({
        "status": "done",
        "calibrated": True,
        "n": int((w > 0).sum()),
        "effective_n": float(weighting.effective_n(w)),
        "kish_deff": float(weighting.kish_deff(w)),
        "weight_min_ratio": float(stats.get("min", w[w > 0].min()) / stats.get("mean", w[w > 0].mean())),
        "weight_max_ratio": float(stats.get("max_over_mean", w.max() / w[w > 0].mean())),
        "weight_cv": stats.get("cv"),
        "diagnostics": [
            {"variable": r["variable"], "category": str(r["category"]), "n": int(r["n"]),
             "sample": float(r["unweighted"]), "target": float(r["target"]), "achieved": float(r["achieved"])}
            for r in diag.to_dict("records")
        ],
    })
    return svy, rec


def _with_groups(fit: Callable[[Any, str | None], Result], svy: Any, subgroups: list[str]) -> Result:
    """The overall estimate plus the groups of every subgroup column, in one Result.

    ``fit(design, by)`` runs the estimator; its ``by=`` (:func:`sottovoce.subgroups.estimate_by`)
    returns a subgroup that cannot be estimated (an empty arm, a randomized-response share far
    outside [0, 1], no answers) as a failed group with the reason, while the overall estimate and
    the other groups stand.
    """
    overall = fit(svy, None)
    groups: list[Result] = []
    for by in subgroups:
        groups.extend(fit(svy, by).groups)
    return overall.with_(groups=tuple(groups))


def _question(study: Study, q: Any, svy: Any, df: pd.DataFrame, derived: dict[str, str], subgroups: list[str], lang: str,
              skipped: list[dict[str, str]], levels: dict[str, Any] | None = None) -> dict[str, Any]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        entry = _estimate_question(study, q, svy, df, derived, subgroups, lang, skipped, levels)
    for w in caught:  # the estimators' warnings, with their fixes spelled as study-file keys
        text = study_hint(str(w.message))
        if " not estimated: " in text:
            continue  # a failed group: listed with its reason under "Not estimated" and in the report
        warnings.warn_explicit(text, w.category, w.filename, w.lineno)
    return entry


def _estimate_question(study: Study, q: Any, svy: Any, df: pd.DataFrame, derived: dict[str, str], subgroups: list[str], lang: str,
                       skipped: list[dict[str, str]], levels: dict[str, Any] | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": q.id, "type": q.type, "measures": q.measures, "wording": _wording(q)}
    try:
        if isinstance(q, DirectQuestion):
            entry["text"] = q.text
            yes_keys = {_key(c) for c in q.yes}
            entry["yes_labels"] = [o.text for o in q.options if _key(o.code) in yes_keys] or [
                {"en": str(lab)} for code, lab in value_labels(df, q.column).items() if _key(code) in yes_keys
            ]  # without options in the study file, the data's own value labels
            col = derived[q.id]
            # as _with_groups, with the overall mean once and each subgroup's levels found once
            res = svy._mean_each_by(col, subgroups, levels=levels, ci=q.ci)
            entry["result"] = res.with_(variable=q.column, method="direct").to_dict()
            entry["item_nonresponse"] = _item_nonresponse(df[q.column], svy.weights, q)
        elif isinstance(q, ListQuestion):
            entry["method"] = q.method
            lx = _module("listexp")
            fn = _fn(lx, "fit_list_model")
            if fn is None:
                return {**entry, "status": "skipped", "reason": "not_available"}
            # The calibrated design itself: list-experiment SEs include the calibration residuals.
            # fit_list_model tests an ML/NLS control model and falls back to the difference in means
            # (saying so in the result's notes) when the control arm rejects it (issue 17).
            res = _with_groups(lambda d, by: fn(d, q.count, q.treat, q.items, method=q.method, list_model=q.list_model,
                                                covariates=q.covariates, by=by), svy, subgroups)
            entry["result"] = res.to_dict()
            entry["se_weights"] = "calibrated"
            test = _fn(lx, "list_design_test")
            if test is not None:
                t = test(svy, q.count, q.treat, q.items)
                entry["design_test"] = {"p_value": t.estimate, "verdict": t.details.get("verdict"), "method": t.method}
        elif isinstance(q, DoubleListQuestion):
            lx = _module("listexp")
            fn = _fn(lx, "double_list")
            if fn is None:
                return {**entry, "status": "skipped", "reason": "not_available"}
            res = fn(svy, q.count_a, q.count_b, q.treat, q.items_a, q.items_b)
            entry["result"] = res.to_dict()  # overall only: the double-list estimator has no domains yet
            entry["se_weights"] = "calibrated"
        elif isinstance(q, (RRQuestion, CrosswiseQuestion)):
            rr = _module("rr")
            fn = _fn(rr, "rr_prevalence")
            if fn is None:
                return {**entry, "status": "skipped", "reason": "not_available"}
            rr_design, params = _rr_params(q)
            entry["design"] = rr_design
            res = _with_groups(lambda d, by: fn(d, q.response, rr_design, by=by, truncate=q.truncate, **params), svy, subgroups)
            entry["result"] = res.to_dict()
    except (DesignError, ConvergenceError) as exc:
        return {**entry, "status": "failed", "reason": "error", "message": study_hint(str(exc))}
    entry["status"] = "done"
    if entry.get("result"):
        for g in entry["result"].get("groups") or []:
            for key in ("message", "failed"):
                if isinstance(g.get(key), str):
                    g[key] = study_hint(g[key])
    return entry


# Estimator options named as the command line or Python spell them, and as a study file does.
_TRUNCATE = "set truncate = true for this question in the study file to report it truncated"
_HINTS = (("pass --truncate to report it truncated", _TRUNCATE), ("pass truncate=True to report it truncated", _TRUNCATE),
          ("--truncate", "truncate = true (study file)"), ("truncate=True", "truncate = true (study file)"),
          ("overdispersed=True", 'list_model = "betabinomial"'), ("method='types'", 'method = "types"'),
          ("method='dim'", 'method = "dim"'))


def study_hint(message: str) -> str:
    """An estimator's message with its fix spelled as a study-file key (the pipeline's user
    writes a study file, not a command line)."""
    for cli, toml in _HINTS:
        message = message.replace(cli, toml)
    return _DERIVED.sub(r"\1", message)  # the derived 0/1 column is named by its question id


_DERIVED = re.compile(r"__sv_(?:yes|y|n)_([A-Za-z0-9_-]+)")


def _weighted_frame(svy: Any, study: Study) -> tuple[pd.DataFrame, dict[str, str | None]]:
    """The data with the final weights as a column, for estimators that take a DataFrame."""
    d = study.data
    assert d is not None
    frame = svy.data.assign(__sv_weight=np.asarray(svy.weights, dtype=float))
    frame.attrs = dict(svy.data.attrs)
    return frame, {"weights": "__sv_weight", "strata": d.strata, "psu": d.psu}


def _fixed_design(frame: pd.DataFrame, design: Mapping[str, str | None]) -> Any:
    """A design with the final weights as fixed weights (for a subset the calibration does not cover)."""
    from .survey import Survey

    return Survey(frame, weights=design["weights"], strata=design["strata"], psu=design["psu"])


def _wording(q: Any) -> dict[str, str]:
    """What respondents were asked, per language (the sensitive item for list experiments)."""
    for attr in ("text", "sensitive_item", "lead"):
        value = getattr(q, attr, None)
        if value:
            return dict(value)
    return {}


def _rr_params(q: RRQuestion | CrosswiseQuestion) -> tuple[str, dict[str, float]]:
    if isinstance(q, CrosswiseQuestion):
        return "crosswise", {"q": q.q}
    params = {k: getattr(q, k) for k in ("p", "p1", "p0", "q") if getattr(q, k) is not None}
    return q.design, params


def _item_nonresponse(s: pd.Series, w: np.ndarray, q: DirectQuestion) -> dict[str, float]:
    """Weighted shares of "hard to say", refusals and missing answers (descriptive)."""
    total = float(w.sum())
    codes, hits = _answer_codes(s, q.hard_to_say, q.refused)
    # the weight of each answer code (the last entry: missing answers), in one pass
    per_code = np.bincount(codes + 1, weights=w, minlength=len(hits[0]))
    missing = float(per_code[0])
    out = {name: float(per_code[1:] @ table[:-1]) / total for name, table in (("hard_to_say", hits[0]), ("refused", hits[1]))}
    out["missing"] = missing / total
    return out


def _flip(r: Result) -> dict[str, Any]:
    """An ``indirect − direct`` result turned into ``direct − indirect`` (the share fear hides)."""
    def one(x: Result) -> dict[str, Any]:
        d = x.to_dict()
        d["estimate"] = -x.estimate if x.estimate is not None else None
        d["ci"] = [-x.ci[1], -x.ci[0]] if x.ci else None
        d.pop("groups", None)
        return d

    out = one(r)
    out["groups"] = [one(g) for g in r.groups]
    return out


def _list_gap(res: Result) -> dict[str, Any]:
    """The ``direct − list`` category of :func:`sottovoce.listexp.list_direct`, overall and by group."""
    def one(r: Result) -> dict[str, Any]:
        g = next((c for c in r.categories if c.label == "gap"), None)
        if g is None:  # a group list_direct could not estimate (e.g. an empty arm): failed, with why
            return r.to_dict() if r.failed else Result.failure("no direct − list gap could be estimated", n=r.n, method=r.method,
                                                                by=r.by, level=r.level, label=r.label).to_dict()
        d = g.to_dict()
        for k in ("by", "level", "label"):
            if getattr(r, k) is not None:
                d[k] = jsonable(getattr(r, k))
        return d

    out = one(res)
    out["groups"] = [one(g) for g in res.groups]
    return out


def _comparison(study: Study, q: Any, dq: DirectQuestion, svy: Any, df: pd.DataFrame, direct_col: str, subgroups: list[str], by_id: Mapping[str, Any]) -> dict[str, Any] | None:
    """``direct − indirect`` with the covariance of the two answers of the same respondents."""
    gap: dict[str, Any] | None = None
    if isinstance(q, (RRQuestion, CrosswiseQuestion)):
        rr = _module("rr")
        fn = _fn(rr, "rr_gap")
        if fn is None:
            return None
        rr_design, params = _rr_params(q)
        res = _with_groups(lambda d, by: fn(d, q.response, direct_col, rr_design, by=by, **params), svy, subgroups)
        gap = _flip(res)
    elif isinstance(q, ListQuestion):
        lx = _module("listexp")
        fn = _fn(lx, "list_direct")
        if fn is None or q.covariates:
            return None
        if svy.data[direct_col].notna().all():
            res = _with_groups(lambda d, by: fn(d, q.count, q.treat, q.items, direct_col, by=by), svy, subgroups)
            se_weights = "calibrated"
        else:  # the gap is over respondents who answered directly: a subset the calibration does not cover
            frame, design = _weighted_frame(svy, study)
            frame = frame[frame[direct_col].notna()]
            res = _with_groups(lambda d, by: fn(d, q.count, q.treat, q.items, direct_col, by=by), _fixed_design(frame, design), subgroups)
            se_weights = "fixed"
        gap = _list_gap(res)
        gap["se_weights"] = se_weights
    if gap is None:
        return None
    gap["groups"] = _fail_where_indirect_failed(gap.get("groups") or [], by_id[q.id].get("result") or {})
    gap.update({"direct": dq.id, "indirect": q.id, "indirect_type": q.type, "definition": "direct - indirect"})
    return gap


def _fail_where_indirect_failed(groups: list[dict[str, Any]], indirect: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A group's gap stands only where its indirect estimate does (a gap to an impossible
    prevalence would be a number built on the very figure the estimator refused)."""
    failed = {_group_id(g): g for g in indirect.get("groups") or [] if g.get("status") == "failed" or g.get("failed")}
    out = []
    for g in groups:
        f = failed.get(_group_id(g))
        if f is None:
            out.append(g)
            continue
        why = "the indirect estimate could not be made for this group"
        out.append(Result.failure(why, n=g.get("n"), method=str(g.get("method") or ""), by=g.get("by"), level=g.get("level"),
                                  label=g.get("label"), scale=str(g.get("scale") or "")).to_dict())
    return out


def _group_id(g: Mapping[str, Any]) -> tuple[str, str]:
    return str(g.get("by")), str(g.get("level"))


def _nonresponse(study: Study, df: pd.DataFrame, svy: Any, by_id: Mapping[str, Any], derived: dict[str, str], skipped: list[dict[str, str]]) -> dict[str, Any]:
    spec = study.dispositions
    if spec is None:
        return {"status": "none"}
    disp = read_table(spec.path)
    if spec.column not in disp.columns:
        raise InputError(f"{study.path}: dispositions.column: column '{spec.column}' is not in {spec.path.name}; use one of its columns: {', '.join(map(str, disp.columns[:25]))}")
    nr = _module("nonresponse")
    if nr is None or not hasattr(nr, "outcome_rates"):
        skipped.append({"step": "nonresponse", "reason": "not_available"})
        return {"status": "skipped", "reason": "not_available", "n_cases": int(len(disp))}
    disp.attrs.setdefault("source", str(spec.path))
    rates = nr.outcome_rates(disp, column=spec.column, e=spec.e)
    out: dict[str, Any] = {
        "status": "done", "n_cases": int(len(disp)), "rates": dict(rates.to_dict()["rates"]),
        "counts": rates.to_dict().get("counts"), "e": rates.to_dict().get("e"),
    }
    rr = next((out["rates"].get(k) for k in ("RR3", "RR1") if out["rates"].get(k) is not None), None)
    direct = next((q for q in study.questions if isinstance(q, DirectQuestion)), None)
    if direct is None or rr is None or not hasattr(nr, "manski_bounds"):
        return out
    # Shares among all interviewed of "yes" and of a substantive answer other than yes; the rest
    # (hard to say, refused, missing) are item nonresponse, which the bounds treat as unknown.
    ry, rn = svy.mean(f"__sv_y_{direct.id}"), svy.mean(f"__sv_n_{direct.id}")
    b = nr.manski_bounds(ry.estimate, rn.estimate, rr, ry.se, rn.se, n=ry.n)
    out["bounds"] = {"question": direct.id, "response_rate": rr, "yes_share": ry.estimate, "no_share": rn.estimate,
                     "lower": b.lower, "upper": b.upper, "ci": list(b.ci) if b.ci else None, "method": b.method}
    if hasattr(nr, "sensitivity_curve"):
        sc = nr.sensitivity_curve(ry.estimate, rn.estimate, rr)
        out["sensitivity"] = {"question": direct.id, "x": [c[0] for c in sc.curve], "y": [c[1] for c in sc.curve],
                              "tipping_share": sc.tipping_share, "threshold": sc.threshold}
    return out


def _trend(study: Study) -> dict[str, Any]:
    """The ``[trend]`` step: pool the polls (Jackman 2005) and draw the chart as SVG text.

    The chart is drawn in every report language and kept in ``results.json`` (``chart_svgs``,
    language -> SVG) so that ``sottovoce report --lang`` re-renders the section in any of them
    without refitting; ``charts/trend.svg`` is the drawing in the report's language. A model
    that cannot be fitted (too few polls, an unidentifiable house effect, a bad poll row) is
    recorded as ``failed`` with its message and shown as a caveat, like a failed question.
    """
    spec = study.trend
    assert spec is not None
    for p in spec.polls:
        if not p.exists():
            raise InputError(f"{study.path or 'study'}: trend.polls: file {p} not found; fix the path (relative to the study file)")
    dyn = _module("dynamics")
    if _fn(dyn, "fit_trend") is None:
        return {"status": "skipped", "reason": "not_available"}
    try:
        from .trend_sources import read_poll_files

        res = dyn.fit_trend(read_poll_files(list(spec.polls)), reference=spec.reference, sum_to_zero=spec.sum_to_zero,
                            events=dict(spec.events) or None, unit=spec.unit, base=spec.base)
    except (InputError, DesignError, ConvergenceError) as exc:
        return {"status": "failed", "reason": "error", "message": str(exc)}
    out: dict[str, Any] = {"status": "done", **res.to_dict(), "files": [p.name for p in spec.polls]}
    from .report.view import trend_chart_labels

    with tempfile.TemporaryDirectory() as tmp:
        out["chart_svgs"] = {
            code: dyn.plot_trend(res, Path(tmp) / f"trend-{code}.svg", labels=trend_chart_labels(code, spec.base)).read_text(encoding="utf-8")
            for code in LANGUAGES}
    return out


def _dump(obj: Any) -> str:  # pragma: no cover - debugging helper
    buf = io.StringIO()
    json.dump(jsonable(obj), buf, ensure_ascii=False, indent=2)
    return buf.getvalue()
