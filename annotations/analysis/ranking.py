"""Rankings of conditions (and candidates) from pairwise judgments or ratings.

Conventions: a tie counts as half a win for each side; Bradley-Terry strengths are natural-log
abilities theta with P(i beats j) = exp(theta_i) / (exp(theta_i) + exp(theta_j)), centred to mean 0.
Comparisons of a condition with itself carry no information about conditions and are skipped
for condition-level results (they still count for candidates).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse, stats
from scipy.sparse import csgraph
from scipy.sparse.linalg import spsolve

from ._common import map_values, num, pair, pattern_bootstrap_counts, percentile_ci, wilson_interval

# Light prior used when the plain maximum-likelihood estimate does not exist, in "virtual
# games": every competitor also plays `prior` games against a fixed opponent of strength 0 and
# draws them (half a win, half a loss). See bt_fit.
DEFAULT_PRIOR = 1.0
# Guard for bootstrap replicates that lose the connectivity of the full data: so small that it
# moves well-determined strengths by far less than their rounding.
BOOTSTRAP_GUARD = 1e-3


# --------------------------------------------------------------------------------------------
# Bradley-Terry on an aggregated win matrix
# --------------------------------------------------------------------------------------------

def bt_mle_exists(wins) -> bool:
    """True when the Bradley-Terry MLE is finite: the "beat at least partly" digraph is strongly
    connected (Zermelo 1929; Ford 1957). A tie counts as a partial win both ways."""
    wins = np.asarray(wins, dtype=float)
    if wins.shape[0] < 2:
        return False
    n_comp, _ = csgraph.connected_components(sparse.csr_matrix(wins > 0), directed=True, connection="strong")
    return n_comp == 1


def bt_fit(wins, *, prior: float = 0.0, max_iter: int = 100, tol: float = 1e-10):
    """Bradley-Terry log-strengths from win matrices, by Newton's method, batched.

    ``wins``: (C, C) or (B, C, C); wins[i, j] = (fractional) wins of i over j, ties already
    split half/half. Returns theta of shape (C,) or (B, C), centred to mean 0 per batch.

    Written here (no maintained Python package fits BT for a whole batch of bootstrap matrices
    at once). The log-likelihood sum_ij w_ij log sigma(theta_i - theta_j) is concave; its
    gradient is g_i = W_i - sum_j n_ij p_ij and the negative Hessian is the weighted graph
    Laplacian L with weights n_ij p_ij (1 - p_ij) (Hunter 2004, Ann. Statist. 32:384, sec. 3;
    Agresti, Categorical Data Analysis, sec. 10.6). L is singular along the all-ones direction
    (strengths are identified up to a constant), so with prior 0 we solve (L + 11'/C) d = g,
    whose solution has mean 0 because g sums to 0. With prior > 0 each competitor also draws
    ``prior`` games against a fixed opponent of strength 0, which adds prior*(1/2 - sigma(theta_i))
    to g_i and prior*sigma(1-sigma) to L_ii, keeps every estimate finite and pulls it toward 0.
    Steps are capped at 5 log units so a far start cannot overshoot.
    """
    w = np.asarray(wins, dtype=float)
    single = w.ndim == 2
    if single:
        w = w[None]
    n_batch, n_cond, _ = w.shape
    theta = np.zeros((n_batch, n_cond))
    if n_cond < 2:
        return theta[0] if single else theta
    games = w + np.swapaxes(w, 1, 2)
    total_wins = w.sum(axis=2)
    eye = np.eye(n_cond)
    ones = np.full((n_cond, n_cond), 1.0 / n_cond)
    active = np.ones(n_batch, dtype=bool)
    for _ in range(max_iter):
        t = theta[active]
        p = 1.0 / (1.0 + np.exp(-(t[:, :, None] - t[:, None, :])))  # (b, C, C) P(i beats j)
        g = total_wins[active] - (games[active] * p).sum(axis=2)
        h = games[active] * p * (1.0 - p)
        lap = eye * h.sum(axis=2)[:, :, None] - h
        if prior > 0:
            s = 1.0 / (1.0 + np.exp(-t))
            g = g + prior * (0.5 - s)
            lap = lap + eye * (prior * s * (1 - s))[:, :, None]
        else:
            lap = lap + ones
        step = np.linalg.solve(lap, g[..., None])[..., 0]
        step = np.clip(step, -5.0, 5.0)
        theta[active] = t + step
        done = np.abs(step).max(axis=1) < tol
        idx = np.nonzero(active)[0]
        active[idx[done]] = False
        if not active.any():
            break
    theta -= theta.mean(axis=1, keepdims=True)
    return theta[0] if single else theta


def bt_fit_sparse(i, j, w_ij, w_ji, n_items: int, *, prior: float = DEFAULT_PRIOR, max_iter: int = 100, tol: float = 1e-8):
    """Bradley-Terry for many competitors (candidates) with a sparse comparison graph.

    ``i, j``: competitor indices of each compared pair; ``w_ij`` / ``w_ji``: wins of i over j
    and of j over i (ties split half/half). Same Newton iteration as ``bt_fit`` with the
    Laplacian as a sparse matrix. ``prior`` (default 1 virtual drawn game against a strength-0
    opponent per competitor) is what keeps a candidate that won (or lost) every comparison
    finite, and links briefs that are never compared with each other onto one scale; it
    shrinks every strength a little toward 0. Returns theta (n_items,), centred to mean 0.
    """
    i = np.asarray(i, dtype=np.int64)
    j = np.asarray(j, dtype=np.int64)
    w_ij = np.asarray(w_ij, dtype=float)
    w_ji = np.asarray(w_ji, dtype=float)
    n = w_ij + w_ji
    theta = np.zeros(n_items)
    if n_items == 0:
        return theta
    if prior <= 0:
        raise ValueError("bt_fit_sparse needs prior > 0 (a sparse comparison graph is rarely strongly connected)")
    wins = np.bincount(i, weights=w_ij, minlength=n_items) + np.bincount(j, weights=w_ji, minlength=n_items)
    for _ in range(max_iter):
        p = 1.0 / (1.0 + np.exp(-(theta[i] - theta[j])))
        expected = np.bincount(i, weights=n * p, minlength=n_items) + np.bincount(j, weights=n * (1 - p), minlength=n_items)
        s = 1.0 / (1.0 + np.exp(-theta))
        g = wins - expected + prior * (0.5 - s)
        h = n * p * (1 - p)
        diag = np.bincount(i, weights=h, minlength=n_items) + np.bincount(j, weights=h, minlength=n_items) + prior * s * (1 - s)
        lap = sparse.coo_matrix((np.concatenate([-h, -h, diag]),
                                 (np.concatenate([i, j, np.arange(n_items)]), np.concatenate([j, i, np.arange(n_items)]))),
                                shape=(n_items, n_items)).tocsc()
        step = np.clip(spsolve(lap, g), -5.0, 5.0)
        theta += step
        if np.abs(step).max() < tol:
            break
    return theta - theta.mean()


# --------------------------------------------------------------------------------------------
# DataFrame level
# --------------------------------------------------------------------------------------------

def _outcomes(pj: pd.DataFrame):
    """(score of A: 1 / 0.5 / 0, valid mask) per judgment."""
    score_a = map_values(pj["choice"], {"a": 1.0, "tie": 0.5, "b": 0.0})
    return score_a, ~np.isnan(score_a)


def condition_index(pj: pd.DataFrame, conditions=None):
    """Sorted condition names: the given ones, else those appearing in cond_a / cond_b."""
    if conditions is not None:
        return list(conditions)
    return sorted(set(pj["cond_a"].dropna()) | set(pj["cond_b"].dropna()))


def win_matrix(pj: pd.DataFrame, conditions=None):
    """Aggregated (C, C) matrices: ``wins[i, j]`` = wins of i over j with ties as half,
    ``games[i, j]`` = judgments between i and j, ``ties[i, j]``. Same-condition pairs skipped."""
    conds = condition_index(pj, conditions)
    pos = {c: k for k, c in enumerate(conds)}
    n_cond = len(conds)
    score_a, ok = _outcomes(pj)
    a = map_values(pj["cond_a"], pos)
    b = map_values(pj["cond_b"], pos)
    ok &= ~np.isnan(a) & ~np.isnan(b) & (a != b)
    a, b, s = a[ok].astype(int), b[ok].astype(int), score_a[ok]
    flat = n_cond * n_cond
    wins = (np.bincount(a * n_cond + b, weights=s, minlength=flat)
            + np.bincount(b * n_cond + a, weights=1 - s, minlength=flat)).reshape(n_cond, n_cond)
    games = (np.bincount(a * n_cond + b, minlength=flat) + np.bincount(b * n_cond + a, minlength=flat)).reshape(n_cond, n_cond)
    tie = s == 0.5
    ties = (np.bincount(a[tie] * n_cond + b[tie], minlength=flat) + np.bincount(b[tie] * n_cond + a[tie], minlength=flat)).reshape(n_cond, n_cond)
    return conds, wins, games.astype(float), ties.astype(float)


def condition_matrix(pj: pd.DataFrame, conditions=None) -> list[dict]:
    """Pairwise condition records: condition vs opponent, wins (ties half), ties, n, win_rate."""
    conds, wins, games, ties = win_matrix(pj, conditions)
    out = []
    for x, cx in enumerate(conds):
        for y, cy in enumerate(conds):
            if x == y or games[x, y] == 0:
                continue
            out.append({"condition": cx, "opponent": cy, "wins": float(wins[x, y]), "ties": int(ties[x, y]),
                        "n": int(games[x, y]), "win_rate": float(wins[x, y] / games[x, y])})
    return out


def win_rates(pj: pd.DataFrame, conditions=None) -> pd.DataFrame:
    """Per condition: wins (ties half) / judgments against other conditions, Wilson 95% interval.

    Returns columns condition, wins, n, win_rate, win_rate_lo, win_rate_hi.
    """
    conds, wins, games, _ = win_matrix(pj, conditions)
    w, n = wins.sum(axis=1), games.sum(axis=1)
    lo, hi = wilson_interval(w, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(n > 0, w / np.where(n > 0, n, 1), np.nan)
    return pd.DataFrame({"condition": conds, "wins": w, "n": n.astype(int), "win_rate": rate,
                         "win_rate_lo": lo, "win_rate_hi": hi})


def bt_conditions(pj: pd.DataFrame, conditions=None, *, n_boot: int = 1000, seed: int = 0, ci: float = 0.95) -> pd.DataFrame:
    """Bradley-Terry strengths of conditions with a bootstrap interval.

    Point estimate: the maximum-likelihood fit (``bt_fit``, prior 0) when it exists
    (``bt_mle_exists``); otherwise the lightly regularised fit (DEFAULT_PRIOR) and
    ``regularised`` is True. Conditions without any judgment get NaN.

    Bootstrap: resamples *items* (comparisons) with replacement, each with all of its
    judgments, so that several raters' judgments of one comparison move together. Items are
    summarised by their pattern (condition pair, number of A wins, B wins, ties); a resample is
    a multinomial draw over the distinct patterns (see ``_common.pattern_bootstrap_counts``),
    then all replicates are fitted at once by the batched Newton of ``bt_fit``. Replicates use at
    least the tiny BOOTSTRAP_GUARD prior so a replicate that happens to lose connectivity stays
    finite. Percentile interval. Returns columns condition, bt_strength, bt_lo, bt_hi, regularised.
    """
    conds, wins, games, _ = win_matrix(pj, conditions)
    n_cond = len(conds)
    present = games.sum(axis=1) > 0
    out = pd.DataFrame({"condition": conds, "bt_strength": np.nan, "bt_lo": np.nan, "bt_hi": np.nan,
                        "regularised": False})
    idx = np.nonzero(present)[0]
    if len(idx) < 2:
        if len(idx) == 1:
            out.loc[idx, "bt_strength"] = 0.0
        return out
    sub = wins[np.ix_(idx, idx)]
    exists = bt_mle_exists(sub)
    prior = 0.0 if exists else DEFAULT_PRIOR
    out.loc[idx, "bt_strength"] = bt_fit(sub, prior=prior)
    out["regularised"] = not exists
    if n_boot > 0:
        pattern_w, freq = _item_patterns(pj, conds)
        draws = pattern_bootstrap_counts(np.random.default_rng(seed), freq, n_boot)  # (B, P)
        boot_w = (draws.astype(float) @ pattern_w.reshape(len(freq), -1)).reshape(n_boot, n_cond, n_cond)
        theta = bt_fit(boot_w[:, idx][:, :, idx], prior=max(prior, BOOTSTRAP_GUARD))
        lo, hi = percentile_ci(theta, axis=0, level=ci)
        out.loc[idx, "bt_lo"] = lo
        out.loc[idx, "bt_hi"] = hi
    return out


def _item_patterns(pj: pd.DataFrame, conds):
    """Distinct item patterns and their frequencies for the item bootstrap.

    Returns (P, C, C) win contributions and (P,) frequencies.
    """
    pos = {c: k for k, c in enumerate(conds)}
    n_cond = len(conds)
    score_a, ok = _outcomes(pj)
    a = map_values(pj["cond_a"], pos)
    b = map_values(pj["cond_b"], pos)
    ok &= ~np.isnan(a) & ~np.isnan(b) & (a != b)
    frame = pd.DataFrame({"item": pj["item"].to_numpy()[ok], "a": a[ok].astype(int), "b": b[ok].astype(int),
                          "wa": (score_a[ok] == 1.0).astype(int), "wb": (score_a[ok] == 0.0).astype(int),
                          "t": (score_a[ok] == 0.5).astype(int)})
    if frame.empty:
        return np.zeros((0, n_cond, n_cond)), np.zeros(0)
    # an item is one comparison, so one (a, b) pair; group on it too in case of odd input
    per_item = frame.groupby(["item", "a", "b"], sort=False)[["wa", "wb", "t"]].sum().reset_index()
    patterns = per_item.groupby(["a", "b", "wa", "wb", "t"], sort=False).size().reset_index(name="freq")
    p = len(patterns)
    contrib = np.zeros((p, n_cond, n_cond))
    rows = np.arange(p)
    pa, pb = patterns["a"].to_numpy(), patterns["b"].to_numpy()
    half = 0.5 * patterns["t"].to_numpy()
    contrib[rows, pa, pb] = patterns["wa"].to_numpy() + half
    contrib[rows, pb, pa] = patterns["wb"].to_numpy() + half
    return contrib, patterns["freq"].to_numpy()


def bt_candidates(pj: pd.DataFrame, *, prior: float = DEFAULT_PRIOR) -> pd.DataFrame:
    """Per-candidate Bradley-Terry strengths (``bt_fit_sparse``; regularised by ``prior``).

    Returns columns candidate, brief, condition, bt_strength, n (judgments involving it).
    """
    score_a, ok = _outcomes(pj)
    frame = pj.loc[ok, ["cand_a", "cand_b"]]
    if frame.empty:
        return pd.DataFrame(columns=["candidate", "brief", "condition", "bt_strength", "n"])
    s = score_a[ok]
    codes, keys = pd.factorize(pd.concat([frame["cand_a"], frame["cand_b"]], ignore_index=True))
    i, j = codes[:len(frame)], codes[len(frame):]
    keep = i != j
    i, j, s = i[keep], j[keep], s[keep]
    # aggregate repeated pairs (several raters, several criteria) before fitting
    lo, hi = np.minimum(i, j), np.maximum(i, j)
    s_lo = np.where(i == lo, s, 1 - s)
    n_keys = len(keys)
    pair_key, pair_index = pd.factorize(lo * n_keys + hi)
    w_lo = np.bincount(pair_key, weights=s_lo)
    w_hi = np.bincount(pair_key, weights=1 - s_lo)
    pi, pj_ = pair_index // n_keys, pair_index % n_keys
    theta = bt_fit_sparse(pi, pj_, w_lo, w_hi, n_keys, prior=prior)
    n = np.bincount(i, minlength=n_keys) + np.bincount(j, minlength=n_keys)
    meta = pd.concat([
        pj.loc[ok, ["cand_a", "brief", "cond_a"]].set_axis(["candidate", "brief", "condition"], axis=1),
        pj.loc[ok, ["cand_b", "brief", "cond_b"]].set_axis(["candidate", "brief", "condition"], axis=1),
    ]).drop_duplicates("candidate").set_index("candidate")
    out = pd.DataFrame({"candidate": np.asarray(keys), "bt_strength": theta, "n": n})
    out["brief"] = meta["brief"].reindex(out["candidate"]).to_numpy()
    out["condition"] = meta["condition"].reindex(out["candidate"]).to_numpy()
    return out[["candidate", "brief", "condition", "bt_strength", "n"]]


def rating_means(rj: pd.DataFrame, conditions=None, *, ci: float = 0.95) -> pd.DataFrame:
    """Mean rating per condition with a t interval.

    Each candidate (item) is one observation, its mean rating, so the interval accounts for
    several raters rating the same candidate. ``mean_rating`` is the mean of candidate means
    (equal to the plain mean when every candidate has the same number of ratings).
    Returns columns condition, mean_rating, lo, hi, n (ratings), n_items.
    """
    conds = list(conditions) if conditions is not None else sorted(rj["condition"].dropna().unique())
    vals = pd.to_numeric(rj["value"], errors="coerce")
    frame = pd.DataFrame({"condition": rj["condition"].to_numpy(), "item": rj["item"].to_numpy(), "v": vals.to_numpy()}).dropna()
    per_item = frame.groupby(["condition", "item"])["v"].mean().reset_index()
    g = per_item.groupby("condition")["v"]
    res = pd.DataFrame({"mean_rating": g.mean(), "sd": g.std(ddof=1), "n_items": g.size()})
    res["n"] = frame.groupby("condition").size()
    res = res.reindex(conds)
    tcrit = stats.t.ppf(0.5 + ci / 2, np.maximum(res["n_items"].fillna(0).to_numpy() - 1, 1))
    half = tcrit * res["sd"].to_numpy() / np.sqrt(res["n_items"].to_numpy(dtype=float))
    res["lo"] = res["mean_rating"] - half
    res["hi"] = res["mean_rating"] + half
    res["n"] = res["n"].fillna(0).astype(int)
    res["n_items"] = res["n_items"].fillna(0).astype(int)
    return res.reset_index(names="condition")[["condition", "mean_rating", "lo", "hi", "n", "n_items"]]


def ranking_records(*, task: str, df: pd.DataFrame, conditions=None, n_boot: int = 1000, seed: int = 0) -> list[dict]:
    """Ranking records (without panel / criterion) for one group of judgments."""
    records = []
    if task == "pairwise":
        wr = win_rates(df, conditions)
        bt = bt_conditions(df, conditions, n_boot=n_boot, seed=seed)
        for w, b in zip(wr.itertuples(index=False), bt.itertuples(index=False)):
            records.append({
                "condition": w.condition, "bt_strength": num(b.bt_strength), "bt_ci95": pair(b.bt_lo, b.bt_hi),
                "bt_regularised": bool(b.regularised), "win_rate": num(w.win_rate),
                "win_rate_ci95": pair(w.win_rate_lo, w.win_rate_hi), "mean_rating": None,
                "mean_rating_ci95": None, "n": int(w.n),
            })
    else:
        rm = rating_means(df, conditions)
        for r in rm.itertuples(index=False):
            records.append({
                "condition": r.condition, "bt_strength": None, "bt_ci95": None, "bt_regularised": None,
                "win_rate": None, "win_rate_ci95": None, "mean_rating": num(r.mean_rating),
                "mean_rating_ci95": pair(r.lo, r.hi), "n": int(r.n), "n_items": int(r.n_items),
            })
    return records
