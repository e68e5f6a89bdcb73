"""Score-vs-human correlations on a hand-computed example, and model-judge agreement."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from annotations.analysis import correlation as corr

# Hand-computed example: 2 briefs x 3 conditions, plus a reference condition "human" whose wild
# values would change every figure if it were not left out.
#   brief b1: score 1, 2, 3   human 1, 3, 2   -> per-brief Pearson = Spearman = 0.5, tau-b = 1/3
#   brief b2: score 3, 1, 2   human 2, 1, 3   -> per-brief Pearson = Spearman = 0.5, tau-b = 1/3
#   item level (6 candidates): Pearson = Spearman = 0.5; tau-b = (8 - 4) / sqrt(12 * 12) = 1/3
#   system level: condition means score (2, 1.5, 2.5), human (1.5, 2, 2.5):
#                 Pearson = Spearman = 0.5, tau-b = 1/3
EXAMPLE = [
    ("b1-c1", "b1", "c1", 1, 1), ("b1-c2", "b1", "c2", 2, 3), ("b1-c3", "b1", "c3", 3, 2),
    ("b2-c1", "b2", "c1", 3, 2), ("b2-c2", "b2", "c2", 1, 1), ("b2-c3", "b2", "c3", 2, 3),
    ("b1-h", "b1", "human", 100, -100), ("b2-h", "b2", "human", -50, 80),
]


def example_frames():
    df = pd.DataFrame(EXAMPLE, columns=["candidate", "brief", "condition", "value", "human"])
    human = df[["candidate", "brief", "condition", "human"]]
    scores = df[["candidate", "brief", "condition", "value"]].assign(name="s")
    conditions = pd.DataFrame({"name": ["c1", "c2", "c3", "human"], "kind": "x", "reference": [False] * 3 + [True]})
    return human, scores, conditions


def test_three_granularities_match_the_hand_computed_example():
    """Hand-computed above (definitions of DESIGN.md: item / brief / system)."""
    human, scores, conditions = example_frames()
    recs = {r["granularity"]: r for r in corr.score_human_correlations(human, scores, conditions, n_boot=200)}
    for level in ("item", "brief", "system"):
        assert recs[level]["pearson"] == pytest.approx(0.5), level
        assert recs[level]["spearman"] == pytest.approx(0.5), level
        assert recs[level]["kendall_tau_b"] == pytest.approx(1 / 3), level
    assert (recs["item"]["n"], recs["brief"]["n"], recs["system"]["n"]) == (6, 2, 3)
    # 3 conditions: exact permutation p; |rho| >= 0.5 holds for all 6 orderings
    assert recs["system"]["spearman_p"] == pytest.approx(1.0)


def test_reference_conditions_are_left_out_only_when_marked():
    human, scores, conditions = example_frames()
    unmarked = conditions.assign(reference=False)
    recs = {r["granularity"]: r for r in corr.score_human_correlations(human, scores, unmarked, n_boot=0)}
    assert recs["item"]["n"] == 8 and recs["item"]["pearson"] != pytest.approx(0.5)


def test_item_level_agrees_with_scipy_and_p_uses_the_spearmanr_approximation():
    rng = np.random.default_rng(0)
    n = 200
    h = rng.normal(size=n)
    s = h + rng.normal(size=n)
    human = pd.DataFrame({"candidate": range(n), "brief": np.arange(n) % 20, "condition": np.arange(n) // 20, "human": h})
    scores = human.assign(name="s", value=s)[["candidate", "brief", "condition", "name", "value"]]
    (item, *_) = corr.score_human_correlations(human, scores, None, n_boot=300)
    assert item["pearson"] == pytest.approx(stats.pearsonr(s, h)[0])
    sp = stats.spearmanr(s, h)
    assert item["spearman"] == pytest.approx(sp.statistic) and item["spearman_p"] == pytest.approx(sp.pvalue)
    assert item["kendall_tau_b"] == pytest.approx(stats.kendalltau(s, h).statistic)
    lo, hi = item["spearman_ci95"]
    assert lo < sp.statistic < hi


@pytest.mark.parametrize("tied", [True, False])
def test_vectorised_bootstrap_spearman_equals_spearmanr_on_each_resample(tied):
    """The counts-based mid-ranks give exactly scipy's Spearman on the resampled data."""
    rng = np.random.default_rng(1)
    x = rng.integers(0, 5, 30).astype(float) if tied else rng.normal(size=30)
    y = x + rng.integers(0, 3, 30)
    w = np.stack([np.bincount(rng.integers(0, 30, 30), minlength=30) for _ in range(5)]).astype(float)
    rx, ry = corr._weighted_midranks(x, w), corr._weighted_midranks(y, w)
    for b in range(5):
        idx = np.repeat(np.arange(30), w[b].astype(int))
        rho = corr._rho_weighted(rx[b:b + 1], ry[b:b + 1], w[b:b + 1])[0]
        assert rho == pytest.approx(stats.spearmanr(x[idx], y[idx]).statistic)


def test_grouped_coefficients_match_scipy_per_group():
    rng = np.random.default_rng(2)
    g = np.repeat(np.arange(6), [3, 4, 5, 6, 7, 2])
    x = rng.integers(0, 4, (len(g), 2)).astype(float)
    y = rng.normal(size=len(g))
    pear, spear, kend = corr.grouped_coefficients(g, x, y)
    for k in range(5):
        m = g == k
        for c in range(2):
            if np.ptp(x[m, c]) == 0:
                assert np.isnan(spear[k, c])
                continue
            assert pear[k, c] == pytest.approx(stats.pearsonr(x[m, c], y[m])[0])
            assert spear[k, c] == pytest.approx(stats.spearmanr(x[m, c], y[m]).statistic)
            assert kend[k, c] == pytest.approx(stats.kendalltau(x[m, c], y[m]).statistic)
    assert np.isnan(pear[5]).all()  # two points: skipped


def test_exact_spearman_p_for_three_points():
    """With 3 points a perfect rank correlation has exact two-sided p = 2/6."""
    assert corr.exact_spearman_p([1, 2, 3], [2, 4, 9]) == pytest.approx(1 / 3)


def test_model_judge_agreement_with_the_majority():
    pj = pd.DataFrame({
        "criterion": "c", "item": [1, 1, 1, 2, 2, 2, 3, 3],
        "choice": ["a", "a", "b", "b", "b", "b", "a", "b"],  # item 3 has no majority
    })
    judge = pd.DataFrame({"item": [1, 2, 3], "judge": "m", "choice": ["a", "a", "a"]})
    (rec,) = corr.model_judge_agreement(pj, judge)
    assert rec["n"] == 2 and rec["agreement_with_majority"] == 0.5
    lo, hi = rec["ci95"]
    assert lo < 0.5 < hi


def test_the_signed_rank_p_value_equals_scipy_with_and_without_ties():
    """Reference: scipy.stats.wilcoxon (exact distribution without ties, permutation with ties)."""
    import numpy as np
    from scipy import stats

    from annotations.analysis.correlation import signed_rank_p

    rng = np.random.default_rng(3)
    for n in (4, 7, 12):
        tied = rng.choice([-1.0, -0.5, 0.5, 1.0], size=n)
        assert signed_rank_p(tied) == pytest.approx(stats.wilcoxon(tied).pvalue)
        distinct = rng.normal(size=n)
        assert signed_rank_p(distinct) == pytest.approx(stats.wilcoxon(distinct, method="exact").pvalue)
    assert signed_rank_p([0.0, 0.0]) is None
