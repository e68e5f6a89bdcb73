"""Rankings: Bradley-Terry against Agresti's published fit, win rates, Wilson intervals."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from annotations.analysis import ranking as rk
from annotations.analysis._common import wilson_interval
from annotations.analysis.synthetic import synthetic_pairwise

# Agresti, Categorical Data Analysis (2nd ed., 2002), Sec. 10.6, Table 10.11: 1987 American
# League East baseball season; (home team, away team, home wins, away wins) as distributed with
# the R package BradleyTerry2 (data "baseball", source: Agresti 2002 p. 438).
BASEBALL_1987 = """\
Milwaukee,Detroit,4,3;Milwaukee,Toronto,4,2;Milwaukee,New York,4,3;Milwaukee,Boston,6,1;Milwaukee,Cleveland,4,2
Milwaukee,Baltimore,6,0;Detroit,Milwaukee,3,3;Detroit,Toronto,4,2;Detroit,New York,4,3;Detroit,Boston,6,0
Detroit,Cleveland,6,1;Detroit,Baltimore,4,3;Toronto,Milwaukee,2,5;Toronto,Detroit,4,3;Toronto,New York,2,4
Toronto,Boston,4,3;Toronto,Cleveland,4,2;Toronto,Baltimore,6,0;New York,Milwaukee,3,3;New York,Detroit,5,1
New York,Toronto,2,5;New York,Boston,4,3;New York,Cleveland,4,2;New York,Baltimore,6,1;Boston,Milwaukee,5,1
Boston,Detroit,2,5;Boston,Toronto,3,3;Boston,New York,4,2;Boston,Cleveland,5,2;Boston,Baltimore,6,0
Cleveland,Milwaukee,2,5;Cleveland,Detroit,3,3;Cleveland,Toronto,3,4;Cleveland,New York,4,3;Cleveland,Boston,4,2
Cleveland,Baltimore,2,4;Baltimore,Milwaukee,2,5;Baltimore,Detroit,1,5;Baltimore,Toronto,1,6
Baltimore,New York,2,4;Baltimore,Boston,1,6;Baltimore,Cleveland,3,4"""
# Agresti (2002) Sec. 10.6: fitted Bradley-Terry parameters (Baltimore = 0), as also given by
# BradleyTerry2::BTm on these data (1.5814, 1.4364, 1.2945, 1.2476, 1.1077, 0.6839).
AGRESTI_FIT = {"Milwaukee": 1.58, "Detroit": 1.44, "Toronto": 1.29, "New York": 1.25, "Boston": 1.11,
               "Cleveland": 0.68, "Baltimore": 0.00}


def baseball_judgments():
    rows = []
    for game in BASEBALL_1987.replace("\n", ";").split(";"):
        home, away, hw, aw = game.split(",")
        rows += [{"item": f"{home}-{away}-h{k}", "cond_a": home, "cond_b": away, "choice": "a"} for k in range(int(hw))]
        rows += [{"item": f"{home}-{away}-a{k}", "cond_a": home, "cond_b": away, "choice": "b"} for k in range(int(aw))]
    pj = pd.DataFrame(rows)
    pj["cand_a"], pj["cand_b"], pj["brief"] = pj["cond_a"], pj["cond_b"], "season"
    return pj


def test_bradley_terry_reproduces_agresti_baseball_1987():
    """Agresti (2002) Sec. 10.6: Milwaukee 1.58, Detroit 1.44, Toronto 1.29, New York 1.25,
    Boston 1.11, Cleveland 0.68, Baltimore 0 (our strengths are centred; compare differences)."""
    out = rk.bt_conditions(baseball_judgments(), n_boot=200, seed=1).set_index("condition")
    assert not out["regularised"].any()
    base = out.loc["Baltimore", "bt_strength"]
    for team, want in AGRESTI_FIT.items():
        assert out.loc[team, "bt_strength"] - base == pytest.approx(want, abs=0.005), team
    assert out["bt_strength"].sum() == pytest.approx(0.0, abs=1e-9)
    assert (out["bt_lo"] < out["bt_strength"]).all() and (out["bt_strength"] < out["bt_hi"]).all()


def test_win_rates_count_ties_as_half_and_skip_same_condition_pairs():
    pj = pd.DataFrame({"item": range(5), "cond_a": ["x", "x", "x", "y", "x"], "cond_b": ["y", "y", "y", "x", "x"],
                       "choice": ["a", "tie", "b", "b", "a"]})
    wr = rk.win_rates(pj).set_index("condition")
    assert wr.loc["x", "n"] == 4 and wr.loc["x", "wins"] == 2.5
    assert wr.loc["y", "win_rate"] == pytest.approx(1.5 / 4)


def test_wilson_interval_reproduces_newcombe_1998():
    """Newcombe (1998), Stat. Med. 17:857, worked example: 81/263 -> 0.2553 to 0.3662."""
    lo, hi = wilson_interval(81, 263)
    assert (round(float(lo), 4), round(float(hi), 4)) == (0.2553, 0.3662)
    ci = stats.binomtest(81, 263).proportion_ci(method="wilson")
    assert lo == pytest.approx(ci.low) and hi == pytest.approx(ci.high)


def test_bradley_terry_recovers_known_strengths():
    """Property: data simulated from known strengths (Bradley & Terry 1952 model) are recovered."""
    truth = {"base": -0.5, "fine-tuned": 0.1, "steered": 0.4}
    pj, *_ = synthetic_pairwise(60_000, strengths=truth, candidate_sd=0.0, tie_rate=0.0, seed=7,
                                attention_rate=0.0, flagged_share=0.0)
    out = rk.bt_conditions(pj, n_boot=300, seed=0).set_index("condition")
    for cond, want in truth.items():
        centred = want - np.mean(list(truth.values()))
        assert out.loc[cond, "bt_strength"] == pytest.approx(centred, abs=0.03)
        assert out.loc[cond, "bt_lo"] < centred < out.loc[cond, "bt_hi"]


def test_bootstrap_is_reproducible_with_a_seed():
    pj, *_ = synthetic_pairwise(3_000, seed=2)
    a = rk.bt_conditions(pj, n_boot=100, seed=5)
    b = rk.bt_conditions(pj, n_boot=100, seed=5)
    pd.testing.assert_frame_equal(a, b)


def test_a_condition_that_always_wins_gets_a_finite_regularised_strength():
    pj = pd.DataFrame({"item": range(6), "cond_a": ["x"] * 3 + ["y"] * 3, "cond_b": ["y"] * 3 + ["z"] * 3,
                       "choice": ["a", "a", "a", "a", "b", "tie"]})
    out = rk.bt_conditions(pj, n_boot=50).set_index("condition")
    assert out["regularised"].all()
    assert np.isfinite(out["bt_strength"]).all()
    assert out.loc["x", "bt_strength"] == out["bt_strength"].max()


def test_candidate_strengths_stay_finite_and_follow_the_truth():
    """Per-candidate BT with its light prior: an all-wins candidate is finite, and strengths
    correlate with the simulated candidate strengths."""
    pj, scores, _, _ = synthetic_pairwise(30_000, candidate_sd=0.8, seed=3)
    cands = rk.bt_candidates(pj)
    oracle = scores[scores["name"] == "oracle"].set_index("candidate")["value"]
    merged = cands.set_index("candidate").join(oracle)
    assert np.isfinite(cands["bt_strength"]).all()
    assert stats.spearmanr(merged["bt_strength"], merged["value"]).statistic > 0.7
    one = pd.DataFrame({"cand_a": ["c1"] * 4, "cand_b": ["c2"] * 4, "cond_a": "x", "cond_b": "y", "brief": "b",
                        "choice": ["a"] * 4})
    strengths = rk.bt_candidates(one).set_index("candidate")["bt_strength"]
    assert np.isfinite(strengths).all() and strengths["c1"] > strengths["c2"]


def test_batched_fit_matches_single_fits():
    rng = np.random.default_rng(0)
    w = rng.integers(1, 20, size=(5, 4, 4)).astype(float)
    w[:, np.arange(4), np.arange(4)] = 0
    batched = rk.bt_fit(w)
    for b in range(5):
        assert batched[b] == pytest.approx(rk.bt_fit(w[b]), abs=1e-9)


def test_condition_matrix_lists_each_ordered_pair():
    pj = baseball_judgments()
    rows = {(r["condition"], r["opponent"]): r for r in rk.condition_matrix(pj)}
    assert rows[("Milwaukee", "Baltimore")]["wins"] == 11 and rows[("Milwaukee", "Baltimore")]["n"] == 13
    assert rows[("Baltimore", "Milwaukee")]["win_rate"] == pytest.approx(2 / 13)


def test_rating_means_use_candidate_means_with_a_t_interval():
    rj = pd.DataFrame({"condition": ["x"] * 6, "item": [1, 1, 2, 2, 3, 3], "value": [1, 3, 3, 3, 5, 5]})
    out = rk.rating_means(rj).iloc[0]
    means = np.array([2, 3, 5])
    half = stats.t.ppf(0.975, 2) * means.std(ddof=1) / np.sqrt(3)
    assert out["mean_rating"] == pytest.approx(10 / 3)
    assert out["lo"] == pytest.approx(10 / 3 - half) and out["n"] == 6 and out["n_items"] == 3
