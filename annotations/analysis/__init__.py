"""Statistics for study reports: pure functions over numpy arrays and pandas DataFrames.

Nothing in this package imports Django, so every function can be checked against published
worked examples (see ``tests/analysis``). The Django side (``annotations.selectors``) builds
the DataFrames below and calls :func:`annotations.analysis.report.build_report`.

Input contract (column names are fixed; extra columns are ignored)
-----------------------------------------------------------------

Pairwise judgments ``pj`` (one row per judgment)::

    judgment          judgment id
    panel             panel name (str)
    rater             rater id or pseudonym (str)
    criterion         criterion name (str)
    item              comparison id (all raters of one comparison share it)
    brief             brief id
    cand_a, cand_b    candidate ids, in canonical A/B terms
    cond_a, cond_b    condition names of cand_a / cand_b
    choice            'a' | 'b' | 'tie' (canonical terms, not as shown)
    strength          1, 2, 3 (slight / clear / strong) or NaN
    left_is_a         bool: cand_a was shown on the left
    seconds           float, time on page (may be NaN)
    attention_check   bool: the comparison is an attention check
    attention_passed  bool or NaN (only for attention checks)
    rater_flagged     bool
    simulated         bool

Rating judgments ``rj``::

    judgment, panel, rater, criterion,
    item              candidate id
    brief, condition,
    value             float (for example a 1-5 Likert rating)
    seconds, attention_check, attention_passed, rater_flagged, simulated

Automatic scores ``scores``: ``candidate, brief, condition, name, value``.

Conditions ``conditions``: ``name, kind, reference`` (reference conditions, e.g. human-written
texts, are left out of score/human correlations).

Model-judge outputs ``judge``: ``item`` (comparison id), ``judge`` (name), ``choice``
('a' | 'b' | 'tie'; the same choice is compared with every criterion's majority).

Exclusions: judgments on attention-check items and judgments by flagged raters are left out of
every aggregate (agreement, ranking, correlation, model judge, position bias); the report
counts them under ``"excluded"``. Rater-quality records are computed on every rater.

Modules
-------
``agreement``   Krippendorff's alpha (+ bootstrap), Fleiss' kappa, mean pairwise Cohen's kappa,
                percent agreement, ICC (Shrout & Fleiss), panel-vs-panel majorities,
                rater quality, position bias.
``ranking``     win rates with Wilson intervals, Bradley-Terry for conditions (bootstrap CIs)
                and candidates, condition win matrix, mean ratings.
``correlation`` score-vs-human correlations at item / brief / system level, model-judge
                agreement with panel majorities.
``report``      ``build_report(...)``: the report JSON of DESIGN.md.
``plots``       matplotlib figures from a report dict, as PNG or SVG bytes.
"""

PAIRWISE_COLUMNS = (
    "judgment", "panel", "rater", "criterion", "item", "brief", "cand_a", "cand_b",
    "cond_a", "cond_b", "choice", "strength", "left_is_a", "seconds", "attention_check",
    "attention_passed", "rater_flagged", "simulated",
)
RATING_COLUMNS = (
    "judgment", "panel", "rater", "criterion", "item", "brief", "condition", "value",
    "seconds", "attention_check", "attention_passed", "rater_flagged", "simulated",
)
SCORE_COLUMNS = ("candidate", "brief", "condition", "name", "value")
CONDITION_COLUMNS = ("name", "kind", "reference")
JUDGE_COLUMNS = ("item", "judge", "choice")
