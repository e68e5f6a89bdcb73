"""Researcher and admin API: studies and imports. Thin: validate, call a service, serialize."""

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from annotations.models import Study
from annotations.services import deletion, imports
from annotations.services.studies import study_create
from annotations.services.tables import ImportFailed

from . import serializers as s
from .permissions import IsAdmin, IsResearcher


class StudyListCreateApi(APIView):
    """List studies or create one. Researchers and admins."""

    permission_classes = [IsResearcher]

    @extend_schema(responses=s.StudyOutputSerializer(many=True))
    def get(self, request):
        return Response(s.StudyOutputSerializer(Study.objects.order_by("id"), many=True).data)

    @extend_schema(request=s.StudyInputSerializer, responses={201: s.StudyOutputSerializer})
    def post(self, request):
        data = s.StudyInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            study = study_create(created_by=request.user, **data.validated_data)
        except DjangoValidationError as exc:
            return Response({"detail": "; ".join(exc.messages)}, status=status.HTTP_400_BAD_REQUEST)
        return Response(s.StudyOutputSerializer(study).data, status=status.HTTP_201_CREATED)


class StudyDetailApi(APIView):
    """One study. Reading: researchers and admins. Deleting: admins, confirmed by the slug;
    every judgment and the study's set-up are exported first (see services/deletion.py)."""

    permission_classes = [IsResearcher]

    def get_permissions(self):
        return [IsAdmin()] if self.request.method == "DELETE" else super().get_permissions()

    @extend_schema(responses=s.StudyOutputSerializer)
    def get(self, request, slug):
        return Response(s.StudyOutputSerializer(get_object_or_404(Study, slug=slug)).data)

    @extend_schema(request=s.StudyDeleteInputSerializer,
                   responses={200: s.StudyDeletedSerializer, 400: s.DetailSerializer, 409: s.DetailSerializer})
    def delete(self, request, slug):
        study = get_object_or_404(Study, slug=slug)
        data = s.StudyDeleteInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            result = deletion.study_delete(study=study, confirm=data.validated_data["confirm"])
        except deletion.StudyDeleteRefused as exc:
            return Response({"detail": exc.message}, status=400 if exc.code == "confirm" else 409)
        return Response(s.StudyDeletedSerializer(result).data)


class _ImportApi(APIView):
    """Upload a file as multipart field ``file``; all-or-nothing, errors name row and column."""

    permission_classes = [IsResearcher]
    parser_classes = [MultiPartParser, FormParser]
    service = None

    @extend_schema(request={"multipart/form-data": s.FileUploadSerializer},
                   responses={201: s.ImportResultSerializer, 400: s.ImportErrorSerializer})
    def post(self, request, slug):
        study = get_object_or_404(Study, slug=slug)
        upload = s.FileUploadSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        f = upload.validated_data["file"]
        try:
            data = f.read(settings.IMPORT_MAX_BYTES + 1)
            result = type(self).service(study=study, data=data, filename=f.name)
        except ImportFailed as exc:
            return Response(exc.as_dict(), status=status.HTTP_400_BAD_REQUEST)
        return Response({"created": result.created}, status=status.HTTP_201_CREATED)


class ImportBriefsApi(_ImportApi):
    """Import briefs (``id, text`` + optional ``title, kind``). Researchers and admins."""

    service = imports.briefs_import


class ImportCandidatesApi(_ImportApi):
    """Import candidates (``id, brief, condition, text`` + optional ``reference``, ``score:<name>``)."""

    service = imports.candidates_import


class ImportJudgmentsApi(_ImportApi):
    """Import judgments (``rater, criterion`` + ``item, value`` or ``item_a, item_b, choice``)."""

    service = imports.judgments_import
