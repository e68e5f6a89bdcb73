"""Report figures with matplotlib (Agg backend), returned as PNG or SVG bytes.

Every function takes the report dict of ``report.build_report`` (or plain arrays for the
scatter) and ``fmt="png" | "svg"``. Figures are closed after rendering, so a long-lived web
process does not accumulate them.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

FORMATS = ("png", "svg")


def _render(fig: Figure, fmt: str) -> bytes:
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}, not {fmt!r}")
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format=fmt, dpi=120, bbox_inches="tight")
    finally:
        plt.close(fig)
    return buf.getvalue()


def _empty(message: str, fmt: str) -> bytes:
    fig, ax = plt.subplots(figsize=(5, 1.5))
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center")
    return _render(fig, fmt)


def _criteria(report, records):
    order = list(report.get("criteria") or [])
    extra = sorted({r["criterion"] for r in records} - set(order))
    return [c for c in order + extra if any(r["criterion"] == c for r in records)]


def ranking_plot(report: dict, *, panel: str = "all", fmt: str = "png") -> bytes:
    """Bradley-Terry strengths with 95% intervals (pairwise) or mean ratings with 95% intervals
    (rating studies), one panel of the figure per criterion."""
    recs = [r for r in report.get("ranking", []) if r["panel"] == panel]
    rating = report.get("task") == "rating"
    key, ci_key = ("mean_rating", "mean_rating_ci95") if rating else ("bt_strength", "bt_ci95")
    recs = [r for r in recs if r.get(key) is not None]
    criteria = _criteria(report, recs)
    if not criteria:
        return _empty("no ranking yet", fmt)
    fig, axes = plt.subplots(1, len(criteria), figsize=(3.2 * len(criteria) + 1, 0.45 * _n_conditions(recs) + 1.6),
                             sharey=True, squeeze=False)
    conds = sorted({r["condition"] for r in recs})
    for ax, criterion in zip(axes[0], criteria):
        by_cond = {r["condition"]: r for r in recs if r["criterion"] == criterion}
        for y, cond in enumerate(conds):
            r = by_cond.get(cond)
            if r is None:
                continue
            lo, hi = r.get(ci_key) or (r[key], r[key])
            ax.errorbar(r[key], y, xerr=[[r[key] - lo], [hi - r[key]]], fmt="o", color="C0", capsize=3)
        ax.set_yticks(range(len(conds)), conds)
        ax.set_title(criterion)
        if not rating:
            ax.axvline(0, color="0.7", lw=0.8)
        ax.set_xlabel("mean rating" if rating else "BT strength (log)")
    fig.suptitle(f"{'Mean ratings' if rating else 'Bradley-Terry strengths'} with 95% intervals ({panel})", y=1.04)
    return _render(fig, fmt)


def _n_conditions(recs):
    return max(1, len({r["condition"] for r in recs}))


def agreement_plot(report: dict, *, fmt: str = "png") -> bytes:
    """Krippendorff's alpha with its bootstrap interval, per criterion (x) and panel (bars)."""
    recs = [r for r in report.get("agreement", []) if (r.get("alpha") or {}).get(r.get("alpha_ci95_level") or "nominal") is not None]
    criteria = _criteria(report, recs)
    if not criteria:
        return _empty("no agreement figures yet", fmt)
    panels = ["all"] + [p for p in report.get("panels", []) if p != "all" and any(r["panel"] == p for r in recs)]
    if len(panels) == 2 and len(report.get("panels", [])) == 1:
        panels = ["all"]
    width = 0.8 / len(panels)
    fig, ax = plt.subplots(figsize=(1.4 * len(criteria) * max(1, len(panels) / 2) + 2, 3.5))
    for k, panel in enumerate(panels):
        xs, ys, errs = [], [], [[], []]
        for i, criterion in enumerate(criteria):
            r = next((r for r in recs if r["panel"] == panel and r["criterion"] == criterion), None)
            if r is None:
                continue
            level = r.get("alpha_ci95_level") or "nominal"
            val = r["alpha"][level]
            lo, hi = r.get("alpha_ci95") or (val, val)
            xs.append(i + (k - (len(panels) - 1) / 2) * width)
            ys.append(val)
            errs[0].append(max(val - lo, 0))
            errs[1].append(max(hi - val, 0))
        ax.bar(xs, ys, width=width, yerr=errs, capsize=3, label=panel)
    ax.set_xticks(range(len(criteria)), criteria, rotation=20)
    ax.axhline(0, color="0.5", lw=0.8)
    ax.axhline(0.667, color="0.7", lw=0.8, ls="--")
    ax.set_ylabel("Krippendorff's alpha")
    ax.legend(fontsize="small")
    ax.set_title("Agreement per criterion and panel (95% bootstrap intervals; dashed: 0.667)")
    return _render(fig, fmt)


def score_scatter(x, y, *, xlabel: str = "score", ylabel: str = "human", title: str | None = None,
                  fmt: str = "png") -> bytes:
    """Scatter of an automatic score against the human aggregate with the least-squares line."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(x) < 2:
        return _empty("not enough points", fmt)
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.scatter(x, y, s=12, alpha=0.6)
    if np.ptp(x) > 0:
        slope, intercept = np.polyfit(x, y, 1)
        xs = np.linspace(x.min(), x.max(), 50)
        ax.plot(xs, intercept + slope * xs, color="C3", lw=1.5)
        r = np.corrcoef(x, y)[0, 1] if np.ptp(y) > 0 else np.nan
        ax.text(0.02, 0.97, f"n = {len(x)}, r = {r:.2f}", transform=ax.transAxes, va="top")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    return _render(fig, fmt)


def score_scatter_from_report(report: dict, scores, *, score: str, panel: str = "all", criterion: str,
                              conditions=None, granularity: str = "item", fmt: str = "png") -> bytes:
    """Score-vs-human scatter using the report's ``candidates`` (``include_candidates=True``)
    and the ``scores`` DataFrame (candidate, brief, condition, name, value)."""
    import pandas as pd

    from .correlation import scatter_points

    cands = [c for c in report.get("candidates", []) if c["panel"] == panel and c["criterion"] == criterion]
    if not cands:
        return _empty("no per-candidate data: build the report with include_candidates=True", fmt)
    pts = scatter_points(pd.DataFrame(cands), scores, score, conditions, granularity)
    human = "mean rating" if report.get("task") == "rating" else "BT strength"
    return score_scatter(pts["x"], pts["y"], xlabel=score, ylabel=f"human ({human})",
                         title=f"{criterion} / {panel} ({granularity} level)", fmt=fmt)


def position_bias_plot(report: dict, *, fmt: str = "png") -> bytes:
    """Share of non-tie judgments won by the left side, with Wilson intervals, per panel and
    criterion; 0.5 marked."""
    recs = [r for r in report.get("position_bias", []) if r.get("left_share") is not None]
    if not recs:
        return _empty("no position data (pairwise studies only)", fmt)
    labels = [f"{r['panel']} / {r['criterion']}" for r in recs]
    fig, ax = plt.subplots(figsize=(5.5, 0.35 * len(recs) + 1.2))
    for y, r in enumerate(recs):
        lo, hi = r.get("ci95") or (r["left_share"], r["left_share"])
        color = "C3" if (r.get("p_value") is not None and r["p_value"] < 0.05) else "C0"
        ax.errorbar(r["left_share"], y, xerr=[[r["left_share"] - lo], [hi - r["left_share"]]], fmt="o",
                    color=color, capsize=3)
    ax.axvline(0.5, color="0.5", lw=0.8)
    ax.set_yticks(range(len(recs)), labels)
    ax.invert_yaxis()
    ax.set_xlabel("share of left wins (red: p < 0.05)")
    ax.set_title("Position bias")
    return _render(fig, fmt)


def rater_quality_plot(report: dict, *, fmt: str = "png") -> bytes:
    """Each rater: agreement with the leave-one-out majority (y) vs median seconds per judgment
    (x, log scale); flagged raters in red, marker size ~ number of judgments."""
    recs = [r for r in report.get("raters", []) if r.get("agreement_with_majority") is not None]
    if not recs:
        return _empty("no rater figures yet", fmt)
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for panel_idx, panel in enumerate(sorted({r["panel"] for r in recs})):
        rs = [r for r in recs if r["panel"] == panel]
        secs = np.array([r.get("median_seconds") or np.nan for r in rs], dtype=float)
        agree = np.array([r["agreement_with_majority"] for r in rs], dtype=float)
        size = np.clip(np.array([r["n_judgments"] for r in rs], dtype=float), 4, 200)
        colors = ["C3" if r.get("flagged") else f"C{panel_idx % 3}" for r in rs]
        ax.scatter(np.where(np.isfinite(secs), secs, np.nan), agree, s=size, c=colors, alpha=0.6, label=panel)
    if any(r.get("median_seconds") for r in recs):
        ax.set_xscale("log")
    ax.set_xlabel("median seconds per judgment")
    ax.set_ylabel("agreement with the others' majority")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize="small")
    ax.set_title("Rater quality (red: flagged)")
    return _render(fig, fmt)
