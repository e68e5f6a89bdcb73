"""The study report: every statistic, per panel ("all" and each panel) and criterion, as JSON.

``build_report`` returns the dict of DESIGN.md ("Report JSON") plus a few extra keys:

- ``task``, ``criteria``, ``panels``, ``n_judgments`` (all judgments given, before exclusions);
- ``excluded``: {"flagged_raters", "attention_checks", "judgments"}: raters flagged, judgments
  on attention-check items, and judgments left out of aggregates in total;
- ``simulated``: {"judgments", "share"} of simulated judgments (kept in the aggregates);
- ``condition_matrix`` (pairwise): panel, criterion, condition, opponent, wins, ties, n, win_rate;
- ``expert_vs_crowd``: for each pair of panels and criterion, the agreement of their majorities;
- ``candidates`` (only with ``include_candidates=True``): the per-candidate human aggregate
  behind the correlations (panel, criterion, candidate, brief, condition, human), for plots.

Every value is JSON-safe (NaN / inf become None).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import PAIRWISE_COLUMNS, RATING_COLUMNS
from . import agreement as ag
from . import correlation as corr
from . import ranking as rk
from ._common import excluded_mask, to_json

ALL = "all"
_REQUIRED = {
    "pairwise": ("panel", "rater", "criterion", "item", "brief", "cand_a", "cand_b", "cond_a", "cond_b", "choice"),
    "rating": ("panel", "rater", "criterion", "item", "brief", "condition", "value"),
}
_DEFAULTS = {"strength": np.nan, "left_is_a": True, "seconds": np.nan, "attention_check": False,
             "attention_passed": np.nan, "rater_flagged": False, "simulated": False, "judgment": None}


def _prepare(df: pd.DataFrame, task: str) -> pd.DataFrame:
    if task not in _REQUIRED:
        raise ValueError(f"task must be 'pairwise' or 'rating', not {task!r}")
    if df is None:
        raise ValueError(f"a {task} report needs the {'pj' if task == 'pairwise' else 'rj'} DataFrame")
    missing = [c for c in _REQUIRED[task] if c not in df.columns]
    if missing:
        raise ValueError(f"{task} judgments lack column(s) {', '.join(missing)}; expected {', '.join(PAIRWISE_COLUMNS if task == 'pairwise' else RATING_COLUMNS)}")
    df = df.copy()
    for col, default in _DEFAULTS.items():
        if col not in df.columns:
            df[col] = default
    for col in ("attention_check", "rater_flagged", "simulated"):
        df[col] = df[col].fillna(False).astype(bool)
    df["left_is_a"] = df["left_is_a"].fillna(True).astype(bool)
    df["panel"] = df["panel"].fillna("").astype(str)
    df["criterion"] = df["criterion"].astype(str)
    if task == "pairwise":
        df["choice"] = df["choice"].astype(str).str.lower()
    else:
        df["value"] = pd.to_numeric(df["value"], errors="coerce")
    return df.reset_index(drop=True)


def human_aggregate(task: str, df: pd.DataFrame) -> pd.DataFrame:
    """Per-candidate human value: mean rating, or per-candidate Bradley-Terry strength.

    Returns columns candidate, brief, condition, human.
    """
    if df.empty:
        return pd.DataFrame(columns=["candidate", "brief", "condition", "human"])
    if task == "rating":
        return (df.groupby(["item", "brief", "condition"], as_index=False)["value"].mean()
                .rename(columns={"item": "candidate", "value": "human"}))
    bt = rk.bt_candidates(df)
    return bt.rename(columns={"bt_strength": "human"})[["candidate", "brief", "condition", "human"]]


def build_report(*, study: str, task: str, criteria=None, pj: pd.DataFrame | None = None,
                 rj: pd.DataFrame | None = None, scores: pd.DataFrame | None = None,
                 conditions: pd.DataFrame | None = None, judge: pd.DataFrame | None = None,
                 seed: int = 0, n_boot: int = 1000, include_candidates: bool = False) -> dict:
    """Build the report dict (see the module docstring and DESIGN.md "Report JSON").

    ``pj`` for task "pairwise", ``rj`` for task "rating" (columns in ``annotations.analysis``).
    ``criteria``: the study's criteria in display order (default: those in the judgments);
    listed criteria without judgments still get (empty) records. ``seed`` makes every
    bootstrap reproducible; ``n_boot`` rounds per bootstrap (0 = no intervals).
    """
    df = _prepare(pj if task == "pairwise" else rj, task)
    criteria = [str(c) for c in criteria] if criteria else sorted(df["criterion"].unique().tolist())
    panels = sorted(p for p in df["panel"].unique().tolist())
    cond_names = None
    if conditions is not None and len(conditions):
        real = df[~df["attention_check"].astype(bool)]  # decoys have no condition
        present = (set(real["cond_a"]) | set(real["cond_b"])) if task == "pairwise" else set(real["condition"])
        present = {c for c in present if isinstance(c, str)}
        cond_names = [c for c in conditions["name"].tolist() if c in present]
        cond_names += sorted(present - set(cond_names))

    excluded = excluded_mask(df)
    clean = df[~excluded]
    labels_all = ag.pairwise_codes(df) if task == "pairwise" else df["value"].to_numpy(dtype=float)

    report = {
        "study": study, "task": task, "criteria": criteria, "panels": panels,
        "n_judgments": int(len(df)),
        "excluded": {
            "flagged_raters": int(df.loc[df["rater_flagged"], "rater"].nunique()),
            "attention_checks": int(df["attention_check"].sum()),
            "judgments": int(excluded.sum()),
        },
        "simulated": {"judgments": int(df["simulated"].sum()),
                      "share": float(df["simulated"].mean()) if len(df) else None},
        "agreement": [], "ranking": [], "correlation": [], "model_judge": [], "position_bias": [],
        "raters": [], "condition_matrix": [], "expert_vs_crowd": [],
    }
    if include_candidates:
        report["candidates"] = []

    # "all" is a separate group only when there is more than one panel; otherwise it is the
    # one panel's results under a second name (computed once).
    group_names = [ALL] + (panels if len(panels) > 1 else [])
    by_panel_crit = clean.groupby(["panel", "criterion"], sort=False).indices
    by_crit = clean.groupby("criterion", sort=False).indices
    by_panel = clean.groupby("panel", sort=False).indices

    def rows_for(panel, criterion):
        if panel == ALL:
            return by_crit.get(criterion, np.zeros(0, dtype=int)) if criterion != ALL else np.arange(len(clean))
        if criterion == ALL:
            return by_panel.get(panel, np.zeros(0, dtype=int))
        return by_panel_crit.get((panel, criterion), np.zeros(0, dtype=int))

    def emit(key, records, panel_names, criterion=None):
        for name in panel_names:
            for rec in records:
                head = {"panel": name}
                if criterion is not None:
                    head["criterion"] = criterion
                report[key].append({**head, **rec})

    for panel in group_names:
        aliases = [panel] + (panels if panel == ALL and len(panels) == 1 else [])
        for criterion in criteria:
            sub = clean.iloc[rows_for(panel, criterion)]
            if task == "pairwise":
                agr = ag.pairwise_agreement(sub, n_boot=n_boot, seed=seed)
            else:
                agr = ag.rating_agreement(sub, n_boot=n_boot, seed=seed)
            emit("agreement", [{"task": task, **agr}], aliases, criterion)
            emit("ranking", rk.ranking_records(task=task, df=sub, conditions=cond_names, n_boot=n_boot, seed=seed),
                 aliases, criterion)
            human = human_aggregate(task, sub)
            if scores is not None and len(scores):
                emit("correlation", corr.score_human_correlations(human, scores, conditions, n_boot=n_boot, seed=seed),
                     aliases, criterion)
            if include_candidates:
                emit("candidates", human.to_dict("records"), aliases, criterion)
            if task == "pairwise":
                emit("condition_matrix", rk.condition_matrix(sub, cond_names), aliases, criterion)
                emit("position_bias", [ag.position_bias(sub)], aliases, criterion)
        if task == "pairwise":
            emit("position_bias", [ag.position_bias(clean.iloc[rows_for(panel, ALL)])], aliases, ALL)
            if judge is not None and len(judge):
                sub = clean.iloc[rows_for(panel, ALL)]
                emit("model_judge", corr.model_judge_agreement(sub, judge), aliases)

    if len(panels) > 1:
        means = None if task == "pairwise" else clean["value"].to_numpy(dtype=float)
        report["expert_vs_crowd"] = ag.panel_majority_agreement(
            clean, ag.pairwise_codes(clean) if task == "pairwise" else clean["value"].to_numpy(dtype=float), means=means)
    report["raters"] = ag.rater_quality(df, labels_all, task=task)
    return to_json(report)
