"""Automatic scores vs human judgments, and model-as-judge agreement with panel majorities.

Granularities (DESIGN.md):
- ``item``: across candidates (one point per candidate);
- ``brief``: within each brief across conditions (per-brief condition means), one coefficient per
  brief, then the plain mean over briefs (briefs with fewer than 3 conditions, or a constant
  score or human value, are skipped); ``n`` = briefs averaged;
- ``system``: across condition means (one point per condition).
Conditions marked ``reference`` are left out before anything is computed.

Inference: Spearman p-values use the t approximation of ``scipy.stats.spearmanr`` for item and
system level, or the exact permutation distribution when there are at most 7 points (with 3
conditions the approximation says p = 0 for a perfect rank correlation, the exact p is 1/3); at
brief level the p-value is a Wilcoxon signed-rank test of the per-brief Spearman coefficients
against 0 (``scipy.stats.wilcoxon``). Bootstrap 95% intervals for Spearman resample candidates
(item) or briefs (brief and system), seeded.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from ._common import bootstrap_counts, map_values, num, pair, percentile_ci, plurality, wilson_interval

GRANULARITIES = ("item", "brief", "system")
MIN_POINTS = 3


def _defined(x, y):
    return len(x) >= MIN_POINTS and np.ptp(x) > 0 and np.ptp(y) > 0


def _coefficients(x, y):
    """Pearson, Spearman, Kendall tau-b and the Spearman p-value (scipy.stats), or Nones."""
    if not _defined(x, y):
        return None, None, None, None
    sp = stats.spearmanr(x, y)
    return (num(stats.pearsonr(x, y)[0]), num(sp.statistic), num(stats.kendalltau(x, y, variant="b").statistic),
            num(sp.pvalue))


def _weighted_midranks(x, weights):
    """Mid-ranks of ``x`` inside each bootstrap resample given as counts, without re-sorting.

    ``weights``: (B, n) how often each point was drawn. A point's rank among the resample is
    (number of drawn points with a smaller value) + (number drawn with an equal value + 1) / 2,
    which cumulative sums over the once-sorted distinct values give for all B rounds at once.
    Returns (B, n).
    """
    order = np.argsort(x, kind="stable")
    xs = x[order]
    starts = np.r_[0, np.nonzero(np.diff(xs))[0] + 1]
    group_of_sorted = np.cumsum(np.r_[0, (np.diff(xs) != 0).astype(int)])
    group = np.empty(len(x), dtype=int)
    group[order] = group_of_sorted
    if len(starts) == len(x):  # no ties: each value is its own group
        per_sorted = weights[:, order]
        rank_sorted = np.cumsum(per_sorted, axis=1) - (per_sorted - 1) / 2.0
        ranks = np.empty_like(rank_sorted)
        ranks[:, order] = rank_sorted
        return ranks
    per_group = np.add.reduceat(weights[:, order], starts, axis=1)  # (B, G)
    rank_g = np.cumsum(per_group, axis=1) - (per_group - 1) / 2.0
    return rank_g[:, group]


def signed_rank_p(x) -> float | None:
    """Two-sided Wilcoxon signed-rank p-value (zeros dropped, as scipy's default).

    Written out because per-brief coefficients over 3-4 conditions take few distinct values:
    with ties, ``scipy.stats.wilcoxon`` falls back to a generic permutation test costing about a
    second per call. Up to 16 values the exact sign-flip distribution is enumerated here in one
    matrix product (the same p as scipy's permutation method); beyond, the normal approximation.
    """
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x) & (x != 0)]
    n = len(x)
    if n == 0:
        return None
    if n > 16:
        return float(stats.wilcoxon(x, method="asymptotic").pvalue)
    ranks = stats.rankdata(np.abs(x))
    signs = (np.arange(2**n)[:, None] >> np.arange(n)) & 1  # (2^n, n): every sign pattern
    null = signs @ ranks  # (2^n,) sum of positive ranks
    centre = ranks.sum() / 2
    observed = ranks[x > 0].sum()
    return float(np.mean(np.abs(null - centre) >= abs(observed - centre) - 1e-9))


def bootstrap_spearman(x, y, *, n_boot: int = 1000, seed: int = 0, ci: float = 0.95):
    """Percentile bootstrap interval of Spearman's rho, resampling points with replacement.

    Written here, vectorised over rounds (``scipy.stats.bootstrap`` calls spearmanr once per
    round, far too slow for 72 scores x criteria x panels): each resample's rho is the weighted
    Pearson correlation of its mid-ranks (``_weighted_midranks``), the same value spearmanr gives
    on the resample.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if not _defined(x, y) or n_boot <= 0:
        return None
    w = bootstrap_counts(np.random.default_rng(seed), len(x), n_boot).astype(float)
    rho = _rho_weighted(_weighted_midranks(x, w), _weighted_midranks(y, w), w)
    return pair(*percentile_ci(rho, level=ci))


def _pearson_columns(x, y):
    """Pearson r of every column of ``x`` (n, S) with ``y`` (n,); NaN for constant columns."""
    dx = x - x.mean(axis=0)
    dy = y - y.mean()
    with np.errstate(invalid="ignore", divide="ignore"):
        return (dx * dy[:, None]).sum(axis=0) / np.sqrt((dx * dx).sum(axis=0) * (dy * dy).sum())


def _spearman_p(rho, n):
    """Two-sided p-value of Spearman's rho by the t approximation, as ``scipy.stats.spearmanr``
    computes it (t = r sqrt((n-2)/(1-r^2)), n-2 degrees of freedom); vectorised over scores."""
    rho = np.asarray(rho, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = rho * np.sqrt((n - 2) / ((1.0 - rho) * (1.0 + rho)))
    return 2 * stats.t.sf(np.abs(t), n - 2)


def _item_level(x, y, names, n_boot, seed):
    """Across candidates: one record per score column of ``x`` (n, S)."""
    n = len(y)
    recs = [{"score": nm, "granularity": "item", "pearson": None, "spearman": None, "kendall_tau_b": None,
             "spearman_ci95": None, "spearman_p": None, "n": int(n)} for nm in names]
    if n < MIN_POINTS or np.ptp(y) == 0:
        return recs
    pear = _pearson_columns(x, y)
    rx = stats.rankdata(x, axis=0)
    ry = stats.rankdata(y)
    spear = _pearson_columns(rx, ry)
    spear_p = _spearman_p(spear, n)
    for k, rec in enumerate(recs):
        if np.ptp(x[:, k]) == 0:
            continue
        rec.update(pearson=num(pear[k]), spearman=num(spear[k]),
                   spearman_p=exact_spearman_p(x[:, k], y) if n <= EXACT_MAX else num(spear_p[k]),
                   kendall_tau_b=num(stats.kendalltau(x[:, k], y, variant="b").statistic))
    if n_boot > 0:
        # rounds in chunks of ~1M cells keep the arrays in cache; the human ranks of a chunk
        # are shared by every score
        w_all = bootstrap_counts(np.random.default_rng(seed), n, n_boot)
        rho = np.full((n_boot, len(names)), np.nan)
        chunk = max(1, 1_000_000 // n)
        for start in range(0, n_boot, chunk):
            w = w_all[start:start + chunk].astype(float)
            ry_b = _weighted_midranks(y, w)
            for k in range(len(names)):
                if np.ptp(x[:, k]) > 0:
                    rho[start:start + chunk, k] = _rho_weighted(_weighted_midranks(x[:, k], w), ry_b, w)
        for k, rec in enumerate(recs):
            if rec["spearman"] is not None:
                rec["spearman_ci95"] = pair(*percentile_ci(rho[:, k]))
    return recs


def _rho_weighted(rx, ry, w):
    """Weighted Pearson correlation of rank rows (B, n) with weights (B, n): Spearman per round.

    In every round the weights sum to n and mid-ranks sum to n(n+1)/2, so both weighted means
    are (n+1)/2 and only the cross and square sums need a pass over the data.
    """
    n = w[0].sum()
    m2 = n * ((n + 1) / 2.0) ** 2
    wrx = w * rx
    with np.errstate(invalid="ignore", divide="ignore"):
        return ((np.einsum("ij,ij->i", wrx, ry) - m2)
                / np.sqrt((np.einsum("ij,ij->i", wrx, rx) - m2) * (np.einsum("ij,ij->i", w * ry, ry) - m2)))


def grouped_coefficients(g, x, y):
    """Per-group Pearson, Spearman and Kendall tau-b of every column of ``x`` (n, S) with ``y``.

    ``g``: group code per row (0..G-1). Written here, vectorised over groups and scores (a loop
    of scipy calls over every brief x score x criterion x panel is far too slow for studies
    with dozens of scores); tested against scipy. Kendall tau-b from all within-group pairs:
    sum sign(dx) sign(dy) / sqrt(#pairs untied in x * #pairs untied in y).
    Groups with fewer than 3 rows or a constant column give NaN.
    Returns (pearson, spearman, kendall) arrays of shape (G, S).
    """
    g = np.asarray(g)
    n_groups = g.max() + 1 if len(g) else 0
    size = np.bincount(g, minlength=n_groups)
    frame = pd.DataFrame(x)
    frame["_y"] = y
    ranks = frame.groupby(g).rank(method="average").to_numpy()

    def per_group_pearson(a):  # a: (n, S+1), last column is y
        mean = np.zeros((n_groups, a.shape[1]))
        for col in range(a.shape[1]):
            mean[:, col] = np.bincount(g, weights=a[:, col], minlength=n_groups)
        mean /= np.maximum(size, 1)[:, None]
        d = a - mean[g]
        dy = d[:, -1:]
        sxy = np.stack([np.bincount(g, weights=d[:, c] * dy[:, 0], minlength=n_groups) for c in range(a.shape[1] - 1)], axis=1)
        sxx = np.stack([np.bincount(g, weights=d[:, c] ** 2, minlength=n_groups) for c in range(a.shape[1] - 1)], axis=1)
        syy = np.bincount(g, weights=dy[:, 0] ** 2, minlength=n_groups)
        with np.errstate(invalid="ignore", divide="ignore"):
            return sxy / np.sqrt(sxx * syy[:, None])

    pearson = per_group_pearson(np.column_stack([x, y]))
    spearman = per_group_pearson(ranks)
    # all pairs (i < j) inside each group
    order = np.argsort(g, kind="stable")
    starts = np.r_[0, np.cumsum(size)[:-1]]
    i_idx, j_idx = [], []
    for m in np.unique(size[size >= 2]):
        tri_i, tri_j = np.triu_indices(m, 1)
        groups_m = np.nonzero(size == m)[0]
        base = starts[groups_m][:, None]
        i_idx.append((base + tri_i).ravel())
        j_idx.append((base + tri_j).ravel())
    kendall = np.full_like(pearson, np.nan)
    if i_idx:
        i_pos = order[np.concatenate(i_idx)]
        j_pos = order[np.concatenate(j_idx)]
        pg = g[i_pos]
        sx = np.sign(x[i_pos] - x[j_pos])
        sy = np.sign(y[i_pos] - y[j_pos])
        conc = np.stack([np.bincount(pg, weights=sx[:, c] * sy, minlength=n_groups) for c in range(x.shape[1])], axis=1)
        untied_x = np.stack([np.bincount(pg, weights=(sx[:, c] != 0).astype(float), minlength=n_groups) for c in range(x.shape[1])], axis=1)
        untied_y = np.bincount(pg, weights=(sy != 0).astype(float), minlength=n_groups)
        with np.errstate(invalid="ignore", divide="ignore"):
            kendall = conc / np.sqrt(untied_x * untied_y[:, None])
    bad = (size < MIN_POINTS)[:, None] | ~np.isfinite(pearson) | ~np.isfinite(spearman)
    for arr in (pearson, spearman, kendall):
        arr[bad] = np.nan
    return pearson, spearman, kendall


def _brief_and_system_level(bc: pd.DataFrame, cols, n_boot, seed):
    """``bc``: one row per (brief, condition) with the mean human value and score columns."""
    briefs, brief_keys = pd.factorize(bc["brief"])
    conds, cond_keys = pd.factorize(bc["condition"])
    x = bc[cols].to_numpy(dtype=float)
    y = bc["human"].to_numpy(dtype=float)
    n_b, n_c, n_s = len(brief_keys), len(cond_keys), len(cols)
    rng_seed = seed
    brief_recs, system_recs = [], []
    # brief level: per-brief coefficients, then their mean over briefs
    pear, spear, kend = grouped_coefficients(briefs, x, y) if n_b else (np.full((0, n_s), np.nan),) * 3
    valid = np.isfinite(spear)
    w = bootstrap_counts(np.random.default_rng(rng_seed), n_b, n_boot).astype(float) if (n_boot > 0 and n_b) else None
    if w is not None:
        with np.errstate(invalid="ignore", divide="ignore"):
            boot_mean = (w @ np.where(valid, spear, 0.0)) / (w @ valid.astype(float))  # (B, S)
    for k, name in enumerate(cols):
        v = valid[:, k]
        rho = spear[v, k]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            rec = {"score": name, "granularity": "brief", "pearson": num(np.nanmean(pear[v, k])) if v.any() else None,
                   "spearman": num(rho.mean()) if v.any() else None,
                   "kendall_tau_b": num(np.nanmean(kend[v, k])) if v.any() else None,
                   "spearman_ci95": None, "spearman_p": None, "n": int(v.sum())}
        if v.sum() >= 2:
            if w is not None:
                rec["spearman_ci95"] = pair(*percentile_ci(boot_mean[:, k]))
            if np.any(rho != 0):
                rec["spearman_p"] = num(signed_rank_p(rho))
        brief_recs.append(rec)
    # system level: condition means (mean over briefs of the per-brief means)
    cnt = np.zeros((n_b, n_c))
    cnt[briefs, conds] = 1.0
    ys = np.zeros((n_b, n_c))
    ys[briefs, conds] = y
    xs = np.zeros((n_b, n_c, n_s))
    xs[briefs, conds] = x
    with np.errstate(invalid="ignore", divide="ignore"):
        my = ys.sum(axis=0) / cnt.sum(axis=0)
        mx = xs.sum(axis=0) / cnt.sum(axis=0)[:, None]
    if w is not None and n_c >= MIN_POINTS:
        with np.errstate(invalid="ignore", divide="ignore"):
            wc = w @ cnt  # (B, C)
            by = (w @ ys) / wc
            bx = (w @ xs.reshape(n_b, -1)).reshape(-1, n_c, n_s) / wc[:, :, None]
        ok_rounds = np.isfinite(by).all(axis=1)
        ry = stats.rankdata(by, axis=1)
        rx = stats.rankdata(bx, axis=1)
        dy = ry - ry.mean(axis=1, keepdims=True)
        dx = rx - rx.mean(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            boot_sys = (dx * dy[:, :, None]).sum(axis=1) / np.sqrt((dx * dx).sum(axis=1) * (dy * dy).sum(axis=1)[:, None])
        boot_sys[~ok_rounds] = np.nan
        boot_sys[~np.isfinite(bx).all(axis=1)] = np.nan
    for k, name in enumerate(cols):
        p, sp, kt, spp = _coefficients(mx[:, k], my)
        rec = {"score": name, "granularity": "system", "pearson": p, "spearman": sp, "kendall_tau_b": kt,
               "spearman_ci95": None, "spearman_p": spp, "n": int(n_c)}
        if sp is not None and n_c <= EXACT_MAX:
            rec["spearman_p"] = exact_spearman_p(mx[:, k], my)
        if sp is not None and w is not None:
            rec["spearman_ci95"] = pair(*percentile_ci(boot_sys[:, k]))
        system_recs.append(rec)
    return brief_recs, system_recs


EXACT_MAX = 7


def exact_spearman_p(x, y):
    """Two-sided permutation p-value of Spearman's rho over all n! orderings (n <= EXACT_MAX).

    Used where the t approximation of ``spearmanr`` is poor (few conditions: with 3 points it
    reports p = 0 for rho = 1, while the exact p is 1/3).
    """
    rx = stats.rankdata(x)
    ry = stats.rankdata(y)
    perms = np.array(list(itertools.permutations(range(len(x)))))
    rys = ry[perms]  # (n!, n)
    dx = rx - rx.mean()
    dys = rys - rys.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        rhos = (dys * dx).sum(axis=1) / np.sqrt((dx * dx).sum() * (dys * dys).sum(axis=1))
    observed = (dx * (ry - ry.mean())).sum() / np.sqrt((dx * dx).sum() * ((ry - ry.mean()) ** 2).sum())
    return num(np.mean(np.abs(rhos) >= abs(observed) - 1e-12))


def score_human_correlations(human: pd.DataFrame, scores: pd.DataFrame, conditions: pd.DataFrame | None = None,
                             *, n_boot: int = 1000, seed: int = 0) -> list[dict]:
    """Correlations of every automatic score with the human aggregate, at three granularities.

    ``human``: columns candidate, brief, condition, human (one row per candidate: its mean rating
    or Bradley-Terry strength). ``scores``: candidate, brief, condition, name, value.
    ``conditions``: name, reference (reference conditions are dropped).
    Returns records (sorted by score, then item / brief / system): score, granularity, pearson,
    spearman, kendall_tau_b, spearman_ci95, spearman_p, n.
    All scores are handled together (one table candidates x scores); scores that cover
    different candidate sets are handled in blocks of identical coverage.
    """
    if scores is None or scores.empty or human is None or human.empty:
        return []
    refs = _reference_names(conditions)
    h = human[~human["condition"].isin(refs)][["candidate", "brief", "condition", "human"]].dropna(subset=["human"])
    h = h.groupby("candidate", as_index=False).agg(brief=("brief", "first"), condition=("condition", "first"),
                                                   human=("human", "mean"))
    s = scores[~scores["condition"].isin(refs) & scores["candidate"].isin(h["candidate"])]
    s = s.assign(value=pd.to_numeric(s["value"], errors="coerce")).dropna(subset=["value"])
    if s.empty:
        return []
    wide = s.pivot_table(index="candidate", columns="name", values="value", aggfunc="mean")
    h = h.set_index("candidate").loc[wide.index]
    coverage = wide.notna()
    blocks = {}
    for name in wide.columns:
        blocks.setdefault(coverage[name].to_numpy().tobytes(), []).append(name)
    by_name = {}
    for cols in blocks.values():
        rows = coverage[cols[0]].to_numpy()
        sub = h[rows]
        x = wide.loc[rows, cols].to_numpy(dtype=float)
        y = sub["human"].to_numpy(dtype=float)
        item = _item_level(x, y, cols, n_boot, seed)
        bc = pd.DataFrame(x, columns=cols).assign(brief=sub["brief"].to_numpy(), condition=sub["condition"].to_numpy(), human=y)
        bc = bc.groupby(["brief", "condition"], as_index=False, sort=False)[cols + ["human"]].mean()
        brief, system = _brief_and_system_level(bc, cols, n_boot, seed)
        for recs in zip(item, brief, system):
            by_name[recs[0]["score"]] = list(recs)
    return [rec for name in sorted(by_name, key=str) for rec in by_name[name]]


def _reference_names(conditions):
    if conditions is None or not len(conditions) or "reference" not in conditions:
        return set()
    return set(conditions.loc[conditions["reference"].fillna(False).astype(bool), "name"])


def scatter_points(human: pd.DataFrame, scores: pd.DataFrame, score: str, conditions: pd.DataFrame | None = None,
                   granularity: str = "item") -> pd.DataFrame:
    """The points behind one correlation, for plots: columns x (score), y (human), label.

    label is the candidate (item), "brief / condition" (brief) or the condition (system).
    """
    refs = set()
    if conditions is not None and len(conditions):
        refs = set(conditions.loc[conditions["reference"].fillna(False).astype(bool), "name"])
    s = scores[(scores["name"] == score) & ~scores["condition"].isin(refs)][["candidate", "value"]]
    m = s.merge(human[~human["condition"].isin(refs)], on="candidate").dropna(subset=["value", "human"])
    if granularity == "item":
        return pd.DataFrame({"x": m["value"], "y": m["human"], "label": m["candidate"].astype(str)}).reset_index(drop=True)
    if granularity == "brief":
        g = m.groupby(["brief", "condition"], as_index=False)[["value", "human"]].mean()
        return pd.DataFrame({"x": g["value"], "y": g["human"], "label": g["brief"].astype(str) + " / " + g["condition"].astype(str)})
    g = m.groupby(["brief", "condition"], as_index=False)[["value", "human"]].mean().groupby("condition")[["value", "human"]].mean()
    return pd.DataFrame({"x": g["value"].to_numpy(), "y": g["human"].to_numpy(), "label": g.index.astype(str)})


# --------------------------------------------------------------------------------------------
# Model as judge
# --------------------------------------------------------------------------------------------

def model_judge_agreement(pj: pd.DataFrame, judge: pd.DataFrame) -> list[dict]:
    """Share of comparisons where a model judge picks the panel majority, per criterion.

    ``pj``: the judgments to take majorities from (already filtered to one panel or all);
    majority = plurality of a / b / tie over the item's judgments for that criterion; items
    with no single top choice are left out. Records: criterion, judge, agreement_with_majority,
    ci95 (Wilson), n (items compared).
    """
    if judge is None or judge.empty or pj.empty:
        return []
    codes = {"a": 0, "tie": 1, "b": 2}
    c = map_values(pj["choice"], codes)
    frame = pd.DataFrame({"criterion": pj["criterion"].to_numpy(), "item": pj["item"].to_numpy(), "c": c}).dropna()
    counts = frame.groupby(["criterion", "item", "c"]).size().unstack("c", fill_value=0)
    counts = counts.reindex(columns=[0, 1, 2], fill_value=0)
    top, defined = plurality(counts.to_numpy())
    maj = counts.index.to_frame(index=False)
    maj["majority"] = top
    maj = maj[defined]
    j = judge.assign(jc=map_values(judge["choice"].astype(str).str.lower(), codes)).dropna(subset=["jc"])
    merged = maj.merge(j[["item", "judge", "jc"]], on="item")
    records = []
    for (criterion, name), g in merged.groupby(["criterion", "judge"], sort=True):
        n = len(g)
        k = int((g["majority"] == g["jc"]).sum())
        lo, hi = wilson_interval(k, n)
        records.append({"criterion": criterion, "judge": name, "agreement_with_majority": k / n if n else None,
                        "ci95": pair(lo, hi), "n": int(n)})
    return records
