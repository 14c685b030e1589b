"""Questionnaire designs in the study file: split samples, randomised order, skips, declines, intro.

Parsed here (not in :mod:`sottovoce.study`) so the study-file parser stays about analysis; the
study parser calls :func:`design_keys` for every question, :func:`choice_question` for the
non-sensitive types and :func:`parse_questionnaire` for the ``[questionnaire]`` table. The format
is in ``docs/study-file.md`` ("Questionnaire designs").

The designs are the standard ones of survey experiments: split-ballot assignment of wordings or
question blocks (Schuman & Presser 1981; Gaines, Kuklinski & Quirk 2007), randomised block order
for priming and order effects (Krosnick & Alwin 1987), and a "prefer not to say" option whose
choice is item nonresponse, not an answer (Groves et al. 2009, ch. 10).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

__all__ = [
    "QuestionnaireSpec", "Split", "BlockOrder", "CHOICE_KEYS", "COMMON_KEYS", "DECLINE_KEYS",
    "DECLINABLE", "design_keys", "choice_question", "parse_questionnaire", "MAX_NUMERIC_VALUES",
]

Text = dict[str, str]

CHOICE_KEYS: dict[str, tuple[set[str], set[str]]] = {
    "choice": ({"id", "column", "options"}, {"text", "multiple"}),
    "demographic": ({"id", "column", "options"}, {"text"}),
    "numeric": ({"id", "column", "min", "max"}, {"text"}),
}
COMMON_KEYS = {"ask_if", "wording_by", "wordings"}
DECLINE_KEYS = {"decline"}
DECLINABLE = {"list", "double_list", "rr", "crosswise"}
MAX_NUMERIC_VALUES = 150  # a numeric answer is a drop-down of every value (fixed-length form values)
MAX_BLOCKS = 5  # 5! = 120 orders


@dataclass(frozen=True)
class Split:
    """A split-sample assignment: each respondent gets one of ``arms`` arms (1..arms), recorded in
    ``column`` inside the sealed answer; equally likely, or with the declared ``probabilities``
    (unequal allocation, e.g. a small arm for a costly wording; Rosenberger & Lachin 2016, ch. 3)."""

    column: str
    arms: int
    labels: tuple[Text, ...] = ()
    probabilities: tuple[float, ...] = ()  # empty: equal arms

    def values(self) -> list[int]:
        return list(range(1, self.arms + 1))

    def shares(self) -> list[float]:
        """Each arm's probability (``1/arms`` each unless declared)."""
        return list(self.probabilities) if self.probabilities else [1.0 / self.arms] * self.arms

    def integer_weights(self) -> list[int]:
        """The probabilities as whole numbers with the same ratios, read from their decimal form
        (0.4, 0.12, 0.48 -> 40, 12, 48), so a draw of one integer below their sum, by rejection
        sampling (``randrange``), gives each arm exactly its probability: no modulo or float bias."""
        if not self.probabilities:
            return [1] * self.arms
        exact = [Fraction(repr(p)) for p in self.probabilities]
        den = math.lcm(*(f.denominator for f in exact))
        ints = [int(f * den) for f in exact]
        g = math.gcd(*ints)
        return [i // g for i in ints]

    def draw(self, rng: Any) -> int:
        """One arm, drawn with ``rng.randrange`` (``secrets.SystemRandom`` on the server)."""
        weights = self.integer_weights()
        u = rng.randrange(sum(weights))
        for arm, cum in zip(self.values(), itertools.accumulate(weights), strict=True):
            if u < cum:
                return arm
        raise AssertionError("unreachable: u < sum(weights)")


@dataclass(frozen=True)
class BlockOrder:
    """Randomised order of question blocks; ``column`` records the order drawn as its number
    (1-based, in :meth:`permutations` order: 1 is the order of the file)."""

    column: str
    blocks: tuple[tuple[str, ...], ...]

    def permutations(self) -> list[tuple[int, ...]]:
        return list(itertools.permutations(range(len(self.blocks))))

    def values(self) -> list[int]:
        return list(range(1, len(self.permutations()) + 1))

    def describe(self, value: int) -> str:
        """``"2-1-3"``: the blocks (1-based, as in the file) in the order of draw ``value``."""
        return "-".join(str(b + 1) for b in self.permutations()[value - 1])


@dataclass(frozen=True)
class QuestionnaireSpec:
    """The ``[questionnaire]`` table: the intro page, the consent checkbox, splits and block order."""

    intro: Text = field(default_factory=dict)
    consent: Text = field(default_factory=dict)
    splits: tuple[Split, ...] = ()
    order: BlockOrder | None = None

    def split(self, column: str) -> Split | None:
        return next((s for s in self.splits if s.column == column), None)

    def design_columns(self) -> list[str]:
        """The columns the design records (split arms, block order), in order."""
        return [s.column for s in self.splits] + ([self.order.column] if self.order else [])


def _text(ctx: Any, key: str, v: Any) -> Text:
    if isinstance(v, str):
        return {"en": v} if v else {}
    if isinstance(v, dict) and all(isinstance(x, str) for x in v.values()):
        return dict(v)
    raise ctx.fail(key, "must be a string or a table of translations", 'write "..." or { en = "...", ru = "..." }')


def _code_ok(v: Any) -> bool:
    return isinstance(v, (int, float, str)) and not isinstance(v, bool)


def design_keys(ctx: Any, key: str, q: Mapping[str, Any]) -> dict[str, Any]:
    """The design keys of one question (``ask_if``, ``wording_by``/``wordings``, ``decline``),
    checked on their own; cross-checks with the rest of the file are in :func:`parse_questionnaire`."""
    out: dict[str, Any] = {}
    if "ask_if" in q:
        raw = q["ask_if"]
        if not isinstance(raw, dict) or not raw:
            raise ctx.fail(f"{key}.ask_if", "must be a table of column = [codes]", "write ask_if = { ballot = [1] } or ask_if = { q_employed = [1, 2] }")
        cond: dict[str, tuple[Any, ...]] = {}
        for col, codes in raw.items():
            codes = codes if isinstance(codes, list) else [codes]
            if not codes or not all(_code_ok(c) for c in codes):
                raise ctx.fail(f"{key}.ask_if.{col}", f"{codes!r} is not a list of codes", f"write {col} = [1]")
            cond[str(col)] = tuple(codes)
        out["ask_if"] = cond
    if ("wordings" in q) != ("wording_by" in q):
        raise ctx.fail(f"{key}.wordings", "wordings and wording_by go together",
                       'write wording_by = "ballot" (a split column) and wordings = [{ en = "...", ru = "..." }, ...], one per arm')
    if "wordings" in q:
        ws = q["wordings"]
        if not isinstance(ws, list) or len(ws) < 2:
            raise ctx.fail(f"{key}.wordings", "must be a list of two or more texts", "one text per arm of the split")
        out["wordings"] = tuple(_text(ctx, f"{key}.wordings[{i}]", w) for i, w in enumerate(ws))
        by = q["wording_by"]
        if not isinstance(by, str) or not by:
            raise ctx.fail(f"{key}.wording_by", f"{by!r} is not a column name", 'write wording_by = "ballot"')
        out["wording_by"] = by
    if "decline" in q:
        d = q["decline"]
        if not isinstance(d, int) or isinstance(d, bool) or d < 0:
            raise ctx.fail(f"{key}.decline", f"{d!r} is not a whole-number code", "write decline = 98 (a code no real answer uses)")
        out["decline"] = d
    return out


def choice_question(ctx: Any, key: str, qtype: str, q: Mapping[str, Any], qid: str, options: tuple[Any, ...]) -> Any:
    """A ``choice``, ``demographic`` or ``numeric`` question (non-sensitive: subgroups and margins)."""
    from .study import ChoiceQuestion, NumericQuestion

    column = q["column"]
    if not isinstance(column, str) or not column.strip():
        raise ctx.fail(f"{key}.column", f"{column!r} is not a non-empty string", 'write column = "sex"')
    text = _text(ctx, f"{key}.text", q.get("text", ""))
    if qtype == "numeric":
        lo, hi = q["min"], q["max"]
        for name, v in (("min", lo), ("max", hi)):
            if not isinstance(v, int) or isinstance(v, bool):
                raise ctx.fail(f"{key}.{name}", f"{v!r} is not a whole number", f"write {name} = 18")
        if not lo <= hi or hi - lo + 1 > MAX_NUMERIC_VALUES:
            raise ctx.fail(f"{key}.max", f"min = {lo}, max = {hi} gives {hi - lo + 1} values",
                           f"use min <= max and at most {MAX_NUMERIC_VALUES} values (the page offers each)")
        return NumericQuestion(id=qid, column=column, text=text, min=lo, max=hi)
    if not options:
        raise ctx.fail(f"{key}.options", "is empty", 'list the answers: options = [{ code = 1, en = "Male", ru = "Мужской" }, ...]')
    codes = [o.code for o in options]
    if len(set(map(str, codes))) != len(codes):
        raise ctx.fail(f"{key}.options", "two options have the same code", "give every option its own code")
    multiple = q.get("multiple", False)
    if not isinstance(multiple, bool):
        raise ctx.fail(f"{key}.multiple", f"must be true or false, not {multiple!r}", "write multiple = true")
    return ChoiceQuestion(id=qid, column=column, text=text, options=options, multiple=multiple,
                          demographic=qtype == "demographic")


def parse_questionnaire(ctx: Any, raw: Any, questions: tuple[Any, ...]) -> QuestionnaireSpec:
    """The ``[questionnaire]`` table, and every question's design keys checked against it."""
    if not isinstance(raw, dict):
        raise ctx.fail("questionnaire", "must be a table", "write [questionnaire] then intro = ..., [[questionnaire.split]] ...")
    allowed = {"intro", "consent", "split", "order"}
    for k in raw:
        if k not in allowed:
            raise ctx.fail(f"questionnaire.{k}", "unknown key", f"use only {', '.join(sorted(allowed))}")
    qcols = {c: q.id for q in questions for c in q.columns()}
    splits: list[Split] = []
    raw_splits = raw.get("split", [])
    if not isinstance(raw_splits, list):
        raise ctx.fail("questionnaire.split", "must be an array of tables", 'write [[questionnaire.split]] then column = "ballot" and arms = 2')
    for i, s in enumerate(raw_splits):
        where = f"questionnaire.split[{i}]"
        if not isinstance(s, dict) or set(s) - {"column", "arms", "labels", "probabilities"} or not {"column", "arms"} <= set(s):
            raise ctx.fail(where, "needs column and arms (and optionally labels, probabilities)", 'write column = "ballot", arms = 2')
        col, arms = s["column"], s["arms"]
        if not isinstance(col, str) or not col or col.startswith("_"):
            raise ctx.fail(f"{where}.column", f"{col!r} is not a column name", 'write column = "ballot" (not starting with _)')
        if not isinstance(arms, int) or isinstance(arms, bool) or not 2 <= arms <= 9:
            raise ctx.fail(f"{where}.arms", f"{arms!r} is not a number of arms from 2 to 9", "write arms = 2")
        if col in qcols or any(x.column == col for x in splits):
            raise ctx.fail(f"{where}.column", f"column '{col}' is already used", "give the split its own column")
        labels = s.get("labels", [])
        if not isinstance(labels, list) or (labels and len(labels) != arms):
            raise ctx.fail(f"{where}.labels", f"must be a list of {arms} texts", "one label per arm")
        probs = _probabilities(ctx, f"{where}.probabilities", s.get("probabilities"), arms)
        splits.append(Split(col, arms, tuple(_text(ctx, f"{where}.labels[{j}]", x) for j, x in enumerate(labels)), probs))
    order = None
    if "order" in raw:
        o = raw["order"]
        if not isinstance(o, dict) or set(o) != {"column", "blocks"}:
            raise ctx.fail("questionnaire.order", "needs column and blocks", 'write order = { column = "block_order", blocks = [["q1", "q2"], ["q3"]] }')
        blocks = o["blocks"]
        ids = [q.id for q in questions]
        if (not isinstance(blocks, list) or not 2 <= len(blocks) <= MAX_BLOCKS
                or not all(isinstance(b, list) and b and all(isinstance(x, str) for x in b) for b in blocks)):
            raise ctx.fail("questionnaire.order.blocks", f"must be 2 to {MAX_BLOCKS} lists of question ids", 'write blocks = [["support_direct"], ["support_list", "support_rr"]]')
        flat = [x for b in blocks for x in b]
        for x in flat:
            if x not in ids:
                raise ctx.fail("questionnaire.order.blocks", f"'{x}' is not a question id", f"use ids of this file: {', '.join(ids)}")
        if len(set(flat)) != len(flat):
            raise ctx.fail("questionnaire.order.blocks", "a question is in two blocks", "put each question in one block")
        col = o["column"]
        if not isinstance(col, str) or not col or col.startswith("_") or col in qcols or any(s.column == col for s in splits):
            raise ctx.fail("questionnaire.order.column", f"{col!r} is not a free column name", 'write column = "block_order"')
        order = BlockOrder(col, tuple(tuple(b) for b in blocks))
    spec = QuestionnaireSpec(intro=_text(ctx, "questionnaire.intro", raw.get("intro", "")),
                             consent=_text(ctx, "questionnaire.consent", raw.get("consent", "")),
                             splits=tuple(splits), order=order)
    _check_questions(ctx, spec, questions)
    return spec


PROBABILITY_TOLERANCE = 1e-9  # sums like 0.1 + 0.2 + 0.7 are 1 only up to float rounding


def _probabilities(ctx: Any, key: str, raw: Any, arms: int) -> tuple[float, ...]:
    """A split's optional arm probabilities: one positive number per arm, summing to 1."""
    if raw is None:
        return ()
    example = f"one number per arm ({arms}), each above 0, summing to 1, e.g. probabilities = [0.4, 0.12, 0.48] for 3 arms"
    if not isinstance(raw, list) or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in raw):
        raise ctx.fail(key, f"{raw!r} is not a list of numbers", example)
    if len(raw) != arms:
        raise ctx.fail(key, f"{len(raw)} probabilities for a split of {arms} arms", example)
    bad = [x for x in raw if not (math.isfinite(x) and x > 0)]
    if bad:
        raise ctx.fail(key, f"{bad[0]!r} is not a positive probability", example)
    total = math.fsum(raw)
    if abs(total - 1) > PROBABILITY_TOLERANCE:
        raise ctx.fail(key, f"the probabilities sum to {total:g}, not 1", example)
    return tuple(float(x) for x in raw)


def _check_questions(ctx: Any, spec: QuestionnaireSpec, questions: tuple[Any, ...]) -> None:
    """``wording_by`` names a split with one wording per arm; ``ask_if`` names a split or an earlier
    single-answer question, with codes that question can give."""
    block_of = {qid: i for i, b in enumerate(spec.order.blocks) for qid in b} if spec.order else {}
    for i, q in enumerate(questions):
        key = f"questions[{i}] (id '{q.id}')"
        if q.wording_by is not None:
            s = spec.split(q.wording_by)
            if s is None:
                raise ctx.fail(f"{key}.wording_by", f"'{q.wording_by}' is not a split column",
                               f"add [[questionnaire.split]] column = \"{q.wording_by}\", or use one of: {', '.join(x.column for x in spec.splits) or 'none defined'}")
            if len(q.wordings) != s.arms:
                raise ctx.fail(f"{key}.wordings", f"{len(q.wordings)} wordings for a split of {s.arms} arms", "give one wording per arm")
        for col, codes in q.ask_if.items():
            s = spec.split(col)
            if s is not None:
                bad = [c for c in codes if c not in s.values()]
                if bad:
                    raise ctx.fail(f"{key}.ask_if.{col}", f"arm(s) {bad} not in 1..{s.arms}", f"use arms 1 to {s.arms}")
                continue
            earlier = next((p for p in questions[:i] if col in _single_columns(p)), None)
            if earlier is None:
                raise ctx.fail(f"{key}.ask_if.{col}", f"'{col}' is neither a split column nor the answer column of an earlier question",
                               "name a [[questionnaire.split]] column or a question asked before this one")
            if block_of.get(earlier.id) != block_of.get(q.id):
                raise ctx.fail(f"{key}.ask_if.{col}", f"'{earlier.id}' is in another randomised block, so it may come later",
                               "put both questions in the same block of questionnaire.order")
            allowed = answer_codes(earlier)
            bad = [c for c in codes if c not in allowed]
            if bad:
                raise ctx.fail(f"{key}.ask_if.{col}", f"code(s) {bad} are not answers of '{earlier.id}'", f"use some of {allowed}")
        if q.decline is not None and q.type == "list" and q.decline <= q.items + 1:
            raise ctx.fail(f"{key}.decline", f"code {q.decline} is also a possible count", f"use a code above {q.items + 1}, e.g. 98")
        if q.decline is not None and q.type == "double_list" and q.decline <= max(q.items_a, q.items_b) + 1:
            raise ctx.fail(f"{key}.decline", f"code {q.decline} is also a possible count", "use a code such as 98")
        if q.decline is not None and q.type in ("rr", "crosswise") and q.decline in (0, 1):
            raise ctx.fail(f"{key}.decline", f"code {q.decline} is also an answer (0/1)", "use a code such as 98")


def _single_columns(q: Any) -> list[str]:
    if q.type in ("direct", "numeric") or (q.type == "choice" and not q.multiple):
        return [q.column]
    return []


def answer_codes(q: Any) -> list[Any]:
    """Every code a single-answer question (direct, choice, demographic, numeric) can record."""
    if q.type == "numeric":
        return list(range(q.min, q.max + 1))
    if q.type == "direct":
        codes = [o.code for o in q.options] or [*q.yes, 0 if 0 not in q.yes else 2]
        return [*codes, *[c for c in (*q.hard_to_say, *q.refused) if c not in codes]]
    return [o.code for o in q.options]
