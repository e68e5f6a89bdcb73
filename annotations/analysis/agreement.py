"""Inter-rater agreement.

Array-level functions take long-format data (one entry per judgment: unit, rater, value) or a
(units x values) count matrix; the DataFrame-level functions at the bottom (``pairwise_agreement``,
``rating_agreement``, ``panel_majority_agreement``, ``rater_quality``, ``position_bias``)
take the frames described in ``annotations.analysis``.

What comes from libraries: Krippendorff's alpha (``krippendorff.alpha``), the binomial test
(``scipy.stats.binomtest``). What is written here, and why, is said beside each function.
"""

from __future__ import annotations

import itertools

import krippendorff
import numpy as np
import pandas as pd
from scipy import sparse, stats

from ._common import map_values, num, pair, pattern_bootstrap_counts, percentile_ci, plurality, wilson_interval

LEVELS = ("nominal", "ordinal", "interval", "ratio")

# Pairwise choices as codes. The order a < tie < b is also an ordinal scale (3-point).
CHOICE_CODES = {"a": 0, "tie": 1, "b": 2}


# --------------------------------------------------------------------------------------------
# Count matrices
# --------------------------------------------------------------------------------------------

def value_counts(units, values, domain=None):
    """How many judgments gave each value to each unit.

    ``units``: array of unit keys (any hashable); ``values``: float array (NaN = missing).
    Returns ``(counts, domain, unit_keys)``: ``counts`` is (N units, V values) int, ``domain``
    the sorted values (observed ones unless given), ``unit_keys`` the unit of each row.
    """
    values = np.asarray(values, dtype=float)
    ok = ~np.isnan(values)
    unit_codes, unit_keys = pd.factorize(np.asarray(units, dtype=object)[ok] if ok.size else np.asarray([], dtype=object))
    vals = values[ok]
    if domain is None:
        domain = np.unique(vals)
    domain = np.asarray(domain, dtype=float)
    idx = np.searchsorted(domain, vals)
    if vals.size and (idx.max() >= len(domain) or not np.array_equal(domain[idx], vals)):
        raise ValueError("values outside the given domain")
    n_units, n_values = len(unit_keys), len(domain)
    counts = np.bincount(unit_codes * n_values + idx, minlength=n_units * n_values).reshape(n_units, n_values)
    return counts, domain, np.asarray(unit_keys)


def _pairable(counts):
    return counts[counts.sum(axis=1) >= 2]


# --------------------------------------------------------------------------------------------
# Krippendorff's alpha
# --------------------------------------------------------------------------------------------

def alpha_from_counts(counts, domain, level: str = "nominal"):
    """Krippendorff's alpha from a (units x values) count matrix, via ``krippendorff.alpha``.

    Returns None where alpha is undefined: no unit with two or more values, or every pairable
    value the same (no expected disagreement).
    """
    counts = _pairable(np.asarray(counts))
    if counts.shape[0] == 0:
        return None
    used = counts.sum(axis=0) > 0
    if used.sum() < 2:
        return None
    domain = np.asarray(domain, dtype=float)[used]
    value = krippendorff.alpha(value_counts=counts[:, used], value_domain=domain, level_of_measurement=level)
    return num(value)


def krippendorff_alpha(units, values, level: str = "nominal"):
    """Krippendorff's alpha from long data: ``units[i]`` got ``values[i]`` (NaN = missing)."""
    counts, domain, _ = value_counts(units, values)
    return alpha_from_counts(counts, domain, level)


def _distances(level, domain, n_v):
    """Krippendorff's metric differences delta^2 for value pairs; (V, V) or (B, V, V).

    Same definitions as the ``krippendorff`` package; the ordinal one depends on the value
    frequencies ``n_v`` (B, V), so it is computed per bootstrap replicate.
    """
    v = np.asarray(domain, dtype=float)
    if level == "nominal":
        return 1.0 - np.eye(len(v))
    if level == "interval":
        return (v[:, None] - v[None, :]) ** 2
    if level == "ratio":
        s = v[:, None] + v[None, :]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(s != 0, ((v[:, None] - v[None, :]) / s) ** 2, 0.0)
    if level == "ordinal":
        cum = np.cumsum(n_v, axis=-1)  # (B, V)
        i = np.arange(len(v))
        lo, hi = np.minimum(i[:, None], i[None, :]), np.maximum(i[:, None], i[None, :])
        # sum of n_g for g between the two values (inclusive) minus half of the two ends
        between = cum[..., hi] - cum[..., lo] + n_v[..., lo]
        return (between - (n_v[..., :, None] + n_v[..., None, :]) / 2.0) ** 2
    raise ValueError(f"unknown level of measurement {level!r}; use one of {LEVELS}")


def alpha_bootstrap(counts, domain, levels=("nominal",), *, n_boot: int = 1000, seed: int = 0, ci: float = 0.95):
    """Bootstrap interval for Krippendorff's alpha, resampling units (items) with replacement.

    Written here because ``krippendorff`` has no bootstrap. Alpha is a function of the
    coincidence matrix o = sum over units of O_u, where
    O_u[c, k] = (n_uc * n_uk - [c == k] * n_uc) / (m_u - 1)   (Krippendorff 2011, section A.3).
    Units with the same value counts have the same O_u, so a resample of N units is fully
    described by how many units of each distinct count pattern it holds: one multinomial draw
    over the patterns (see ``_common.pattern_bootstrap_counts``). The cost then depends on the
    number of distinct patterns (tens for A/B/tie with a few raters), not on the number of units.
    Note: Krippendorff's own bootstrap (his macro) resamples pairable values instead; we resample
    whole items, which keeps the dependence between judgments of one item.

    Returns ``{level: (low, high)}`` (NaN where undefined).
    """
    counts = _pairable(np.asarray(counts))
    out = {level: (np.nan, np.nan) for level in levels}
    if counts.shape[0] == 0 or n_boot <= 0:
        return out
    used = counts.sum(axis=0) > 0
    if used.sum() < 2:
        return out
    counts, domain = counts[:, used], np.asarray(domain, dtype=float)[used]
    patterns, freq = np.unique(counts, axis=0, return_counts=True)
    draws = pattern_bootstrap_counts(np.random.default_rng(seed), freq, n_boot)  # (B, P)
    reps = alpha_replicates(patterns, draws, domain, levels)
    for level in levels:
        r = reps[level]
        r[~np.isfinite(r)] = np.nan
        out[level] = tuple(percentile_ci(r, level=ci))
    return out


def alpha_replicates(patterns, weights, domain, levels):
    """Alpha for weighted collections of units: ``weights[b, p]`` units with count row ``patterns[p]``.

    With ``weights = [freq]`` this is the ordinary alpha of the data (tested against
    ``krippendorff.alpha``); with bootstrap draws it gives the replicates. Returns
    ``{level: (B,) array}``.
    """
    patterns = np.asarray(patterns)
    weights = np.asarray(weights, dtype=float)
    n_values = patterns.shape[1]
    m = patterns.sum(axis=1).astype(float)
    o_pattern = (patterns[:, :, None] * patterns[:, None, :] - patterns[:, :, None] * np.eye(n_values)) / (m - 1)[:, None, None]
    o_flat = o_pattern.reshape(len(patterns), -1)  # (P, V*V)
    fixed = {level: _distances(level, domain, None) for level in levels if level != "ordinal"}
    n_boot = weights.shape[0]
    reps = {level: np.empty(n_boot) for level in levels}
    chunk = max(1, int(4_000_000 // (n_values * n_values)))
    for start in range(0, n_boot, chunk):
        o = (weights[start:start + chunk] @ o_flat).reshape(-1, n_values, n_values)  # (b, V, V)
        n_v = o.sum(axis=1)  # (b, V)
        n = n_v.sum(axis=1)
        e = (n_v[:, :, None] * n_v[:, None, :] - n_v[:, :, None] * np.eye(n_values)) / (n - 1)[:, None, None]
        for level in levels:
            d = fixed[level] if level in fixed else _distances(level, domain, n_v)
            with np.errstate(invalid="ignore", divide="ignore"):
                reps[level][start:start + chunk] = 1.0 - (o * d).sum(axis=(1, 2)) / (e * d).sum(axis=(1, 2))
    return reps


# --------------------------------------------------------------------------------------------
# Kappas and percent agreement
# --------------------------------------------------------------------------------------------

def fleiss_kappa(counts):
    """Fleiss' (1971) kappa from a (subjects x categories) count matrix.

    Written here (a closed formula on the count matrix we already have; statsmodels would be a
    large dependency for these lines). Needs the same number of raters for every subject.
    Returns ``(kappa, None)`` or ``(None, reason)``.
    """
    counts = np.asarray(counts, dtype=float)
    if counts.shape[0] == 0:
        return None, "no items"
    m = counts.sum(axis=1)
    if m.min() != m.max():
        return None, (f"items have between {int(m.min())} and {int(m.max())} judgments; Fleiss' kappa "
                      "needs the same number of raters for every item")
    k = m[0]
    if k < 2:
        return None, "every item has a single judgment"
    n_subjects = counts.shape[0]
    p_i = ((counts ** 2).sum(axis=1) - k) / (k * (k - 1))
    p_j = counts.sum(axis=0) / (n_subjects * k)
    p_e = (p_j ** 2).sum()
    if p_e >= 1.0 - 1e-12:
        return None, "every judgment has the same value, so chance agreement is 1"
    return float((p_i.mean() - p_e) / (1 - p_e)), None


def percent_agreement(counts):
    """Share of agreeing pairs of judgments within an item, averaged over items with >= 2 judgments."""
    counts = _pairable(np.asarray(counts, dtype=float))
    if counts.shape[0] == 0:
        return None
    m = counts.sum(axis=1)
    return float((((counts * (counts - 1)).sum(axis=1)) / (m * (m - 1))).mean())


def mean_pairwise_cohen_kappa(units, raters, labels, *, min_overlap: int = 2):
    """Mean over rater pairs of Cohen's kappa on the items both rated (Light's kappa).

    Pairs sharing fewer than ``min_overlap`` items, or whose kappa is undefined (chance
    agreement 1), are skipped. Written here and vectorised with sparse products because a crowd
    panel has many raters: for each category c, A_c is the (items x raters) indicator of
    "rater gave c"; A_c' A counts, for every rater pair at once, the items where the first gave
    c, which yields observed and chance agreement for all pairs without a Python loop.
    Returns ``(mean_kappa or None, n_pairs)``.
    """
    frame = pd.DataFrame({"u": np.asarray(units, dtype=object), "r": np.asarray(raters, dtype=object),
                          "v": np.asarray(labels, dtype=float)}).dropna(subset=["v"])
    frame = frame.drop_duplicates(subset=["u", "r"], keep="last")
    if frame.empty:
        return None, 0
    u, _ = pd.factorize(frame["u"])
    r, rater_keys = pd.factorize(frame["r"])
    c, cats = pd.factorize(frame["v"])
    shape = (u.max() + 1, len(rater_keys))
    ones = np.ones(len(frame))
    a_all = sparse.csr_matrix((ones, (u, r)), shape=shape)
    shared = (a_all.T @ a_all).tocoo()
    keep = (shared.row < shared.col) & (shared.data >= min_overlap)
    rows, cols, n = shared.row[keep], shared.col[keep], shared.data[keep].astype(float)
    if rows.size == 0:
        return None, 0
    agree = np.zeros(rows.size)
    chance = np.zeros(rows.size)
    for cat in range(len(cats)):
        sel = c == cat
        a_c = sparse.csr_matrix((ones[sel], (u[sel], r[sel])), shape=shape)
        agree += np.asarray((a_c.T @ a_c).tocsr()[rows, cols]).ravel()
        first = (a_c.T @ a_all).tocsr()  # [i, j]: items both rated where i said cat
        chance += np.asarray(first[rows, cols]).ravel() * np.asarray(first[cols, rows]).ravel()
    p_o = agree / n
    p_e = chance / (n * n)
    ok = p_e < 1.0 - 1e-12
    if not ok.any():
        return None, 0
    kappa = (p_o[ok] - p_e[ok]) / (1 - p_e[ok])
    return float(kappa.mean()), int(ok.sum())


# --------------------------------------------------------------------------------------------
# Intraclass correlation
# --------------------------------------------------------------------------------------------

ICC_KEYS = ("ICC1", "ICC1k", "ICC2", "ICC2k", "ICC3", "ICC3k")


def icc_shrout_fleiss(x):
    """The six ICCs of Shrout & Fleiss (1979) for a complete (targets x judges) matrix.

    Written here from the paper's ANOVA formulas (Table 1); checked against its Table 2.
    ICC1 / ICC1k: one-way random (each target rated by a different random set of judges);
    ICC2 / ICC2k: two-way random (judges a random sample, absolute agreement);
    ICC3 / ICC3k: two-way mixed (these judges only, consistency). "k" = reliability of the
    mean of the k judges.
    """
    x = np.asarray(x, dtype=float)
    n, k = x.shape
    if n < 2 or k < 2:
        return {key: None for key in ICC_KEYS}
    grand = x.mean()
    row = x.mean(axis=1)
    col = x.mean(axis=0)
    ss_rows = k * ((row - grand) ** 2).sum()
    ss_cols = n * ((col - grand) ** 2).sum()
    ss_err = ((x - row[:, None] - col[None, :] + grand) ** 2).sum()
    msr = ss_rows / (n - 1)
    msc = ss_cols / (k - 1)
    mse = ss_err / ((n - 1) * (k - 1))
    msw = (ss_cols + ss_err) / (n * (k - 1))

    def ratio(a, b):
        return num(a / b) if b != 0 else None

    return {
        "ICC1": ratio(msr - msw, msr + (k - 1) * msw),
        "ICC1k": ratio(msr - msw, msr),
        "ICC2": ratio(msr - mse, msr + (k - 1) * mse + k * (msc - mse) / n),
        "ICC2k": ratio(msr - mse, msr + (msc - mse) / n),
        "ICC3": ratio(msr - mse, msr + (k - 1) * mse),
        "ICC3k": ratio(msr - mse, msr),
    }


def icc_oneway(units, values):
    """ICC1 and ICC1k from a one-way ANOVA when raters are not crossed with items.

    For unequal numbers of ratings per item the "k" in the formulas is
    k0 = (N - sum n_i^2 / N) / (a - 1) (the usual unbalanced one-way ANOVA coefficient,
    e.g. Snedecor & Cochran); with equal n_i it is just n_i. Items with one rating are dropped.
    """
    frame = pd.DataFrame({"u": np.asarray(units, dtype=object), "v": np.asarray(values, dtype=float)}).dropna()
    size = frame.groupby("u")["v"].transform("size")
    frame = frame[size >= 2]
    out = {key: None for key in ICC_KEYS}
    if frame["u"].nunique() < 2:
        return out
    g = frame.groupby("u")["v"]
    n_i = g.size().to_numpy(dtype=float)
    means = g.mean().to_numpy()
    a, n_total = len(n_i), n_i.sum()
    grand = frame["v"].mean()
    msb = (n_i * (means - grand) ** 2).sum() / (a - 1)
    msw = ((frame["v"] - g.transform("mean")) ** 2).sum() / (n_total - a)
    k0 = (n_total - (n_i ** 2).sum() / n_total) / (a - 1)
    if msb + (k0 - 1) * msw != 0:
        out["ICC1"] = num((msb - msw) / (msb + (k0 - 1) * msw))
    if msb != 0:
        out["ICC1k"] = num((msb - msw) / msb)
    return out


def icc_long(units, raters, values):
    """ICCs from long data. Returns ``(icc dict, design)``.

    design "two-way": every rater rated every item (duplicates averaged), all six ICCs;
    "one-way": raters not crossed with items, only ICC1 / ICC1k (ICC2/3 need a crossed design).
    """
    frame = pd.DataFrame({"u": np.asarray(units, dtype=object), "r": np.asarray(raters, dtype=object),
                          "v": np.asarray(values, dtype=float)}).dropna(subset=["v"])
    if frame.empty:
        return {key: None for key in ICC_KEYS}, None
    u, ukeys = pd.factorize(frame["u"])
    r, rkeys = pd.factorize(frame["r"])
    n_cells = len(pd.unique(u * len(rkeys) + r))
    if len(rkeys) >= 2 and n_cells == len(ukeys) * len(rkeys):
        flat = u * len(rkeys) + r
        sums = np.bincount(flat, weights=frame["v"].to_numpy(), minlength=n_cells)
        cnt = np.bincount(flat, minlength=n_cells)
        return icc_shrout_fleiss((sums / cnt).reshape(len(ukeys), len(rkeys))), "two-way"
    return icc_oneway(frame["u"], frame["v"]), "one-way"


# --------------------------------------------------------------------------------------------
# DataFrame level
# --------------------------------------------------------------------------------------------

def pairwise_codes(pj: pd.DataFrame) -> np.ndarray:
    """Nominal code per judgment: a -> 0, tie -> 1, b -> 2 (NaN for anything else)."""
    return map_values(pj["choice"], CHOICE_CODES)


def pairwise_seven_point(pj: pd.DataFrame) -> np.ndarray:
    """The 7-point ordinal scale A-strong (-3) .. tie (0) .. B-strong (+3); NaN without strength."""
    sign = map_values(pj["choice"], {"a": -1.0, "tie": 0.0, "b": 1.0})
    strength = pd.to_numeric(pj["strength"], errors="coerce").to_numpy(dtype=float) if "strength" in pj else np.full(len(pj), np.nan)
    return np.where(sign == 0, 0.0, sign * strength)


def _summary(units, raters, nominal, levels_values, primary, n_boot, seed):
    """Fields shared by the pairwise and rating agreement records."""
    counts, domain, _ = value_counts(units, nominal)
    alpha, boots = {}, {}
    for level, (vals, lvls) in levels_values.items():
        c, d, _ = (counts, domain, None) if vals is nominal else value_counts(units, vals)
        for lv in lvls:
            alpha[lv] = alpha_from_counts(c, d, lv)
        for lv, ci in alpha_bootstrap(c, d, lvls, n_boot=n_boot, seed=seed).items():
            boots[lv] = pair(*ci)
    fk, fk_reason = fleiss_kappa(counts)
    ck, ck_pairs = mean_pairwise_cohen_kappa(units, raters, nominal)
    m = counts.sum(axis=1)
    return {
        "alpha": alpha,
        "alpha_ci95": boots.get(primary),
        "alpha_ci95_level": primary,
        "alpha_ci95_by_level": boots,
        "fleiss_kappa": num(fk),
        "fleiss_kappa_note": fk_reason,
        "cohen_kappa_mean": num(ck),
        "cohen_kappa_pairs": ck_pairs,
        "percent_agreement": num(percent_agreement(counts)),
        "n_items": int(len(m)),
        "n_pairable_items": int((m >= 2).sum()),
        "n_raters": int(pd.Series(np.asarray(raters, dtype=object)).nunique()),
        "n_judgments": int(m.sum()),
    }


def pairwise_agreement(pj: pd.DataFrame, *, n_boot: int = 1000, seed: int = 0) -> dict:
    """Agreement record fields for one group of pairwise judgments (one panel, one criterion).

    alpha.nominal on A / B / tie; alpha.ordinal on the 7-point scale A-strong .. tie .. B-strong
    when every non-tie judgment has a strength, else on the 3-point scale A < tie < B
    (``ordinal_scale`` says which); alpha.interval is None. Kappas and percent agreement use
    A / B / tie. ``alpha_ci95`` is the bootstrap interval of the nominal alpha.
    """
    nominal = pairwise_codes(pj)
    seven = pairwise_seven_point(pj)
    has_strength = bool(len(pj)) and not np.isnan(seven[~np.isnan(nominal)]).any() and bool((seven != 0).any())
    ordinal_values = seven if has_strength else nominal
    out = _summary(pj["item"].to_numpy(), pj["rater"].to_numpy(), nominal,
                   {"nominal": (nominal, ("nominal",)), "ordinal": (ordinal_values, ("ordinal",))},
                   "nominal", n_boot, seed)
    out["alpha"]["interval"] = None
    out["ordinal_scale"] = "7-point" if has_strength else "3-point"
    out["icc"] = None
    out["icc_design"] = None
    return out


def rating_agreement(rj: pd.DataFrame, *, n_boot: int = 1000, seed: int = 0) -> dict:
    """Agreement record fields for one group of ratings (one panel, one criterion).

    alpha at nominal / ordinal / interval level on the rating values, kappas and percent
    agreement treating each value as a category, and the ICCs (see ``icc_long``).
    ``alpha_ci95`` is the bootstrap interval of the interval alpha.
    """
    values = pd.to_numeric(rj["value"], errors="coerce").to_numpy(dtype=float)
    out = _summary(rj["item"].to_numpy(), rj["rater"].to_numpy(), values,
                   {"all": (values, ("nominal", "ordinal", "interval"))}, "interval", n_boot, seed)
    out["ordinal_scale"] = None
    icc, design = icc_long(rj["item"].to_numpy(), rj["rater"].to_numpy(), values)
    out["icc"] = icc
    out["icc_design"] = design
    return out


def item_majorities(df: pd.DataFrame, labels) -> pd.DataFrame:
    """Plurality label per (panel, criterion, item); items without a single top label dropped.

    Returns columns panel, criterion, item, label, n (judgments on the item).
    """
    labels = np.asarray(labels, dtype=float)
    ok = ~np.isnan(labels)
    frame = df.loc[ok, ["panel", "criterion", "item"]].copy()
    frame["label"] = labels[ok]
    if frame.empty:
        return pd.DataFrame(columns=["panel", "criterion", "item", "label", "n"])
    counts = frame.groupby(["panel", "criterion", "item", "label"], sort=False).size().unstack("label", fill_value=0)
    lab, defined = plurality(counts.to_numpy())
    out = counts.index.to_frame(index=False)
    out["label"] = counts.columns.to_numpy(dtype=float)[lab]
    out["n"] = counts.to_numpy().sum(axis=1)
    return out[defined].reset_index(drop=True)


def panel_majority_agreement(df: pd.DataFrame, labels, *, means=None) -> list[dict]:
    """Expert vs crowd (every pair of panels), per criterion.

    For items judged by both panels: each panel's plurality label (items where either panel has
    no single top label are left out), Krippendorff's nominal alpha between the two panels'
    labels (two "coders"), and the share of items where the labels agree. With ``means``
    (ratings), also the interval alpha between the panels' mean ratings.
    """
    maj = item_majorities(df, labels)
    records = []
    panels = sorted(df["panel"].dropna().unique().tolist()) if len(df) else []
    for criterion in (sorted(df["criterion"].unique().tolist()) if len(df) else []):
        m = maj[maj["criterion"] == criterion].pivot_table(index="item", columns="panel", values="label", aggfunc="first")
        if means is not None:
            sub = df[df["criterion"] == criterion].assign(_v=np.asarray(means, dtype=float)[(df["criterion"] == criterion).to_numpy()])
            mean_tab = sub.groupby(["item", "panel"])["_v"].mean().unstack("panel")
        for p1, p2 in itertools.combinations(panels, 2):
            rec = {"criterion": criterion, "panel_a": p1, "panel_b": p2, "n_items": 0,
                   "alpha_nominal": None, "majority_agreement": None}
            if p1 in m and p2 in m:
                both = m[[p1, p2]].dropna()
                rec["n_items"] = int(len(both))
                if len(both):
                    rec["majority_agreement"] = float((both[p1] == both[p2]).mean())
                    units = np.repeat(both.index.to_numpy(), 2)
                    rec["alpha_nominal"] = alpha_from_counts(*value_counts(units, both.to_numpy().ravel())[:2], "nominal")
            if means is not None:
                rec["alpha_interval_means"] = None
                rec["n_items_means"] = 0
                if p1 in mean_tab and p2 in mean_tab:
                    both = mean_tab[[p1, p2]].dropna()
                    rec["n_items_means"] = int(len(both))
                    if len(both):
                        units = np.repeat(both.index.to_numpy(), 2)
                        rec["alpha_interval_means"] = alpha_from_counts(*value_counts(units, both.to_numpy().ravel())[:2], "interval")
            records.append(rec)
    return records


def rater_quality(df: pd.DataFrame, labels, *, task: str = "pairwise") -> list[dict]:
    """One record per (panel, rater), computed on all of the rater's judgments.

    agreement_with_majority: share of the rater's non-attention-check judgments that match the
    plurality label of the *other* raters of the same panel on the same item and criterion
    (leave-one-out; flagged raters and attention checks never count in the reference; items
    where the others have no single top label are skipped; ``n_compared`` says how many counted).
    attention_pass_rate over the rater's attention checks; median_seconds over all judgments.
    Pairwise: left_share = share of non-tie judgments won by the left side.
    Ratings: mean_abs_diff_from_others = mean |value - mean of the other raters' values|.
    """
    if df.empty:
        return []
    labels = np.asarray(labels, dtype=float)
    att = df["attention_check"].fillna(False).astype(bool).to_numpy()
    flagged = df["rater_flagged"].fillna(False).astype(bool).to_numpy()
    reference = ~att & ~flagged & ~np.isnan(labels)
    key, _ = pd.factorize(pd.MultiIndex.from_arrays([df["panel"], df["criterion"], df["item"]]))
    lab_codes, lab_domain = pd.factorize(labels)  # NaN -> -1
    n_lab = max(len(lab_domain), 1)
    n_keys = key.max() + 1
    if n_lab > 50:
        # continuous values: "the same value as the others" means little; the rating-specific
        # mean_abs_diff_from_others below is the useful figure then.
        lab_codes = np.where(lab_codes >= 0, 0, -1)
        n_lab = 1
        labels_exact = False
    else:
        labels_exact = True
    ref_counts = np.bincount(key[reference] * n_lab + lab_codes[reference],
                             minlength=n_keys * n_lab).reshape(n_keys, n_lab)
    scored = ~att & ~np.isnan(labels)
    others = ref_counts[key[scored]].copy()
    own_in_ref = reference[scored]
    rows = np.nonzero(own_in_ref)[0]
    others[rows, lab_codes[scored][rows]] -= 1
    top, defined = plurality(others)
    agree = np.full(len(df), np.nan)
    agree_scored = np.where(defined, (top == lab_codes[scored]).astype(float), np.nan)
    agree[scored] = agree_scored if labels_exact else np.nan

    frame = pd.DataFrame({
        "panel": df["panel"].to_numpy(), "rater": df["rater"].to_numpy(), "agree": agree,
        "att": att, "passed": pd.to_numeric(df["attention_passed"], errors="coerce").to_numpy(dtype=float),
        "seconds": pd.to_numeric(df["seconds"], errors="coerce").to_numpy(dtype=float), "flagged": flagged,
    })
    frame.loc[~frame["att"], "passed"] = np.nan
    if task == "pairwise":
        choice = df["choice"].to_numpy()
        left_is_a = df["left_is_a"].fillna(True).astype(bool).to_numpy()
        nontie = (choice != "tie") & ~att
        frame["left"] = np.where(nontie, ((choice == "a") == left_is_a).astype(float), np.nan)
    else:
        values = labels
        ref_sum = np.bincount(key[reference], weights=values[reference], minlength=n_keys)
        ref_n = np.bincount(key[reference], minlength=n_keys).astype(float)
        o_sum = ref_sum[key] - np.where(reference, values, 0.0)
        o_n = ref_n[key] - reference
        with np.errstate(invalid="ignore", divide="ignore"):
            diff = np.abs(values - o_sum / o_n)
        frame["absdiff"] = np.where(scored & (o_n > 0), diff, np.nan)
    g = frame.groupby(["panel", "rater"], sort=True)
    agg = pd.DataFrame({
        "n_judgments": g.size(),
        "n_attention_checks": g["att"].sum(),
        "attention_pass_rate": g["passed"].mean(),
        "agreement_with_majority": g["agree"].mean(),
        "n_compared": g["agree"].count(),
        "median_seconds": g["seconds"].median(),
        "flagged": g["flagged"].any(),
    })
    if task == "pairwise":
        agg["left_share"] = g["left"].mean()
    else:
        agg["mean_abs_diff_from_others"] = g["absdiff"].mean()
    agg = agg.reset_index()
    records = []
    for row in agg.itertuples(index=False):
        rec = row._asdict()
        for k in ("n_judgments", "n_attention_checks", "n_compared"):
            rec[k] = int(rec[k])
        rec["flagged"] = bool(rec["flagged"])
        for k in ("attention_pass_rate", "agreement_with_majority", "median_seconds", "left_share",
                  "mean_abs_diff_from_others"):
            if k in rec:
                rec[k] = num(rec[k])
        records.append(rec)
    return records


def position_bias(pj: pd.DataFrame) -> dict:
    """Share of non-tie judgments won by the candidate shown on the left.

    Returns n (non-tie judgments), left_wins, left_share, ci95 (Wilson), p_value (two-sided
    exact binomial test against 0.5, ``scipy.stats.binomtest``).
    """
    choice = pj["choice"].to_numpy()
    nontie = (choice == "a") | (choice == "b")
    left_is_a = pj["left_is_a"].fillna(True).astype(bool).to_numpy()
    n = int(nontie.sum())
    wins = int(((choice == "a") == left_is_a)[nontie].sum())
    if n == 0:
        return {"n": 0, "left_wins": 0, "left_share": None, "ci95": None, "p_value": None}
    lo, hi = wilson_interval(wins, n)
    return {"n": n, "left_wins": wins, "left_share": wins / n, "ci95": pair(lo, hi),
            "p_value": num(stats.binomtest(wins, n, 0.5).pvalue)}
