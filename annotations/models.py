"""The data of a study: what is judged, by whom, and how it was made.

Constraints live in the database (unique per brief/condition/sample, one judgment per
assignment and criterion, one assignment per rater and item, ...), not only in Python:
a judgment is never lost and never counted twice even when two processes race.
Writes go through ``annotations.services``; reads for pages, API and reports through
``annotations.selectors``.
"""

from __future__ import annotations

import secrets
import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Greatest, Least

DEFAULT_CRITERIA = [
    {"name": "novelty", "description": "How new and original is the idea? Not seen before, not the obvious answer."},
    {"name": "value", "description": "How useful and fitting is it for the brief? Would it work for the client?"},
    {"name": "surprise", "description": "Does it make you stop and look twice? An unexpected turn that still makes sense."},
    {"name": "overall", "description": "All things considered, which is the more creative answer to the brief?"},
]


def default_criteria() -> list[dict]:
    return [dict(c) for c in DEFAULT_CRITERIA]


def new_token() -> str:
    return secrets.token_urlsafe(24)


def new_pseudonym() -> str:
    return "r-" + secrets.token_hex(6)


class TimeStamped(models.Model):
    created_at = models.DateTimeField(auto_now_add=True, help_text="When the row was created.")

    class Meta:
        abstract = True


class Study(TimeStamped):
    class Task(models.TextChoices):
        PAIRWISE = "pairwise", "Pairwise comparison"
        RATING = "rating", "Absolute rating (Likert)"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        GENERATING = "generating", "Generating"
        OPEN = "open", "Open to raters"
        CLOSED = "closed", "Closed"

    slug = models.SlugField(max_length=64, unique=True, help_text="Short name used in URLs and commands.")
    title = models.CharField(max_length=200, blank=True, help_text="Human-readable title shown to raters.")
    description = models.TextField(blank=True, help_text="What the study is about (shown to researchers).")
    instructions = models.TextField(blank=True, help_text="Extra instructions shown to raters before they start.")
    task = models.CharField(max_length=16, choices=Task.choices, default=Task.PAIRWISE,
                            help_text="Pairwise comparisons (A / B / tie) or absolute Likert ratings.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT,
                              help_text="Lifecycle: draft -> generating -> open -> closed.")
    criteria = models.JSONField(default=default_criteria,
                                help_text='Criteria judged, in order: [{"name": ..., "description": ...}].')
    target_per_item = models.PositiveIntegerField(default=3,
                                                  help_text="Judgments wanted per item (comparison or candidate) per panel.")
    attention_check_rate = models.FloatField(default=0.1,
                                             help_text="Share of items that are attention checks (0 to 0.5).")
    max_attention_failures = models.FloatField(default=0.34,
                                               help_text="A rater failing more than this share of attention checks is excluded.")
    min_seconds = models.FloatField(default=3.0, help_text="Judgments faster than this many seconds are flagged as too fast.")
    lease_minutes = models.PositiveIntegerField(default=20, help_text="How long an item stays reserved for a rater.")
    likert_min = models.SmallIntegerField(default=1, help_text="Lowest point of the rating scale.")
    likert_max = models.SmallIntegerField(default=5, help_text="Highest point of the rating scale.")
    samples_per_condition = models.PositiveSmallIntegerField(default=3,
                                                             help_text="Candidates generated per brief and condition.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", help_text="Who created the study.")

    class Meta:
        verbose_name_plural = "studies"
        constraints = [
            models.CheckConstraint(condition=Q(attention_check_rate__gte=0) & Q(attention_check_rate__lte=0.5),
                                   name="study_attention_rate_range"),
            models.CheckConstraint(condition=Q(likert_max__gt=F("likert_min")), name="study_likert_range"),
            models.CheckConstraint(condition=Q(target_per_item__gte=1), name="study_target_positive"),
        ]

    def __str__(self) -> str:
        return self.slug

    def clean(self):
        from django.core.exceptions import ValidationError

        if not isinstance(self.criteria, list) or not self.criteria:
            raise ValidationError({"criteria": "give at least one criterion: [{\"name\": ..., \"description\": ...}]"})
        names = []
        for i, c in enumerate(self.criteria, start=1):
            if not (isinstance(c, dict) and isinstance(c.get("name"), str) and c["name"].strip()):
                raise ValidationError({"criteria": f"criterion {i} needs a non-empty \"name\""})
            names.append(c["name"])
        if len(set(names)) != len(names):
            raise ValidationError({"criteria": "criterion names must be unique"})

    @property
    def criterion_names(self) -> list[str]:
        return [c["name"] for c in self.criteria]


class Brief(TimeStamped):
    class Kind(models.TextChoices):
        IDEA = "idea", "Idea"
        HEADLINE = "headline", "Headline"
        NAMING = "naming", "Naming"
        INSIGHT = "insight", "Insight"
        ART_DIRECTION = "art_direction", "Art direction"
        STORY = "story", "Story"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="briefs", help_text="Study the brief belongs to.")
    external_id = models.CharField(max_length=128, help_text="The brief's id in the imported file; unique per study.")
    title = models.CharField(max_length=200, blank=True, help_text="Short title.")
    text = models.TextField(help_text="The brief itself, as given to models and shown to raters.")
    kind = models.CharField(max_length=32, choices=Kind.choices, default=Kind.IDEA, help_text="Kind of creative task.")
    metadata = models.JSONField(default=dict, blank=True, help_text="Other columns of the imported file.")

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["study", "external_id"], name="brief_unique_external_id")]

    def __str__(self) -> str:
        return f"{self.study.slug}/{self.external_id}"


class Condition(TimeStamped):
    class Kind(models.TextChoices):
        BASE = "base", "Base model"
        FINE_TUNED = "fine_tuned", "Fine-tuned (LoRA adapter)"
        STEERED = "steered", "Steered (creativity direction)"
        IMPORTED = "imported", "Imported (made elsewhere)"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="conditions", help_text="Study the condition belongs to.")
    name = models.CharField(max_length=100, help_text="Name of the condition; never shown to raters.")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.IMPORTED, help_text="How candidates are made.")
    reference = models.BooleanField(default=False,
                                    help_text="Human-written reference: left out of score-human correlations.")
    settings = models.JSONField(default=dict, blank=True,
                                help_text="Generation settings: decoding (temperature, top_p, max_new_tokens), "
                                          "adapter, direction, layer, alpha.")
    description = models.TextField(blank=True, help_text="Notes for researchers.")

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["study", "name"], name="condition_unique_name")]

    def __str__(self) -> str:
        return self.name


class Candidate(TimeStamped):
    """One output for one brief. Attention-check decoys are candidates with no condition."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="candidates",
                              help_text="Study (same as the brief's), kept for constraints and fast lookups.")
    brief = models.ForeignKey(Brief, on_delete=models.CASCADE, related_name="candidates", help_text="The brief answered.")
    condition = models.ForeignKey(Condition, null=True, blank=True, on_delete=models.CASCADE, related_name="candidates",
                                  help_text="Condition that produced it; empty for attention-check decoys.")
    sample_index = models.PositiveIntegerField(default=0, help_text="Index of the sample for this brief and condition.")
    external_id = models.CharField(max_length=128, blank=True, help_text="Id in the imported file; unique per study.")
    text = models.TextField(help_text="The candidate text.")
    provenance = models.JSONField(default=dict, blank=True,
                                  help_text="How it was made: model fingerprint, adapter/direction hash, layer, alpha, "
                                            "decoding parameters, seed.")
    decoy_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="decoys",
                                 help_text="For attention checks: the candidate this degenerate text was made from.")

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["brief", "condition", "sample_index"], name="candidate_unique_sample"),
            models.UniqueConstraint(fields=["study", "external_id"], condition=~Q(external_id=""),
                                    name="candidate_unique_external_id"),
            models.CheckConstraint(condition=Q(condition__isnull=False) | Q(decoy_of__isnull=False),
                                   name="candidate_condition_or_decoy"),
        ]
        indexes = [models.Index(fields=["study", "condition"], name="candidate_study_condition")]

    def __str__(self) -> str:
        return self.external_id or f"candidate {self.pk}"

    @property
    def is_decoy(self) -> bool:
        return self.decoy_of_id is not None


class Score(TimeStamped):
    candidate = models.ForeignKey(Candidate, on_delete=models.CASCADE, related_name="scores", help_text="Scored candidate.")
    name = models.CharField(max_length=100, help_text="Score name, e.g. creativity, perplexity, distinct_2.")
    value = models.FloatField(help_text="Score value.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["candidate", "name"], name="score_unique_name")]
        indexes = [models.Index(fields=["name"], name="score_name")]


class GroupScore(TimeStamped):
    """A score of a set of candidates: one brief under one condition (diversity, attractor rate)."""

    brief = models.ForeignKey(Brief, on_delete=models.CASCADE, related_name="group_scores", help_text="The brief.")
    condition = models.ForeignKey(Condition, on_delete=models.CASCADE, related_name="group_scores", help_text="The condition.")
    name = models.CharField(max_length=100, help_text="Score name, e.g. semantic_diversity, attractor_rate.")
    value = models.FloatField(help_text="Score value.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["brief", "condition", "name"], name="groupscore_unique_name")]


class Comparison(TimeStamped):
    """Two candidates of the same brief. ``a``/``b`` are canonical; what a rater sees left is per assignment."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="comparisons", help_text="Study.")
    brief = models.ForeignKey(Brief, on_delete=models.CASCADE, related_name="comparisons", help_text="The brief both answer.")
    candidate_a = models.ForeignKey(Candidate, on_delete=models.CASCADE, related_name="+", help_text="Canonical A.")
    candidate_b = models.ForeignKey(Candidate, on_delete=models.CASCADE, related_name="+", help_text="Canonical B.")
    attention_check = models.BooleanField(default=False,
                                          help_text="One side is a degenerate decoy; the expected answer is the other side.")
    expected_choice = models.CharField(max_length=1, blank=True, choices=[("a", "A"), ("b", "B")],
                                       help_text="For attention checks: the side a careful rater picks.")

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=~Q(candidate_a=F("candidate_b")), name="comparison_distinct_sides"),
            # The same pair, in either order, exists once: a rater never sees it again reversed.
            models.UniqueConstraint(Least("candidate_a", "candidate_b"), Greatest("candidate_a", "candidate_b"),
                                    name="comparison_unique_pair"),
            models.CheckConstraint(condition=Q(attention_check=False) | ~Q(expected_choice=""),
                                   name="comparison_attention_expected"),
        ]
        indexes = [models.Index(fields=["study", "attention_check"], name="comparison_study_check")]


class Panel(TimeStamped):
    class Kind(models.TextChoices):
        EXPERT = "expert", "Expert panel (by invitation)"
        CROWD = "crowd", "Crowd (public link from a crowd platform)"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="panels", help_text="Study.")
    name = models.CharField(max_length=100, help_text="Panel name, shown in reports.")
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.CROWD, help_text="Expert or crowd.")
    id_param = models.CharField(max_length=64, default="PROLIFIC_PID",
                                help_text="Query parameter carrying the crowd worker's id.")
    extra_params = models.JSONField(default=list, blank=True,
                                    help_text='Other query parameters kept with the rater, e.g. ["STUDY_ID", "SESSION_ID"].')
    completion_code = models.CharField(max_length=64, blank=True, help_text="Code shown at the end (crowd platforms).")
    completion_url = models.URLField(blank=True, help_text="Optional redirect when a rater finishes.")
    qualification = models.JSONField(default=list, blank=True,
                                     help_text='Qualification items: [{"brief", "left", "right", "answer": "left"|"right"}]; '
                                               "empty means none.")
    max_items_per_rater = models.PositiveIntegerField(null=True, blank=True, help_text="Cap on items per rater; empty for none.")

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["study", "name"], name="panel_unique_name")]

    def __str__(self) -> str:
        return f"{self.study.slug}/{self.name}"


class Rater(TimeStamped):
    panel = models.ForeignKey(Panel, on_delete=models.CASCADE, related_name="raters", help_text="Panel of the rater.")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="raters", help_text="Site account, for raters who have one.")
    external_id = models.CharField(max_length=128, blank=True,
                                   help_text="Id on the crowd platform or in the imported file; unique per panel.")
    pseudonym = models.CharField(max_length=32, unique=True, default=new_pseudonym,
                                 help_text="Stable pseudonym used in exports instead of the external id.")
    params = models.JSONField(default=dict, blank=True, help_text="Crowd-platform parameters received at join.")
    consent_at = models.DateTimeField(null=True, blank=True, help_text="When the rater consented.")
    qualified_at = models.DateTimeField(null=True, blank=True, help_text="When the rater passed the qualification.")
    qualification_failed_at = models.DateTimeField(null=True, blank=True,
                                                   help_text="When the rater failed the qualification (no retry).")
    finished_at = models.DateTimeField(null=True, blank=True, help_text="When the rater reached the completion page.")
    excluded = models.BooleanField(default=False, help_text="Excluded from aggregates (data kept).")
    exclusion_reason = models.CharField(max_length=200, blank=True, help_text="Why the rater was excluded.")
    simulated = models.BooleanField(default=False, help_text="A simulated rater (demo data), never a person.")

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["panel", "external_id"], condition=~Q(external_id=""),
                                    name="rater_unique_external_id"),
            models.UniqueConstraint(fields=["panel", "user"], condition=Q(user__isnull=False), name="rater_unique_user"),
        ]

    def __str__(self) -> str:
        return self.pseudonym


def one_item_each(prefix: str, owner: str) -> list:
    """Constraints of a row about one item, a comparison (pairwise) or a candidate (ratings),
    never both, and of at most one such row per ``owner`` and item."""
    return [
        models.CheckConstraint(
            condition=(Q(comparison__isnull=False) & Q(candidate__isnull=True))
            | (Q(comparison__isnull=True) & Q(candidate__isnull=False)),
            name=f"{prefix}_one_item",
        ),
        *(models.UniqueConstraint(fields=[owner, item], condition=Q(**{f"{item}__isnull": False}),
                                  name=f"{prefix}_unique_{owner}_{item}") for item in ("comparison", "candidate")),
    ]


class Invite(TimeStamped):
    """A per-person link for an expert panel. Revocable; bound to one rater on first use."""

    panel = models.ForeignKey(Panel, on_delete=models.CASCADE, related_name="invites", help_text="Panel invited to.")
    token = models.CharField(max_length=64, unique=True, default=new_token, help_text="Secret in the invite URL.")
    label = models.CharField(max_length=200, blank=True, help_text="Who it is for (name or e-mail), for admins only.")
    rater = models.OneToOneField(Rater, null=True, blank=True, on_delete=models.SET_NULL, related_name="invite",
                                 help_text="The rater created by the first use of the invite.")
    revoked_at = models.DateTimeField(null=True, blank=True, help_text="When the invite was revoked.")

    class Meta:
        ordering = ["id"]


class Assignment(TimeStamped):
    """One item (comparison or candidate) leased to one rater."""

    class Status(models.TextChoices):
        LEASED = "leased", "Leased"
        DONE = "done", "Judged"
        SKIPPED = "skipped", "Could not judge"
        EXPIRED = "expired", "Lease expired"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False,
                                 help_text="Opaque id shown to the rater.")
    rater = models.ForeignKey(Rater, on_delete=models.CASCADE, related_name="assignments", help_text="The rater.")
    comparison = models.ForeignKey(Comparison, null=True, blank=True, on_delete=models.CASCADE,
                                   related_name="assignments", help_text="The pair (pairwise studies).")
    candidate = models.ForeignKey(Candidate, null=True, blank=True, on_delete=models.CASCADE,
                                  related_name="assignments", help_text="The candidate (rating studies).")
    left_is_a = models.BooleanField(default=True, help_text="Whether canonical A was shown on the left (random per assignment).")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.LEASED, help_text="State of the lease.")
    lease_expires_at = models.DateTimeField(null=True, blank=True, help_text="When the lease ends if not judged.")
    shown_at = models.DateTimeField(null=True, blank=True, help_text="When the item was first shown.")
    completed_at = models.DateTimeField(null=True, blank=True, help_text="When it was judged or skipped.")
    client_key = models.CharField(max_length=64, blank=True, help_text="Client key of the submission that completed it.")
    skip_reason = models.CharField(max_length=200, blank=True, help_text="Why the rater could not judge.")

    class Meta:
        ordering = ["id"]
        constraints = [
            *one_item_each("assignment", "rater"),
            # A rater holds one lease at a time (services/assignment.py relies on it).
            models.UniqueConstraint(fields=["rater"], condition=Q(status="leased"), name="assignment_one_lease"),
            # One submission key completes one item: the database refuses a key reused for another.
            models.UniqueConstraint(fields=["rater", "client_key"], condition=~Q(client_key=""),
                                    name="assignment_unique_rater_client_key"),
        ]
        indexes = [
            models.Index(fields=["status", "lease_expires_at"], name="assignment_lease"),
            models.Index(fields=["comparison", "status"], name="assignment_comparison_status"),
            models.Index(fields=["candidate", "status"], name="assignment_candidate_status"),
        ]


class ItemLoad(models.Model):
    """How full one item is in one panel: the index the next-item queue reads.

    Written only by services/assignment.py, always under the item's row lock, so the queue
    reads one indexed row per item instead of counting assignments. ``load`` counts the
    panel's judged and leased assignments of the item; the counts hold until ``valid_until``
    (the first counted lease's expiry, or the moment a lease was given up), after which the
    next lease of the item recounts them from the assignments. A missing row is recounted
    the same way: no migration or repair is ever needed to build the table.
    """

    panel = models.ForeignKey(Panel, on_delete=models.CASCADE, related_name="item_loads", help_text="The panel.")
    comparison = models.ForeignKey(Comparison, null=True, blank=True, on_delete=models.CASCADE, related_name="loads",
                                   help_text="The pair (pairwise studies).")
    candidate = models.ForeignKey(Candidate, null=True, blank=True, on_delete=models.CASCADE, related_name="loads",
                                  help_text="The candidate (rating studies).")
    load = models.PositiveIntegerField(default=0, help_text="Judged plus leased assignments of the panel.")
    valid_until = models.DateTimeField(
        null=True, blank=True, help_text="The counts hold until then (a counted lease may lapse); empty: for good.")
    left_a = models.PositiveIntegerField(default=0, help_text="Unexpired assignments showing canonical A on the left.")
    left_b = models.PositiveIntegerField(default=0, help_text="Unexpired assignments showing canonical B on the left.")

    class Meta:
        constraints = one_item_each("itemload", "panel")


class Judgment(TimeStamped):
    class Choice(models.TextChoices):
        A = "a", "A"
        B = "b", "B"
        TIE = "tie", "Tie"

    assignment = models.ForeignKey(Assignment, on_delete=models.CASCADE, related_name="judgments", help_text="The assignment judged.")
    criterion = models.CharField(max_length=64, help_text="Criterion judged.")
    choice = models.CharField(max_length=3, blank=True, choices=Choice.choices,
                              help_text="Pairwise: winner in canonical A/B terms, or tie.")
    value = models.FloatField(null=True, blank=True, help_text="Rating: the Likert value.")
    strength = models.SmallIntegerField(null=True, blank=True,
                                        help_text="Optional strength of preference: 1 slight, 2 clear, 3 strong.")
    rationale = models.TextField(blank=True, help_text="Optional free-text rationale.")
    seconds = models.FloatField(null=True, blank=True, help_text="Seconds from showing the item to submitting.")
    client_key = models.CharField(max_length=64, blank=True, help_text="Client-generated key that makes submission idempotent.")
    too_fast = models.BooleanField(default=False, help_text="Submitted faster than the study's minimum time.")
    attention_passed = models.BooleanField(null=True, blank=True,
                                           help_text="For attention checks: whether the expected side was chosen.")
    source = models.CharField(max_length=16, default="web", help_text="web, api, import or simulation.")

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["assignment", "criterion"], name="judgment_unique_criterion"),
            models.CheckConstraint(condition=~Q(choice="") | Q(value__isnull=False), name="judgment_has_answer"),
            models.CheckConstraint(condition=Q(strength__isnull=True) | Q(strength__gte=1, strength__lte=3),
                                   name="judgment_strength_range"),
        ]
        indexes = [models.Index(fields=["client_key"], name="judgment_client_key")]

    @property
    def choice_as_shown(self) -> str:
        """The choice as the rater saw it: left, right or tie."""
        if self.choice in ("", Judgment.Choice.TIE):
            return self.choice
        return "left" if (self.choice == "a") == self.assignment.left_is_a else "right"


class JudgeVerdict(TimeStamped):
    """A model judge's pick for a comparison (model asked, both orders; or the direction score)."""

    comparison = models.ForeignKey(Comparison, on_delete=models.CASCADE, related_name="verdicts", help_text="The pair judged.")
    judge = models.CharField(max_length=100, help_text="Judge name, e.g. judge:base, judge:direction.")
    choice = models.CharField(max_length=3, choices=Judgment.Choice.choices, help_text="Canonical pick.")
    prob_a = models.FloatField(null=True, blank=True, help_text="Probability that A is more creative, averaged over both orders.")
    details = models.JSONField(default=dict, blank=True, help_text="Per-order log-probabilities and settings.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["comparison", "judge"], name="verdict_unique_judge")]


class Artifact(TimeStamped):
    """A model artifact on disk: a LoRA adapter or a creativity direction, addressed by content hash."""

    class Kind(models.TextChoices):
        ADAPTER = "adapter", "LoRA adapter"
        DIRECTION = "direction", "Creativity direction"

    kind = models.CharField(max_length=16, choices=Kind.choices, help_text="Adapter or direction.")
    name = models.CharField(max_length=200, help_text="Name, e.g. the data set it was made from.")
    path = models.CharField(max_length=500, help_text="Path on the shared models cache.")
    sha256 = models.CharField(max_length=64, help_text="Content hash.")
    metadata = models.JSONField(default=dict, blank=True, help_text="Model fingerprint, layer, method, data hash, report.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "sha256"], name="artifact_unique_hash")]


class Job(TimeStamped):
    class Kind(models.TextChoices):
        TRAIN_ADAPTER = "train_adapter", "Train LoRA adapter"
        EXTRACT_DIRECTION = "extract_direction", "Extract creativity direction"
        GENERATE = "generate", "Generate candidates"
        SCORE = "score", "Score candidates"
        JUDGE = "judge", "Model judge"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=24, choices=Kind.choices, help_text="What the job does.")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING, help_text="State.")
    study = models.ForeignKey(Study, null=True, blank=True, on_delete=models.CASCADE, related_name="jobs", help_text="Study.")
    condition = models.ForeignKey(Condition, null=True, blank=True, on_delete=models.CASCADE, related_name="jobs",
                                  help_text="Condition, for per-condition jobs.")
    params = models.JSONField(default=dict, blank=True, help_text="Parameters of the job.")
    progress = models.FloatField(default=0.0, help_text="Progress from 0 to 1.")
    progress_detail = models.JSONField(default=dict, blank=True, help_text="Details, e.g. step and loss while training.")
    result = models.JSONField(default=dict, blank=True, help_text="What the job produced.")
    error = models.TextField(blank=True, help_text="What went wrong and how to fix it.")
    attempts = models.PositiveIntegerField(default=0, help_text="How many times a worker started it.")
    started_at = models.DateTimeField(null=True, blank=True, help_text="When a worker started it.")
    heartbeat_at = models.DateTimeField(null=True, blank=True,
                                        help_text="Last sign of life from the worker running it; a stale one is re-run.")
    finished_at = models.DateTimeField(null=True, blank=True, help_text="When it finished.")

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["study", "kind", "status"], name="job_study_kind_status")]
