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
# Column extracts of the waves examples/chronicles-series reads (scripts/make_chronicles_extracts.py):
# the columns that series file uses, values unchanged, as UTF-8 CSV (0.8 MB instead of ~10 MB).
_SERIES = (
    ("w1", "chronicles-01-2022-02-28.sav", "5a5d122fb79440a70bc1ebcb8876cc3e87755cb6d7c3eb20a6711699d51fdc06"),
    ("w2", "chronicles-02-2022-03-10.sav", "bd7dc1b59a706239190f46c2f0bb81cf65b507825fdae619a1b6f9bb223ebe2a"),
    ("w7a", "chronicles-07a-express-2022-09-21.sav", "c0c966f4298bd6931d846ba4c062a74e9944033046d128af05fb1bbeb5164c49"),
    ("w7b", "chronicles-07b-express-2022-09-29.sav", "85d5f001d694ae19794fbdbcacf1683f847ea5b2a84ffac4681b40fa717c7acb"),
    ("w8", "chronicles-08.sav", "5301858d9c44ef23db9f638f86ff3d970d9a46083bdf8137302c0c29b1669b96"),
    ("w9", "chronicles-09-2023-02-02.sav", "45d99270d94502febffa0dbd06f7798a4beb70a4684650a5228b60d10ce3e9fc"),
    ("w10", "chronicles-10-2023-07-04.xls", "8b9b0d1e16bc1a53b86a8c37abc9578c3f7ea02abb1072f988ce0f1d11eb90f1"),
    ("w11", "chronicles-11-2023-10-17.xlsx", "900004ef516b880c285403d136d557fcccf03c44190cd179eef49bb1e33f690b"),
    ("w12", "chronicles-12-2024-01-23.xlsx", "5dece45ba6b6deb02218700d598c15b9ad1c7b9cb7a629b99505b87c29e40358"),
    ("w13", "chronicles-13-2024-09-10.xlsx", "b70e0589aecd10b652ccb2ab8efa905fc46dbe0129e01963015dcea8ad4e4ea0"),
    ("w14", "chronicles-14.xlsx", "216db9089e95c139739130eeded90874420217645f5033820b2265e81771fb80"),
    ("w15", "chronicles-15-2025-09-26.xlsx", "6eb4a3eee3e3cd15b8eb2e6fb6bbf2fb4568e6fc85a2fdd1debbd2764a8c5a87"),
)
DATASETS.update({
    f"chronicles-series-{wid}": Dataset(
        f"chronicles-series-{wid}", f"chronicles-series/chronicles-{wid}.csv", sha,
        f"Chronicles wave {wid[1:]}: the columns examples/chronicles-series reads, extracted unchanged from {src}")
    for wid, src, sha in _SERIES
})
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
