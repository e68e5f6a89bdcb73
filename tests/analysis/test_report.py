"""build_report: the DESIGN.md report JSON, end to end on DataFrames (no database)."""

import json

import numpy as np
import pandas as pd
import pytest

from annotations.analysis.report import build_report
from annotations.analysis.synthetic import synthetic_pairwise

from .test_agreement import KRIPP_2011_C, KRIPP_2011_PUBLISHED
from .test_correlation import EXAMPLE


def rating_frame(matrix, criterion="quality", panel="crowd"):
    rows = []
    for coder, unit in zip(*np.nonzero(~np.isnan(matrix))):
        rows.append({"judgment": len(rows), "panel": panel, "rater": f"r{coder}", "criterion": criterion,
                     "item": f"u{unit}", "brief": "b1", "condition": "c1", "value": matrix[coder, unit],
                     "seconds": 5.0, "attention_check": False, "attention_passed": np.nan,
                     "rater_flagged": False, "simulated": False})
    return pd.DataFrame(rows)


def test_rating_report_reproduces_krippendorff_2011_section_c():
    """Krippendorff (2011) section C through build_report: nominal .743, ordinal .815, interval .849."""
    report = build_report(study="kripp-c", task="rating", criteria=["quality"], rj=rating_frame(KRIPP_2011_C),
                          scores=None, conditions=pd.DataFrame({"name": ["c1"], "kind": "x", "reference": False}))
    (rec,) = [a for a in report["agreement"] if a["panel"] == "all"]
    for level in ("nominal", "ordinal", "interval"):
        assert rec["alpha"][level] == pytest.approx(KRIPP_2011_PUBLISHED[level], abs=5e-4)
    assert rec["n_items"] == 12 and rec["n_raters"] == 4 and rec["n_judgments"] == 41
    assert rec["fleiss_kappa"] is None and rec["fleiss_kappa_note"]
    assert rec["icc_design"] == "one-way"
    assert [r["panel"] for r in report["agreement"]] == ["all", "crowd"]  # one panel: "all" is that panel


def test_pairwise_report_has_every_section_and_is_strict_json():
    pj, scores, conditions, _ = synthetic_pairwise(6_000, seed=4, left_bias=0.4)
    judge = pd.DataFrame({"item": pj["item"].unique(), "judge": "tuned-model", "choice": "a"})
    report = build_report(study="s", task="pairwise", criteria=["originality", "surprise", "value", "fit", "unused"],
                          pj=pj, scores=scores, conditions=conditions, judge=judge, n_boot=200,
                          include_candidates=True)
    text = json.dumps(report, allow_nan=False)  # no NaN / inf anywhere
    assert json.loads(text) == report
    for key in ("study", "agreement", "ranking", "correlation", "model_judge", "position_bias", "raters",
                "condition_matrix", "excluded", "expert_vs_crowd", "simulated", "candidates"):
        assert key in report, key
    panels = {"all", "experts", "crowd"}
    assert {a["panel"] for a in report["agreement"]} == panels
    assert {(a["panel"], a["criterion"]) for a in report["agreement"]} >= {("all", "unused")}
    for rec in report["ranking"]:
        assert rec["mean_rating"] is None
        if rec["criterion"] != "unused":
            lo, hi = rec["bt_ci95"]
            assert lo <= rec["bt_strength"] <= hi
    sums = pd.DataFrame(report["ranking"]).dropna(subset=["bt_strength"]).groupby(["panel", "criterion"])["bt_strength"].sum()
    assert np.allclose(sums, 0)
    agr = [a for a in report["agreement"] if a["criterion"] == "value"][0]
    assert agr["icc"] is None and agr["alpha"]["interval"] is None and set(agr["alpha"]) == {"nominal", "ordinal", "interval"}
    assert {r["granularity"] for r in report["correlation"]} == {"item", "brief", "system"}
    oracle = [r for r in report["correlation"] if r["score"] == "oracle" and r["granularity"] == "item" and r["panel"] == "all"]
    assert all(r["spearman"] > 0.3 for r in oracle if r["criterion"] != "unused")
    bias = [b for b in report["position_bias"] if b["panel"] == "all" and b["criterion"] == "all"][0]
    assert bias["left_share"] > 0.55 and bias["p_value"] < 1e-3
    assert {m["judge"] for m in report["model_judge"]} == {"tuned-model"}
    excluded = pj["attention_check"] | pj["rater_flagged"]
    assert report["excluded"] == {"flagged_raters": int(pj.loc[pj["rater_flagged"], "rater"].nunique()),
                                  "attention_checks": int(pj["attention_check"].sum()),
                                  "judgments": int(excluded.sum())}
    n_all = sum(a["n_judgments"] for a in report["agreement"] if a["panel"] == "all")
    assert n_all == int((~excluded).sum())
    assert report["simulated"]["share"] == 1.0


def test_report_correlations_use_mean_ratings_and_skip_reference_conditions():
    """The hand-computed example of test_correlation, fed as ratings (two raters agreeing)."""
    rows = []
    for cand, brief, cond, _, human in EXAMPLE:
        for rater in ("r1", "r2"):
            rows.append({"panel": "p", "rater": rater, "criterion": "c", "item": cand, "brief": brief,
                         "condition": cond, "value": human})
    rj = pd.DataFrame(rows)
    scores = pd.DataFrame([(c, b, k, "s", v) for c, b, k, v, _ in EXAMPLE],
                          columns=["candidate", "brief", "condition", "name", "value"])
    conditions = pd.DataFrame({"name": ["c1", "c2", "c3", "human"], "kind": "x", "reference": [False] * 3 + [True]})
    report = build_report(study="x", task="rating", rj=rj, scores=scores, conditions=conditions, n_boot=100)
    recs = {r["granularity"]: r for r in report["correlation"] if r["panel"] == "all"}
    assert recs["item"]["spearman"] == pytest.approx(0.5) and recs["item"]["n"] == 6
    means = {r["condition"]: r["mean_rating"] for r in report["ranking"] if r["panel"] == "all"}
    assert means["c2"] == pytest.approx(2.0) and means["human"] == pytest.approx(-10.0)


def test_missing_columns_are_named():
    with pytest.raises(ValueError, match="choice"):
        build_report(study="x", task="pairwise", pj=pd.DataFrame({"panel": [], "rater": []}))
