"""Simulated raters fill a study through the real queue, and are marked as simulated."""

import pytest

from annotations.models import Judgment, Panel, Rater, Study
from annotations.services.imports import briefs_import, candidates_import
from annotations.services.pairing import study_open
from annotations.services.simulation import simulate_raters
from annotations.services.studies import panel_create, study_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def open_study():
    study = study_create(slug="sim", task="pairwise", criteria=["overall"], target_per_item=2)
    briefs_import(study=study, data=b"id,text\nb1,Name a tea\nb2,Name a bike\n", filename="b.csv")
    rows = "".join(f"{b}-{c}-{s},{b},{c},text {b} {c} {s}\n" for b in ("b1", "b2") for c in ("x", "y", "z") for s in (1, 2))
    candidates_import(study=study, data=("id,brief,condition,text\n" + rows).encode(), filename="c.csv")
    panel_create(study=study, name="crowd", kind=Panel.Kind.CROWD)
    study_open(study=study)
    return Study.objects.get(slug="sim")


def test_simulated_raters_meet_the_target_and_are_marked(open_study):
    result = simulate_raters(study=open_study, n=6)
    assert Rater.objects.filter(simulated=True).count() == 6
    judgments = Judgment.objects.filter(assignment__rater__panel__study=open_study)
    assert judgments.exists() and set(judgments.values_list("source", flat=True)) == {"simulation"}
    assert result["judgments"] == judgments.count()
    real = judgments.filter(assignment__comparison__attention_check=False)
    per_item = {}
    for comp_id in real.values_list("assignment__comparison_id", flat=True):
        per_item[comp_id] = per_item.get(comp_id, 0) + 1
    assert set(per_item.values()) == {2}, "every real comparison gets exactly the target"
    assert not judgments.filter(too_fast=True).exists()
