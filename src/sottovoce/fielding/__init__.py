"""Fielding a study through a phone vendor (CATI call centre): the plan they get, the file they return.

* :func:`field_plan` (``sottovoce field-plan``): the interviewer script (en/ru ``.xlsx``) with every
  randomisation written out, and a case-level assignment file drawn with a recorded seed;
* :func:`field_check` (``sottovoce field-check``): the vendor's SPSS file mapped back to the study
  (by codes, or by value labels when the codes were changed) and checked for what goes wrong in
  the field; :func:`render_field_report` writes the checks as an HTML page (en/ru).
"""

from __future__ import annotations

from .check import Check, FieldCheck, field_check
from .plan import FieldPlan, draw_assignment, field_plan
from .report import render_field_report

__all__ = ["field_plan", "draw_assignment", "FieldPlan", "field_check", "FieldCheck", "Check", "render_field_report"]
