"""Turn HANNA (data/hanna/hanna_metric_scores_llm.csv) into the platform's import files.

    python scripts/hanna_to_imports.py -o var/hanna
    python manage.py create_study hanna --task rating \
        --criteria relevance,coherence,empathy,surprise,engagement,complexity
    python manage.py import_briefs hanna var/hanna/briefs.csv
    python manage.py import_candidates hanna var/hanna/candidates.csv
    python manage.py import_judgments hanna var/hanna/judgments.csv
    python manage.py study_report hanna --json

What becomes what (see data/hanna/README.md):
- the 96 prompts are briefs ``p0`` .. ``p95``; HANNA ships no texts, so the brief text is a
  placeholder ("HANNA prompt 17");
- the 11 sources are conditions; ``Human`` (human-written stories) is marked reference, so it
  is left out of score-human correlations;
- the 1,056 stories are candidates ``s<story id>`` (story id = source row * 96 + prompt),
  with a placeholder text and the 72 automatic metric scores as ``score:<column name>``
  (the columns between ``Complexity`` and ``Human 1 RE``; ``Human i``, ``Human Avg`` and the
  LLM-rating columns are not automatic scores);
- the 3 x 6 ratings per story are rating judgments by raters ``slot1`` .. ``slot3`` of panel
  ``mturk``. HANNA numbers the three ratings of a story by slot, not by worker: "slot1" on two
  stories may be two different people, so rater identity here is per slot and per-rater
  figures (rater quality, pairwise kappas) describe slots, not people.

Pure Python (no Django), so it runs anywhere.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_SOURCE = HERE.parent / "data" / "hanna" / "hanna_metric_scores_llm.csv"

CRITERIA = {  # criterion name -> (mean column, rating column code)
    "relevance": ("Relevance", "RE"),
    "coherence": ("Coherence", "CH"),
    "empathy": ("Empathy", "EM"),
    "surprise": ("Surprise", "SU"),
    "engagement": ("Engagement", "EG"),
    "complexity": ("Complexity", "CX"),
}
REFERENCE_SOURCE = "Human"
N_PROMPTS = 96
N_SLOTS = 3
N_SCORES = 72
PANEL = "mturk"


def read_hanna(path: str | Path = DEFAULT_SOURCE) -> tuple[list[str], list[dict]]:
    """Header and rows, each cell a JSON list of 96 values (``Model`` stays a string)."""
    csv.field_size_limit(10**9)
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = []
        for raw in reader:
            row = {"Model": raw[0]}
            for name, cell in zip(header[1:], raw[1:]):
                values = json.loads(cell)
                if len(values) != N_PROMPTS:
                    raise ValueError(f"{path}: column '{name}' of '{raw[0]}' has {len(values)} values, not {N_PROMPTS}")
                row[name] = values
            rows.append(row)
    return header, rows


def score_columns(header: list[str]) -> list[str]:
    """The 72 automatic metric scores: every column after the six criterion means and before
    the first per-slot rating column."""
    start = header.index("Complexity") + 1
    end = header.index("Human 1 RE")
    columns = header[start:end]
    if len(columns) != N_SCORES:
        raise ValueError(f"expected {N_SCORES} metric columns between 'Complexity' and 'Human 1 RE', found {len(columns)}")
    return columns


def story_id(source_index: int, prompt: int) -> str:
    return f"s{source_index * N_PROMPTS + prompt}"


def convert(source: str | Path = DEFAULT_SOURCE, out_dir: str | Path = "var/hanna") -> dict[str, Path]:
    """Write briefs.csv, candidates.csv and judgments.csv into ``out_dir``; return their paths."""
    header, rows = read_hanna(source)
    scores = score_columns(header)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / f"{name}.csv" for name in ("briefs", "candidates", "judgments")}

    with open(paths["briefs"], "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "title", "text", "kind"])
        for p in range(N_PROMPTS):
            w.writerow([f"p{p}", f"Prompt {p}", f"HANNA prompt {p}", "story"])

    with open(paths["candidates"], "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "brief", "condition", "text", "reference"] + [f"score:{c}" for c in scores])
        for s, row in enumerate(rows):
            reference = "true" if row["Model"] == REFERENCE_SOURCE else "false"
            for p in range(N_PROMPTS):
                w.writerow([story_id(s, p), f"p{p}", row["Model"], f"HANNA story {s * N_PROMPTS + p}", reference]
                           + [repr(float(row[c][p])) for c in scores])

    with open(paths["judgments"], "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["panel", "rater", "criterion", "item", "value"])
        for s, row in enumerate(rows):
            for p in range(N_PROMPTS):
                for slot in range(1, N_SLOTS + 1):
                    for criterion, (_, code) in CRITERIA.items():
                        w.writerow([PANEL, f"slot{slot}", criterion, story_id(s, p), row[f"Human {slot} {code}"][p]])
    return paths


def source_means(source: str | Path = DEFAULT_SOURCE) -> dict[tuple[str, str], float]:
    """(source, criterion) -> mean over the 96 stories of HANNA's own per-story mean column."""
    _, rows = read_hanna(source)
    return {(row["Model"], criterion): sum(row[column]) / len(row[column])
            for row in rows for criterion, (column, _) in CRITERIA.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", default=str(DEFAULT_SOURCE), help="HANNA CSV (default: data/hanna/...).")
    parser.add_argument("-o", "--out", default="var/hanna", help="Folder for the import files.")
    args = parser.parse_args(argv)
    paths = convert(args.source, args.out)
    for name, path in paths.items():
        print(f"{name}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
