"""Write the column extracts of the Chronicles waves that examples/chronicles-series needs.

The series example reads the project's files as released (../shared/data/chronicles). So that it
also runs from a fresh clone, sottovoce bundles, per wave, only the columns the series file reads
(answers, weights, split-ballot and subsample columns), as UTF-8 CSV with every value unchanged
(codes stay codes, wave 11's text answers stay text). The full files are ~10 MB; the extracts
~0.5 MB. Run from the repository root after changing the series file, then paste the printed
SHA-256 lines into src/sottovoce/datasets/__init__.py:

    python scripts/make_chronicles_extracts.py ../shared/data/chronicles
"""

from __future__ import annotations

import hashlib
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "sottovoce" / "datasets" / "chronicles-series"


def main(source: Path) -> None:
    from sottovoce.io import read_table
    from sottovoce.survey_series import load_series

    spec = load_series(ROOT / "examples" / "chronicles-series" / "chronicles.toml", data_dir=source)
    OUT.mkdir(exist_ok=True)
    for w in spec.waves:
        cols: list[str] = []
        for q in spec.questions:
            m = q.waves.get(w.id)
            if m is not None:
                cols += [m.column] + ([m.split] if m.split else [])
        cols += [c.ref for d in spec.derived for c in d.conditions() if c.kind == "column"]
        cols += [w.weights] if w.weights else []
        cols += list(w.where)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            df = read_table(w.file, sheet=w.sheet)
        name = f"chronicles-{w.id}.csv"
        df[list(dict.fromkeys(cols))].to_csv(OUT / name, index=False, encoding="utf-8", lineterminator="\n")
        digest = hashlib.sha256((OUT / name).read_bytes()).hexdigest()
        print(f'    ("{w.id}", "{w.file.name}", "{digest}"),')


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve())
