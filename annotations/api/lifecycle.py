"""Study lifecycle API for researchers and admins: conditions, jobs (train, extract, generate,
score), open, close and clone. Thin: validate, call one service, serialize."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotations.models import Condition, Job, Study
from annotations.services import lifecycle, studies

from .permissions import IsResearcher
from .serializers import StudyOutputSerializer


class ConditionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Condition
        fields = ["name", "kind", "reference", "settings", "description"]


class ConditionInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    kind = serializers.ChoiceField(choices=Condition.Kind.choices)
    reference = serializers.BooleanField(default=False)
    settings = serializers.DictField(required=False, default=dict)
    description = serializers.CharField(required=False, allow_blank=True, default="")


class JobSerializer(serializers.ModelSerializer):
    study = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    condition = serializers.SlugRelatedField(slug_field="name", read_only=True)

    class Meta:
        model = Job
        fields = ["id", "kind", "status", "study", "condition", "params", "progress", "progress_detail", "result",
                  "error", "attempts", "created_at", "started_at", "finished_at"]


class JobParamsSerializer(serializers.Serializer):
    params = serializers.DictField(required=False, default=dict,
                                   help_text="train-adapter: data (JSONL path on the workers), steps; "
                                             "extract-direction: pairs (JSONL path), method (mean|pca).")


class CloneSerializer(serializers.Serializer):
    slug = serializers.SlugField(max_length=64)
    title = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


def _study(slug):
    return get_object_or_404(Study, slug=slug)


def _bad(exc: DjangoValidationError):
    return Response({"detail": "; ".join(exc.messages)}, status=status.HTTP_400_BAD_REQUEST)


class ConditionListCreateApi(APIView):
    """A study's conditions: list, or define one (base / fine_tuned / steered / imported)."""

    permission_classes = [IsResearcher]

    @extend_schema(responses=ConditionSerializer(many=True))
    def get(self, request, slug):
        return Response(ConditionSerializer(_study(slug).conditions.all(), many=True).data)

    @extend_schema(request=ConditionInputSerializer, responses={201: ConditionSerializer})
    def post(self, request, slug):
        data = ConditionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            condition = studies.condition_create(study=_study(slug), **data.validated_data)
        except DjangoValidationError as exc:
            return _bad(exc)
        return Response(ConditionSerializer(condition).data, status=status.HTTP_201_CREATED)


class _JobStartApi(APIView):
    permission_classes = [IsResearcher]

    def start(self, request, slug, name=None):
        raise NotImplementedError

    @extend_schema(request=JobParamsSerializer, responses={202: JobSerializer})
    def post(self, request, slug, name=None):
        data = JobParamsSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            job = self.start(_study(slug), name, data.validated_data["params"])
        except DjangoValidationError as exc:
            return _bad(exc)
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class GenerateApi(_JobStartApi):
    """Enqueue generation of every missing candidate (brief x condition x sample)."""

    def start(self, study, name, params):
        return lifecycle.study_generate(study=study)


class ScoreApi(_JobStartApi):
    """Enqueue automatic scoring of every candidate and the model judges of its comparisons."""

    def start(self, study, name, params):
        return lifecycle.study_score(study=study)


class TrainAdapterApi(_JobStartApi):
    """Enqueue LoRA training for a fine-tuned condition (reuses an adapter made from the same inputs)."""

    def start(self, study, name, params):
        return lifecycle.condition_train_adapter(condition=get_object_or_404(Condition, study=study, name=name),
                                                 params=params)


class ExtractDirectionApi(_JobStartApi):
    """Enqueue creativity-direction extraction for a steered condition."""

    def start(self, study, name, params):
        return lifecycle.condition_extract_direction(
            condition=get_object_or_404(Condition, study=study, name=name), params=params)


class JobListApi(APIView):
    """A study's jobs, newest first, with progress."""

    permission_classes = [IsResearcher]

    @extend_schema(responses=JobSerializer(many=True))
    def get(self, request, slug):
        return Response(JobSerializer(_study(slug).jobs.select_related("study", "condition")[:200], many=True).data)


class JobDetailApi(APIView):
    """One job's status, progress (e.g. step and loss while training) and error."""

    permission_classes = [IsResearcher]

    @extend_schema(responses=JobSerializer)
    def get(self, request, job_id):
        return Response(JobSerializer(get_object_or_404(Job, id=job_id)).data)


class OpenApi(APIView):
    """Build comparisons (or rating items) with attention checks and open the study to its panels."""

    permission_classes = [IsResearcher]

    @extend_schema(request=None, responses=StudyOutputSerializer)
    def post(self, request, slug):
        from annotations.services.pairing import study_open

        study = _study(slug)
        try:
            study_open(study=study)
        except DjangoValidationError as exc:
            return _bad(exc)
        study.refresh_from_db()
        return Response(StudyOutputSerializer(study).data)


class CloseApi(APIView):
    """Close the study: raters can no longer get items."""

    permission_classes = [IsResearcher]

    @extend_schema(request=None, responses=StudyOutputSerializer)
    def post(self, request, slug):
        from annotations.services.pairing import study_close

        return Response(StudyOutputSerializer(study_close(study=_study(slug))).data)


class CloneApi(APIView):
    """A new round of the study: same settings, briefs, conditions and panels; no candidates or judgments."""

    permission_classes = [IsResearcher]

    @extend_schema(request=CloneSerializer, responses={201: StudyOutputSerializer})
    def post(self, request, slug):
        data = CloneSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            clone = studies.study_clone(study=_study(slug), **data.validated_data)
        except DjangoValidationError as exc:
            return _bad(exc)
        return Response(StudyOutputSerializer(clone).data, status=status.HTTP_201_CREATED)
