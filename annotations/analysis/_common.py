"""Small helpers shared by the analysis modules."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from scipy import stats

Z95 = float(stats.norm.ppf(0.975))


def wilson_interval(successes, n, z: float = Z95):
    """Wilson (1927) score interval for a proportion, vectorised.

    Written out rather than taken from ``scipy.stats.binomtest(...).proportion_ci('wilson')``
    because win rates count a tie as half a win, so ``successes`` may be fractional, which
    binomtest does not accept; for integer counts the two agree (see the tests).
    Returns ``(low, high)`` arrays (NaN where ``n == 0``).
    """
    k = np.asarray(successes, dtype=float)
    n = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denom = 1.0 + z * z / n
        centre = (p + z * z / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    low = np.where(n > 0, np.clip(centre - half, 0.0, 1.0), np.nan)
    high = np.where(n > 0, np.clip(centre + half, 0.0, 1.0), np.nan)
    return low, high


def percentile_ci(samples, axis: int = 0, level: float = 0.95):
    """Percentile bootstrap interval, ignoring NaN replicates. Returns ``(low, high)``."""
    samples = np.asarray(samples, dtype=float)
    tail = (1 - level) / 2 * 100
    with warnings.catch_warnings():
        # all-NaN slices (a statistic undefined in every replicate) give NaN, quietly
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, hi = np.nanpercentile(samples, [tail, 100 - tail], axis=axis)
    return lo, hi


def bootstrap_counts(rng: np.random.Generator, n: int, n_boot: int) -> np.ndarray:
    """How often each of ``n`` units is drawn in each of ``n_boot`` resamples: (n_boot, n) int.

    Drawing ``n`` indices with replacement per round and counting them; the statistics using
    this are weighted sums, so counts are all they need.
    """
    if n == 0:
        return np.zeros((n_boot, 0), dtype=np.int64)
    out = np.empty((n_boot, n), dtype=np.int64)
    chunk = max(1, 2_000_000 // n)
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        idx = rng.integers(0, n, size=(b, n)) + (np.arange(b) * n)[:, None]
        out[start:start + b] = np.bincount(idx.ravel(), minlength=b * n).reshape(b, n)
    return out


def pattern_bootstrap_counts(rng: np.random.Generator, pattern_freq: np.ndarray, n_boot: int) -> np.ndarray:
    """Resample units when many units are identical.

    ``pattern_freq[p]`` is how many units share pattern ``p``. Drawing N units with replacement
    and counting how many of each pattern were drawn is one multinomial draw with probabilities
    ``freq / N``, so the cost depends on the number of distinct patterns, not on N.
    Returns (n_boot, P) counts.
    """
    freq = np.asarray(pattern_freq, dtype=float)
    total = int(freq.sum())
    if total == 0:
        return np.zeros((n_boot, len(freq)), dtype=np.int64)
    return rng.multinomial(total, freq / total, size=n_boot)


def plurality(counts: np.ndarray):
    """Plurality label per row of a (N, V) count matrix.

    Returns ``(label_index, defined)``: ``defined`` is False where no value was given or the
    top count is shared by two or more values (no single majority).
    """
    counts = np.asarray(counts)
    if counts.shape[0] == 0:
        return np.zeros(0, dtype=int), np.zeros(0, dtype=bool)
    top = counts.max(axis=1)
    label = counts.argmax(axis=1)
    defined = (top > 0) & ((counts == top[:, None]).sum(axis=1) == 1)
    return label, defined


def excluded_mask(df: pd.DataFrame) -> np.ndarray:
    """True for judgments left out of aggregates: attention checks and flagged raters."""
    att = df["attention_check"].fillna(False).astype(bool).to_numpy() if "attention_check" in df else False
    flag = df["rater_flagged"].fillna(False).astype(bool).to_numpy() if "rater_flagged" in df else False
    return np.asarray(att | flag, dtype=bool) if len(df) else np.zeros(0, dtype=bool)


def num(x):
    """A float for JSON, or None for missing / non-finite values."""
    if x is None:
        return None
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def pair(lo, hi):
    lo, hi = num(lo), num(hi)
    return None if lo is None or hi is None else [lo, hi]


def to_json(obj):
    """Recursively turn numpy / pandas values into JSON-safe Python (NaN and inf -> None)."""
    if isinstance(obj, dict):
        return {str(k): to_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_json(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [to_json(v) for v in obj.tolist()]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return num(obj)
    if obj is None or isinstance(obj, str):
        return obj
    if obj is pd.NA or obj is pd.NaT:
        return None
    return str(obj)


def map_values(values, mapping: dict, default=np.nan) -> np.ndarray:
    """``[mapping.get(v, default) for v in values]`` as a float array, via factorize.

    Much faster than ``Series.map`` on string columns: only the distinct values are looked up.
    """
    codes, uniques = pd.factorize(np.asarray(values, dtype=object) if not isinstance(values, pd.Series) else values)
    lookup = np.array([mapping.get(u, default) for u in uniques] + [default], dtype=float)
    return lookup[codes]  # code -1 (missing) picks the trailing default
