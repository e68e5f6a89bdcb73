"""Agreement statistics against published worked examples."""

import krippendorff
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from annotations.analysis import agreement as ag

NAN = np.nan
# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: coders A-D (rows)
# x 12 units (columns), blank = missing.
KRIPP_2011_C = np.array([
    [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
    [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
])
KRIPP_2011_PUBLISHED = {"nominal": 0.743, "ordinal": 0.815, "interval": 0.849, "ratio": 0.797}

# Fleiss (1971), "Measuring nominal scale agreement among many raters", Psychol. Bull. 76(5),
# Table 1: 30 patients x 6 psychiatrists, 5 diagnoses (1 depression, 2 personality disorder,
# 3 schizophrenia, 4 neurosis, 5 other); one row per patient, the six diagnoses given.
FLEISS_1971 = [
    [4, 4, 4, 4, 4, 4], [2, 2, 2, 5, 5, 5], [2, 3, 3, 3, 3, 5], [5, 5, 5, 5, 5, 5], [2, 2, 2, 4, 4, 4],
    [1, 1, 3, 3, 3, 3], [3, 3, 3, 3, 5, 5], [1, 1, 3, 3, 3, 4], [1, 1, 4, 4, 4, 4], [5, 5, 5, 5, 5, 5],
    [1, 4, 4, 4, 4, 4], [1, 2, 4, 4, 4, 4], [2, 2, 2, 3, 3, 3], [1, 4, 4, 4, 4, 4], [2, 2, 4, 4, 4, 5],
    [3, 3, 3, 3, 3, 5], [1, 1, 1, 4, 5, 5], [1, 1, 1, 1, 1, 2], [2, 2, 4, 4, 4, 4], [1, 3, 3, 5, 5, 5],
    [5, 5, 5, 5, 5, 5], [2, 4, 4, 4, 4, 4], [2, 2, 4, 5, 5, 5], [1, 1, 4, 4, 4, 4], [1, 4, 4, 4, 4, 5],
    [2, 2, 2, 2, 2, 4], [1, 1, 1, 1, 5, 5], [2, 2, 4, 4, 4, 4], [1, 3, 3, 3, 3, 3], [5, 5, 5, 5, 5, 5],
]

# Wikipedia, "Fleiss' kappa", worked example: 10 subjects x 14 raters, counts per category 1-5.
WIKIPEDIA_FLEISS = [
    [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
]

# Shrout & Fleiss (1979), "Intraclass correlations: uses in assessing rater reliability",
# Psychol. Bull. 86(2), Table 2: 6 targets x 4 judges.
SHROUT_FLEISS_1979 = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]])
SHROUT_FLEISS_PUBLISHED = {"ICC1": 0.17, "ICC2": 0.29, "ICC3": 0.71, "ICC1k": 0.44, "ICC2k": 0.62, "ICC3k": 0.91}


def kripp_long():
    coders, units = np.nonzero(~np.isnan(KRIPP_2011_C))
    return units, coders, KRIPP_2011_C[coders, units]


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval", "ratio"])
def test_alpha_reproduces_krippendorff_2011_section_c(level):
    """Krippendorff (2011) section C: nominal .743, ordinal .815, interval .849, ratio .797."""
    units, _, values = kripp_long()
    assert ag.krippendorff_alpha(units, values, level) == pytest.approx(KRIPP_2011_PUBLISHED[level], abs=5e-4)


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval", "ratio"])
def test_vectorised_alpha_used_by_the_bootstrap_equals_the_krippendorff_package(level):
    """The bootstrap's own alpha formula, given the original data as the one "replicate", must
    equal krippendorff.alpha (data: Krippendorff 2011 section C)."""
    units, _, values = kripp_long()
    counts, domain, _ = ag.value_counts(units, values)
    pairable = counts[counts.sum(axis=1) >= 2]
    patterns, freq = np.unique(pairable, axis=0, return_counts=True)
    mine = ag.alpha_replicates(patterns, freq[None, :], domain, [level])[level][0]
    assert mine == pytest.approx(krippendorff.alpha(KRIPP_2011_C, level_of_measurement=level), abs=1e-12)


def test_alpha_bootstrap_is_seeded_and_brackets_the_estimate():
    """Bootstrap over units of Krippendorff (2011) section C data: same seed, same interval."""
    units, _, values = kripp_long()
    counts, domain, _ = ag.value_counts(units, values)
    a = ag.alpha_bootstrap(counts, domain, ["nominal", "interval"], n_boot=500, seed=3)
    b = ag.alpha_bootstrap(counts, domain, ["nominal", "interval"], n_boot=500, seed=3)
    assert a == b
    lo, hi = a["interval"]
    assert lo < 0.849 < hi <= 1.0


def test_alpha_is_none_when_every_value_is_the_same():
    assert ag.krippendorff_alpha([1, 1, 2, 2], [3, 3, 3, 3], "nominal") is None


def test_fleiss_kappa_reproduces_fleiss_1971():
    """Fleiss (1971) Table 1, 30 patients x 6 psychiatrists: kappa = .430 (R irr: 0.4302445)."""
    data = np.array(FLEISS_1971)
    counts = np.stack([(data == c).sum(axis=1) for c in range(1, 6)], axis=1)
    assert counts.sum(axis=0).tolist() == [26, 26, 30, 55, 43]  # column totals of the paper's table
    kappa, reason = ag.fleiss_kappa(counts)
    assert reason is None
    assert kappa == pytest.approx(0.4302445, abs=1e-6)


def test_fleiss_kappa_reproduces_the_wikipedia_worked_example():
    """Wikipedia "Fleiss' kappa" worked example (10 subjects, 14 raters): kappa = 0.210."""
    kappa, _ = ag.fleiss_kappa(np.array(WIKIPEDIA_FLEISS))
    assert kappa == pytest.approx(0.210, abs=5e-4)


def test_fleiss_kappa_says_why_it_is_missing_for_unequal_rater_counts():
    kappa, reason = ag.fleiss_kappa(np.array([[2, 0], [1, 2]]))
    assert kappa is None and "same number of raters" in reason


def test_percent_agreement_matches_fleiss_p_bar():
    """Fleiss (1971): mean per-subject agreement P-bar; Wikipedia example gives P-bar = 0.378."""
    assert ag.percent_agreement(np.array(WIKIPEDIA_FLEISS)) == pytest.approx(0.378, abs=5e-4)


def test_icc_reproduces_shrout_fleiss_1979_table_2():
    """Shrout & Fleiss (1979) Table 2: ICC(1,1)=.17 ICC(2,1)=.29 ICC(3,1)=.71 ICC(1,4)=.44
    ICC(2,4)=.62 ICC(3,4)=.91."""
    got = ag.icc_shrout_fleiss(SHROUT_FLEISS_1979)
    for key, want in SHROUT_FLEISS_PUBLISHED.items():
        assert got[key] == pytest.approx(want, abs=0.005), key


def test_icc_from_long_data_finds_the_crossed_design():
    """Shrout & Fleiss (1979) Table 2 as long data: all six ICCs; without judge identity only
    the one-way ICC1 / ICC1k, which equal the published ones."""
    targets, judges = np.indices(SHROUT_FLEISS_1979.shape)
    icc, design = ag.icc_long(targets.ravel(), judges.ravel(), SHROUT_FLEISS_1979.ravel())
    assert design == "two-way" and icc["ICC3k"] == pytest.approx(0.91, abs=0.005)
    raters = np.arange(targets.size)  # every judgment by a different rater: not crossed
    icc, design = ag.icc_long(targets.ravel(), raters, SHROUT_FLEISS_1979.ravel())
    assert design == "one-way"
    assert icc["ICC1"] == pytest.approx(0.17, abs=0.005) and icc["ICC1k"] == pytest.approx(0.44, abs=0.005)
    assert icc["ICC2"] is None


def test_mean_pairwise_cohen_kappa_reproduces_a_sas_example():
    """Two raters, 3 categories, table [[0,4,1],[0,8,0],[0,1,5]]: kappa 0.4842 (SAS PROC FREQ
    printout, as used in statsmodels' tests). One pair, so the mean is that kappa."""
    table = np.array([[0, 4, 1], [0, 8, 0], [0, 1, 5]])
    r1, r2 = [], []
    for i in range(3):
        for j in range(3):
            r1 += [i] * table[i, j]
            r2 += [j] * table[i, j]
    n = len(r1)
    units = np.r_[np.arange(n), np.arange(n)]
    raters = np.r_[np.zeros(n), np.ones(n)]
    kappa, pairs = ag.mean_pairwise_cohen_kappa(units, raters, np.r_[r1, r2])
    assert pairs == 1
    assert kappa == pytest.approx(0.4842, abs=5e-5)


def test_mean_pairwise_cohen_kappa_averages_over_pairs():
    """Three raters on 6 items: the mean of the three pairwise kappas (scipy-free hand check)."""
    a = [0, 1, 0, 1, 0, 1]
    b = [0, 1, 0, 1, 1, 1]
    c = [1, 1, 0, 0, 0, 1]

    def kappa(x, y):
        x, y = np.array(x), np.array(y)
        po = (x == y).mean()
        pe = sum((x == k).mean() * (y == k).mean() for k in (0, 1))
        return (po - pe) / (1 - pe)

    want = np.mean([kappa(a, b), kappa(a, c), kappa(b, c)])
    units = np.tile(np.arange(6), 3)
    raters = np.repeat(["a", "b", "c"], 6)
    got, pairs = ag.mean_pairwise_cohen_kappa(units, raters, np.r_[a, b, c])
    assert pairs == 3 and got == pytest.approx(want)


def _pj(rows):
    cols = ["panel", "rater", "criterion", "item", "choice", "left_is_a", "attention_check", "attention_passed",
            "rater_flagged", "seconds"]
    return pd.DataFrame(rows, columns=cols)


def test_position_bias_counts_left_wins_and_tests_against_one_half():
    """Left wins = choice a shown left, or b shown right; ties ignored; exact binomial p."""
    rows = [("p", "r", "c", i, "a", True, False, np.nan, False, 1.0) for i in range(8)]
    rows += [("p", "r", "c", 10 + i, "b", True, False, np.nan, False, 1.0) for i in range(2)]
    rows += [("p", "r", "c", 20, "tie", True, False, np.nan, False, 1.0)]
    out = ag.position_bias(_pj(rows))
    assert out["n"] == 10 and out["left_wins"] == 8
    assert out["p_value"] == pytest.approx(stats.binomtest(8, 10, 0.5).pvalue)


def test_rater_quality_uses_the_leave_one_out_majority_of_the_panel():
    """r1 agrees with the other two on item 1, disagrees on item 2; the flagged rater never
    counts in anyone's reference but gets its own record."""
    rows = [
        ("p", "r1", "c", 1, "a", True, False, np.nan, False, 10.0),
        ("p", "r2", "c", 1, "a", True, False, np.nan, False, 20.0),
        ("p", "r3", "c", 1, "a", True, False, np.nan, False, 30.0),
        ("p", "r1", "c", 2, "b", True, False, np.nan, False, 30.0),
        ("p", "r2", "c", 2, "a", True, False, np.nan, False, 20.0),
        ("p", "r3", "c", 2, "a", True, False, np.nan, False, 10.0),
        ("p", "bad", "c", 2, "b", True, False, np.nan, True, 1.0),
        ("p", "r1", "c", 3, "a", False, True, 1.0, False, 5.0),
        ("p", "r1", "c", 4, "a", False, True, 0.0, False, 5.0),
    ]
    df = _pj(rows)
    recs = {r["rater"]: r for r in ag.rater_quality(df, ag.pairwise_codes(df))}
    assert recs["r1"]["agreement_with_majority"] == 0.5 and recs["r1"]["n_compared"] == 2
    assert recs["r1"]["attention_pass_rate"] == 0.5 and recs["r1"]["n_attention_checks"] == 2
    assert recs["r1"]["median_seconds"] == 7.5
    assert recs["r2"]["agreement_with_majority"] == 1.0  # on item 2 the others are r1 "b", r3 "a": no majority
    assert recs["r2"]["n_compared"] == 1
    assert recs["bad"]["flagged"] and recs["bad"]["agreement_with_majority"] == 0.0


def test_panel_majorities_are_compared_item_by_item():
    """Two panels, three items: majorities agree on 2 of 3."""
    rows = []
    for item, expert, crowd in [(1, "aab", "aaa"), (2, "bbb", "bba"), (3, "aaa", "bbb")]:
        rows += [("experts", f"e{k}", "c", item, ch, True, False, np.nan, False, 1.0) for k, ch in enumerate(expert)]
        rows += [("crowd", f"c{k}", "c", item, ch, True, False, np.nan, False, 1.0) for k, ch in enumerate(crowd)]
    df = _pj(rows)
    (rec,) = ag.panel_majority_agreement(df, ag.pairwise_codes(df))
    assert rec["n_items"] == 3 and rec["majority_agreement"] == pytest.approx(2 / 3)
    # two coders (the panels) on three units with labels a,b,a vs a,b,b
    want = krippendorff.alpha(np.array([[0, 2, 0], [0, 2, 2]], float), level_of_measurement="nominal")
    assert rec["alpha_nominal"] == pytest.approx(want)


def test_pairwise_ordinal_alpha_uses_the_seven_point_scale_when_strength_is_given():
    rows = []
    for item, choices in enumerate([("a", 3, "a", 2), ("b", 1, "b", 1), ("tie", np.nan, "a", 1)]):
        rows.append({"item": item, "rater": "x", "choice": choices[0], "strength": choices[1]})
        rows.append({"item": item, "rater": "y", "choice": choices[2], "strength": choices[3]})
    pj = pd.DataFrame(rows)
    out = ag.pairwise_agreement(pj, n_boot=50)
    assert out["ordinal_scale"] == "7-point"
    seven = np.array([[-3, 1, 0], [-2, 1, -1]], float)  # coders x units
    assert out["alpha"]["ordinal"] == pytest.approx(krippendorff.alpha(seven, level_of_measurement="ordinal"))
    assert out["alpha"]["interval"] is None
    pj.loc[0, "strength"] = np.nan
    assert ag.pairwise_agreement(pj, n_boot=0)["ordinal_scale"] == "3-point"
