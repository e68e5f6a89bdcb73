"""The model jobs end to end on a tiny random-weight model: adapter, direction, generation,
scores, judges. Idempotent (a re-run adds nothing) and every candidate records how it was made."""

import pytest

from annotations.models import Artifact, Candidate, Condition, GroupScore, Job, JudgeVerdict, Score
from annotations.services import jobs
from annotations.services.artifacts import adapter_train, direction_extract
from annotations.services.generation import candidates_generate
from annotations.services.pairing import study_open
from annotations.services.scoring import candidates_score
from annotations.services.imports import briefs_import
from annotations.services.studies import condition_create, study_create

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


@pytest.fixture
def tiny(settings, tiny_model_dir, tmp_path):
    settings.BASE_MODEL = str(tiny_model_dir)
    settings.MODELS_CACHE = tmp_path / "models"


def run(kind, service, study, condition=None, params=None):
    job = Job.objects.create(kind=kind, study=study, condition=condition, params=params or {})
    jobs.job_run(job.id, service)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    return job


def test_a_study_is_prepared_generated_and_scored_once(tiny):
    study = study_create(slug="tiny", task="pairwise", samples_per_condition=2)
    briefs_import(study=study, data=b"id,text\nb1,Name a tea brand.\nb2,Write a headline for a bike shop.\n",
                  filename="b.csv")
    decoding = {"max_new_tokens": 12, "temperature": 0.9}
    base = condition_create(study=study, name="base", kind="base", settings={"decoding": decoding})
    tuned = condition_create(study=study, name="tuned", kind="fine_tuned", settings={"decoding": decoding})
    steered = condition_create(study=study, name="steered", kind="steered", settings={"decoding": decoding, "alpha": 8})

    trained = run(Job.Kind.TRAIN_ADAPTER, adapter_train, study, tuned, {"steps": 2})
    assert trained.progress_detail["step"] == 2 and "loss" in trained.progress_detail
    run(Job.Kind.EXTRACT_DIRECTION, direction_extract, study, steered)
    tuned.refresh_from_db(), steered.refresh_from_db()
    assert Artifact.objects.get(kind="adapter").sha256 == tuned.settings["adapter"]
    assert Artifact.objects.get(kind="direction").sha256 == steered.settings["direction"]
    again = run(Job.Kind.TRAIN_ADAPTER, adapter_train, study, tuned, {"steps": 2})
    assert again.result["reused"] is True and Artifact.objects.filter(kind="adapter").count() == 1

    first = run(Job.Kind.GENERATE, candidates_generate, study)
    assert first.result == {"generated": 12}
    assert run(Job.Kind.GENERATE, candidates_generate, study).result == {"generated": 0}
    assert Candidate.objects.filter(study=study).count() == 12

    by_condition = {c.condition.name: c for c in Candidate.objects.filter(study=study, sample_index=0, brief__external_id="b1")}
    for c in by_condition.values():
        p = c.provenance
        assert p["model_fingerprint"] and p["decoding"]["max_new_tokens"] == 12 and isinstance(p["seed"], int)
    assert by_condition["tuned"].provenance["adapter_hash"] == tuned.settings["adapter"]
    assert by_condition["base"].provenance["adapter_hash"] is None
    assert by_condition["steered"].provenance["direction_hash"] == steered.settings["direction"]
    assert by_condition["steered"].provenance["alpha"] == 8.0
    # Paired sampling: every condition draws sample k of a brief with the same seed.
    assert len({c.provenance["seed"] for c in by_condition.values()}) == 1

    study_open(study=study)
    scored = run(Job.Kind.SCORE, candidates_score, study)
    assert scored.result["scored"] == 12
    names = set(Score.objects.filter(candidate__study=study).values_list("name", flat=True))
    assert {"creativity", "entropy", "perplexity", "distinct_1", "distinct_2", "compression_ratio",
            "mean_entropy", "novelty_within", "novelty_vs_base"} <= names
    assert not Score.objects.filter(candidate__condition=base, name="novelty_vs_base").exists()
    assert set(GroupScore.objects.values_list("name", flat=True)) == {"semantic_diversity", "attractor_rate"}
    real_pairs = study.comparisons.filter(attention_check=False).count()
    assert JudgeVerdict.objects.filter(judge="judge:base").count() == real_pairs
    assert JudgeVerdict.objects.filter(judge="judge:direction").count() == real_pairs

    before = Score.objects.count(), JudgeVerdict.objects.count()
    assert run(Job.Kind.SCORE, candidates_score, study).result["scored"] == 0
    assert (Score.objects.count(), JudgeVerdict.objects.count()) == before


def test_a_steered_condition_without_a_direction_fails_with_a_hint(tiny):
    study = study_create(slug="nodir", task="pairwise")
    briefs_import(study=study, data=b"id,text\nb1,Name a tea brand.\n", filename="b.csv")
    Condition.objects.create(study=study, name="steered", kind="steered", settings={"alpha": 4})
    job = Job.objects.create(kind=Job.Kind.GENERATE, study=study)
    jobs.job_run(job.id, candidates_generate)
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED and "has no direction: extract one first" in job.error
