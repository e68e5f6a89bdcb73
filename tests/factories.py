"""factory_boy factories for the data model, and helpers that move test data through time."""

from datetime import timedelta

import factory
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils import timezone

from annotations import models


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")

    @factory.post_generation
    def password(self, create, extracted, **kwargs):
        self.set_password(extracted or "pw-for-tests-1")
        if create:
            self.save()


class StudyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Study

    slug = factory.Sequence(lambda n: f"study-{n}")
    title = factory.LazyAttribute(lambda o: o.slug.title())
    task = models.Study.Task.PAIRWISE
    criteria = factory.LazyFunction(lambda: [dict(c) for c in models.DEFAULT_CRITERIA])


class BriefFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Brief

    study = factory.SubFactory(StudyFactory)
    external_id = factory.Sequence(lambda n: f"b{n}")
    text = factory.Sequence(lambda n: f"Write a headline for product {n}.")
    kind = models.Brief.Kind.HEADLINE


class ConditionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Condition

    study = factory.SubFactory(StudyFactory)
    name = factory.Sequence(lambda n: f"cond{n}")
    kind = models.Condition.Kind.IMPORTED


class CandidateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Candidate

    brief = factory.SubFactory(BriefFactory)
    study = factory.SelfAttribute("brief.study")
    condition = factory.SubFactory(ConditionFactory, study=factory.SelfAttribute("..brief.study"))
    sample_index = factory.Sequence(lambda n: n)
    external_id = factory.Sequence(lambda n: f"c{n}")
    text = factory.Sequence(lambda n: f"Candidate text number {n}.")


class PanelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Panel

    study = factory.SubFactory(StudyFactory)
    name = factory.Sequence(lambda n: f"panel{n}")
    kind = models.Panel.Kind.CROWD
    extra_params = factory.LazyFunction(lambda: ["STUDY_ID", "SESSION_ID"])


class RaterFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Rater

    panel = factory.SubFactory(PanelFactory)
    external_id = factory.Sequence(lambda n: f"worker{n}")


class ComparisonFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Comparison

    brief = factory.SubFactory(BriefFactory)
    study = factory.SelfAttribute("brief.study")
    candidate_a = factory.SubFactory(CandidateFactory, brief=factory.SelfAttribute("..brief"))
    candidate_b = factory.SubFactory(CandidateFactory, brief=factory.SelfAttribute("..brief"))


def age_leases(assignments) -> int:
    """Let the leases of ``assignments`` run out now, as waiting ``lease_minutes`` would:
    the assignments and the queue's load index age together. Returns how many were aged."""
    past = timezone.now() - timedelta(seconds=1)
    leased = assignments.filter(status="leased")
    comparisons = [i for i in leased.values_list("comparison_id", flat=True) if i]
    candidates = [i for i in leased.values_list("candidate_id", flat=True) if i]
    aged = leased.update(lease_expires_at=past)
    models.ItemLoad.objects.filter(Q(comparison_id__in=comparisons) | Q(candidate_id__in=candidates)).update(valid_until=past)
    return aged
