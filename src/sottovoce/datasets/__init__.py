"""Real survey data bundled with sottovoce, so examples run from a fresh clone or a plain install.

Two waves of the Chronicles phone survey of Russian adults ("Хроники", www.chronicles.report),
published by the project as open data under the Creative Commons Attribution 4.0 licence and
shipped here unchanged (see ``ATTRIBUTION.md`` beside this file)::

    import sottovoce as sv
    df = sv.read_table(sv.datasets.path("chronicles-01"))

Each file is checked against its SHA-256 before its path is handed out, so an edited or truncated
copy fails loudly instead of giving different numbers. Bundling (not downloading) is deliberate:
the files are small (1.7 MB), the licence allows it with attribution, and examples and tests then
work offline and cannot break when a web page moves.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError

__all__ = ["Dataset", "DATASETS", "path", "names", "HERE"]

HERE = Path(__file__).resolve().parent
_CITE = "Chronicles project (www.chronicles.report), CC BY 4.0"


@dataclass(frozen=True)
class Dataset:
    """One bundled file: its short name, file name, SHA-256, and what it is."""

    name: str
    file: str
    sha256: str
    title: str
    citation: str = _CITE

    @property
    def path(self) -> Path:
        return HERE / self.file


DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in (
        Dataset(
            "chronicles-01", "chronicles-01-2022-02-28.sav",
            "00ade254dae6aac77fd704962485c09237e3a6ad0cd5ed5b6ede3bc717bad541",
            "Chronicles wave 1, phone survey (CATI, RDD mobile), 28 Feb – 2 Mar 2022, 1,807 respondents; "
            "war support Q4, weight wes_age_gender_tnp",
        ),
        Dataset(
            "chronicles-02", "chronicles-02-2022-03-10.sav",
            "68888c1fdb3dc301dfd9d15c29b6faade2072effd43d05ab1f245ebc8952a243",
            "Chronicles wave 2, 10–13 Mar 2022, 1,811 respondents; split-ballot wording experiment "
            "(подвыборка_2), war support Q11, weight wes_age_gender_tnp",
        ),
    )
}
_checked: set[str] = set()


def names() -> list[str]:
    """The short names of the bundled data sets."""
    return list(DATASETS)


def path(name: str) -> Path:
    """The path of a bundled data file (``"chronicles-01"`` or its file name), checked by SHA-256."""
    d = DATASETS.get(name) or next((x for x in DATASETS.values() if x.file == name), None)
    if d is None:
        raise InputError(f"no bundled data set '{name}'; there are: {', '.join(DATASETS)}")
    p = d.path
    if d.name not in _checked:
        if not p.exists():
            raise InputError(f"{p}: bundled data file missing; reinstall sottovoce")
        digest = hashlib.sha256(p.read_bytes()).hexdigest()
        if digest != d.sha256:
            raise InputError(f"{p}: SHA-256 {digest[:12]}… differs from the published file's {d.sha256[:12]}…; reinstall sottovoce")
        _checked.add(d.name)
    return p
