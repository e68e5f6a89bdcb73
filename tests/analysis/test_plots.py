"""Plots render from a report dict as PNG and SVG bytes."""

import pytest

from annotations.analysis import plots
from annotations.analysis.report import build_report
from annotations.analysis.synthetic import synthetic_pairwise


@pytest.fixture(scope="module")
def report_and_scores():
    pj, scores, conditions, _ = synthetic_pairwise(3_000, seed=5, left_bias=0.3)
    report = build_report(study="p", task="pairwise", pj=pj, scores=scores, conditions=conditions, n_boot=50,
                          include_candidates=True)
    return report, scores


@pytest.mark.parametrize("fmt,magic", [("png", b"\x89PNG"), ("svg", b"<?xml")])
def test_every_plot_renders(report_and_scores, fmt, magic):
    report, scores = report_and_scores
    figures = [
        plots.ranking_plot(report, fmt=fmt),
        plots.agreement_plot(report, fmt=fmt),
        plots.position_bias_plot(report, fmt=fmt),
        plots.rater_quality_plot(report, fmt=fmt),
        plots.score_scatter_from_report(report, scores, score="oracle", criterion=report["criteria"][0], fmt=fmt),
        plots.score_scatter([1, 2, 3], [2, 4, 5], fmt=fmt),
    ]
    for data in figures:
        assert data.startswith(magic)


def test_empty_reports_give_a_placeholder_figure():
    empty = {"ranking": [], "agreement": [], "position_bias": [], "raters": []}
    assert plots.ranking_plot(empty).startswith(b"\x89PNG")
    assert plots.position_bias_plot(empty, fmt="svg").startswith(b"<?xml")


def test_unknown_format_is_refused():
    with pytest.raises(ValueError, match="fmt"):
        plots.score_scatter([1, 2], [1, 2], fmt="gif")
