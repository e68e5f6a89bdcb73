"""Synthetic judgments with known ground truth, for benchmarks and property tests.

Not used by the report itself. Conditions have known Bradley-Terry strengths; candidates vary
around their condition; raters follow the BT model, sometimes answer "tie", and prefer the
left side slightly (``left_bias``, in log-odds).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def synthetic_pairwise(n_judgments: int, *, strengths=None, criteria=("originality", "surprise", "value", "fit"),
                       panels=("experts", "crowd"), raters_per_item: int = 3, n_briefs: int | None = None,
                       candidate_sd: float = 0.3, tie_rate: float = 0.1, left_bias: float = 0.0,
                       attention_rate: float = 0.02, flagged_share: float = 0.02, seed: int = 0):
    """Pairwise judgments in the ``pj`` layout plus matching ``scores`` and ``conditions``.

    Returns ``(pj, scores, conditions, truth)``; ``truth`` maps condition -> log-strength, and
    the score "oracle" equals each candidate's true strength plus noise.
    """
    rng = np.random.default_rng(seed)
    if strengths is None:
        strengths = {"base": -0.4, "fine-tuned": 0.1, "steered": 0.3}
    conds = list(strengths)
    theta_c = np.array([strengths[c] for c in conds])
    n_items = max(1, n_judgments // raters_per_item)
    if n_briefs is None:
        n_briefs = max(3, n_items // (30 * len(criteria)))
    # one candidate per brief x condition
    cand_theta = theta_c[None, :] + rng.normal(0, candidate_sd, size=(n_briefs, len(conds)))
    item_brief = rng.integers(0, n_briefs, n_items)
    ca = rng.integers(0, len(conds), n_items)
    cb = (ca + rng.integers(1, len(conds), n_items)) % len(conds)
    item_crit = rng.integers(0, len(criteria), n_items)
    item_panel = rng.integers(0, len(panels), n_items)
    item_att = rng.random(n_items) < attention_rate
    n = n_items * raters_per_item
    item = np.repeat(np.arange(n_items), raters_per_item)
    raters_per_panel = max(raters_per_item, n // (len(panels) * 200))
    rater_num = rng.integers(0, raters_per_panel, n)
    # distinct raters inside an item: offset by the slot
    rater_num = (rater_num + np.tile(np.arange(raters_per_item), n_items)) % raters_per_panel
    panel = np.asarray(panels, dtype=object)[item_panel[item]]
    rater = np.char.add(np.char.add(panel.astype(str), "-r"), rater_num.astype(str))
    flagged_raters = set(np.unique(rater)[rng.random(len(np.unique(rater))) < flagged_share])
    b = item_brief[item]
    ta = cand_theta[b, ca[item]]
    tb = cand_theta[b, cb[item]]
    left_is_a = rng.random(n) < 0.5
    logit = ta - tb + np.where(left_is_a, left_bias, -left_bias)
    p_a = 1 / (1 + np.exp(-logit))
    u = rng.random(n)
    tie = rng.random(n) < tie_rate
    choice = np.where(tie, "tie", np.where(u < p_a, "a", "b"))
    strength = np.where(choice == "tie", np.nan, np.clip(np.round(1 + 2 * np.abs(p_a - 0.5) * 2 + rng.normal(0, 0.5, n)), 1, 3))
    att = item_att[item]
    pj = pd.DataFrame({
        "judgment": np.arange(n), "panel": panel, "rater": rater,
        "criterion": np.asarray(criteria, dtype=object)[item_crit[item]], "item": item,
        "brief": np.char.add("b", b.astype(str)),
        "cand_a": np.char.add(np.char.add("b", b.astype(str)), np.char.add("-", np.asarray(conds)[ca[item]])),
        "cand_b": np.char.add(np.char.add("b", b.astype(str)), np.char.add("-", np.asarray(conds)[cb[item]])),
        "cond_a": np.asarray(conds, dtype=object)[ca[item]], "cond_b": np.asarray(conds, dtype=object)[cb[item]],
        "choice": choice, "strength": strength, "left_is_a": left_is_a,
        "seconds": rng.gamma(4.0, 5.0, n), "attention_check": att,
        "attention_passed": np.where(att, (rng.random(n) < 0.9).astype(float), np.nan),
        "rater_flagged": np.isin(rater, list(flagged_raters)), "simulated": True,
    })
    cands = [(f"b{i}-{c}", f"b{i}", c, cand_theta[i, k]) for i in range(n_briefs) for k, c in enumerate(conds)]
    cand_df = pd.DataFrame(cands, columns=["candidate", "brief", "condition", "theta"])
    scores = pd.concat([
        cand_df.assign(name="oracle", value=cand_df["theta"] + rng.normal(0, 0.2, len(cand_df))),
        cand_df.assign(name="noise", value=rng.normal(0, 1, len(cand_df))),
    ])[["candidate", "brief", "condition", "name", "value"]].reset_index(drop=True)
    conditions = pd.DataFrame({"name": conds, "kind": conds, "reference": False})
    return pj, scores, conditions, dict(strengths)
