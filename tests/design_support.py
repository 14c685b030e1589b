"""A study with every questionnaire design (issue 15): profile questions, skips, splits, block order, declines."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

DESIGN_TOML = """
[study]
id = "design-test"
title = { en = "Design test survey", ru = "Тестовый опрос с дизайном" }
language = "en"

[report]
subgroups = ["sex"]
min_cell = 5

[questionnaire]
intro = { en = "This survey asks about your life and your views. It takes five minutes.", ru = "В опросе вопросы о вашей жизни и взглядах. Он займёт пять минут." }
consent = { en = "I agree to take part", ru = "Я согласен(на) участвовать" }

[[questionnaire.split]]
column = "ballot"
arms = 2

[questionnaire.order]
column = "block_order"
blocks = [["support_direct"], ["support_list", "support_rr"]]

[[questions]]
id = "sex"
type = "demographic"
column = "sex"
text = { en = "Your sex", ru = "Ваш пол" }
options = [{ code = 1, en = "Male", ru = "Мужской" }, { code = 2, en = "Female", ru = "Женский" }]

[[questions]]
id = "age"
type = "numeric"
column = "age"
min = 18
max = 99
text = { en = "Your age", ru = "Ваш возраст" }

[[questions]]
id = "employed"
type = "choice"
column = "employed"
text = { en = "Do you have a paid job?", ru = "У вас есть оплачиваемая работа?" }
options = [{ code = 1, en = "Yes", ru = "Да" }, { code = 2, en = "No", ru = "Нет" }]

[[questions]]
id = "sector"
type = "choice"
column = "sector"
ask_if = { employed = [1] }
text = { en = "Where do you work?", ru = "Где вы работаете?" }
options = [{ code = 1, en = "State", ru = "Государство" }, { code = 2, en = "Private", ru = "Частный сектор" }]

[[questions]]
id = "media"
type = "choice"
multiple = true
column = "media"
text = { en = "Where do you get news?", ru = "Откуда вы узнаёте новости?" }
options = [{ code = 1, en = "TV", ru = "ТВ" }, { code = 2, en = "Internet", ru = "Интернет" }, { code = 3, en = "Radio", ru = "Радио" }]

[[questions]]
id = "support_direct"
type = "direct"
column = "q_support"
wording_by = "ballot"
wordings = [
  { en = "Do you support the military operation?", ru = "Вы поддерживаете военную операцию?" },
  { en = "Do you support or not support the military operation, or would you rather not answer?", ru = "Вы поддерживаете или не поддерживаете военную операцию, или предпочли бы не отвечать?" },
]
options = [{ code = 1, en = "Yes", ru = "Да" }, { code = 2, en = "No", ru = "Нет" }]
yes = [1]
hard_to_say = [99]

[[questions]]
id = "support_list"
type = "list"
count = "list_count"
treat = "list_treat"
items = 3
decline = 98
measures = "support_direct"
control_items = { en = ["I own a car", "I read books", "I have a cat"], ru = ["У меня есть машина", "Я читаю книги", "У меня есть кошка"] }
sensitive_item = { en = "I support the operation", ru = "Я поддерживаю операцию" }

[[questions]]
id = "support_rr"
type = "rr"
design = "forced"
response = "rr"
p = 0.6666666666666666
p1 = 0.16666666666666666
p0 = 0.16666666666666666
decline = 98
measures = "support_direct"
text = { en = "Do you support the operation?", ru = "Вы поддерживаете операцию?" }

[[questions]]
id = "support_cw"
type = "crosswise"
response = "cw"
q = 0.25
decline = 98
ask_if = { ballot = [2] }
measures = "support_direct"
text = { en = "I support the operation", ru = "Я поддерживаю операцию" }
innocuous = { en = "My mother was born in January, February or March", ru = "Моя мама родилась в январе, феврале или марте" }
"""

DESIGN_COLUMNS = ["ballot", "block_order", "sex", "age", "employed", "sector", "media_1", "media_2", "media_3",
                  "q_support", "list_treat", "list_count", "rr", "cw"]


def write_design_study(tmp: Path) -> Path:
    p = tmp / "design.toml"
    p.write_text(DESIGN_TOML, encoding="utf-8")
    return p


def page_draws(html: str) -> dict[str, str]:
    """The hidden fields of a survey page (name -> form value): the draws and the form's keys."""
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', html))


def respondent(draws: dict[str, Any], rng: Any, decline: bool = False) -> dict[str, Any]:
    """A plausible set of answers for a respondent in the drawn arms (codes, None when not asked)."""
    employed = rng.choice([1, 2])
    a: dict[str, Any] = {
        "ballot": draws["ballot"], "block_order": draws["block_order"], "sex": rng.choice([1, 2]),
        "age": rng.randint(18, 99), "employed": employed, "sector": rng.choice([1, 2]) if employed == 1 else None,
        "media_1": rng.choice([0, 1]), "media_2": rng.choice([0, 1]), "media_3": rng.choice([0, 1]),
        "q_support": rng.choice([1, 2, 99]), "list_treat": draws["list_treat"],
        "list_count": 98 if decline else rng.randint(0, 3 + draws["list_treat"]),
        "rr": 98 if decline else rng.choice([0, 1]),
        "cw": (98 if decline else rng.choice([0, 1])) if draws["ballot"] == 2 else None,
    }
    return a
