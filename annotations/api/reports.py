"""Researcher API: the study report, its tables as CSV, and exports of every judgment.

Thin: load the study, call one service, return its output. Downloads bypass DRF's renderers
(StreamingHttpResponse / FileResponse); the ``format`` query parameter is ours, not DRF's
content negotiation (see ``_FormatIsOurs``).
"""

import tempfile

from django.http import FileResponse, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.response import Response
from rest_framework.views import APIView

from annotations.models import Study
from annotations.services import exports
from annotations.services.reports import report_for_study

from .permissions import IsAdmin, IsResearcher


class _FormatIsOurs(BaseContentNegotiation):
    """DRF reads ``?format=`` as a renderer choice and answers 404 for csv / parquet; these
    views choose the file format themselves and render errors as JSON."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class ReportSerializer(serializers.Serializer):
    """The report JSON of DESIGN.md; every section is a flat list of records."""

    study = serializers.CharField()
    task = serializers.CharField()
    criteria = serializers.ListField(child=serializers.CharField())
    panels = serializers.ListField(child=serializers.CharField())
    n_judgments = serializers.IntegerField()
    excluded = serializers.DictField(help_text="flagged_raters, attention_checks, judgments left out of aggregates.")
    simulated = serializers.DictField(help_text="judgments and share from simulated raters (demo data).")
    agreement = serializers.ListField(child=serializers.DictField())
    ranking = serializers.ListField(child=serializers.DictField())
    correlation = serializers.ListField(child=serializers.DictField())
    model_judge = serializers.ListField(child=serializers.DictField())
    position_bias = serializers.ListField(child=serializers.DictField())
    raters = serializers.ListField(child=serializers.DictField())
    condition_matrix = serializers.ListField(child=serializers.DictField())
    expert_vs_crowd = serializers.ListField(child=serializers.DictField())


class StudyReportApi(APIView):
    """The study report (cached until judgments or scores arrive). Researchers and admins."""

    permission_classes = [IsResearcher]

    @extend_schema(
        parameters=[OpenApiParameter("refresh", OpenApiTypes.BOOL, description="Rebuild even if the cached report is current.")],
        responses=ReportSerializer,
    )
    def get(self, request, slug):
        study = get_object_or_404(Study, slug=slug)
        refresh = request.query_params.get("refresh", "").lower() in ("1", "true", "yes")
        return Response(report_for_study(study, refresh=refresh))


class StudyReportTableApi(APIView):
    """One section of the report as CSV (ranking, agreement, correlation, ...). Researchers and admins."""

    permission_classes = [IsResearcher]

    @extend_schema(
        operation_id="studies_report_table_csv",
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="CSV, intervals as _low / _high.")},
    )
    def get(self, request, slug, table):
        study = get_object_or_404(Study, slug=slug)
        if table not in exports.REPORT_TABLES:
            return Response({"detail": f"unknown table '{table}'; use one of {', '.join(exports.REPORT_TABLES)}"},
                            status=404)
        text = exports.report_table_csv(report=report_for_study(study), section=table)
        response = HttpResponse(text, content_type=exports.CONTENT_TYPES["csv"])
        response["Content-Disposition"] = f'attachment; filename="{study.slug}-{table}.csv"'
        return response


class StudyExportApi(APIView):
    """Every judgment with its provenance, one row per judgment, streamed. Researchers and admins;
    ``external_ids=1`` (raters' crowd-platform ids) is for admins only."""

    permission_classes = [IsResearcher]
    content_negotiation_class = _FormatIsOurs

    @extend_schema(
        parameters=[
            OpenApiParameter("format", OpenApiTypes.STR, enum=list(exports.FORMATS), description="csv (default), jsonl or parquet."),
            OpenApiParameter("external_ids", OpenApiTypes.BOOL, description="Add raters' external ids (admins only)."),
        ],
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="CSV, one row per judgment."),
            (200, "application/x-ndjson"): OpenApiResponse(OpenApiTypes.STR, description="JSON Lines."),
            (200, "application/vnd.apache.parquet"): OpenApiResponse(OpenApiTypes.BINARY, description="Parquet."),
            400: OpenApiResponse(description="Unknown format."),
            403: OpenApiResponse(description="Not a researcher, or external ids asked for by a non-admin."),
        },
    )
    def get(self, request, slug):
        study = get_object_or_404(Study, slug=slug)
        fmt = request.query_params.get("format", "csv").lower()
        if fmt not in exports.FORMATS:
            return Response({"detail": f"unknown format '{fmt}'; use one of {', '.join(exports.FORMATS)}"}, status=400)
        with_ids = request.query_params.get("external_ids", "").lower() in ("1", "true", "yes")
        if with_ids and not IsAdmin().has_permission(request, self):
            return Response({"detail": "External ids are for admins only."}, status=403)
        filename = f"{study.slug}-judgments.{fmt}"
        if fmt == "parquet":
            # Parquet needs a seekable file: written to a temporary file, then streamed from disk.
            spool = tempfile.TemporaryFile()
            exports.judgments_export(study=study, fmt=fmt, target=spool, with_external_ids=with_ids)
            spool.seek(0)
            return FileResponse(spool, as_attachment=True, filename=filename,
                                content_type=exports.CONTENT_TYPES[fmt])
        chunks = exports.judgments_export_stream(study=study, fmt=fmt, with_external_ids=with_ids)
        response = StreamingHttpResponse((c.encode() for c in chunks), content_type=exports.CONTENT_TYPES[fmt])
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response


class StudyRankingCsvApi(StudyReportTableApi):
    """The per-condition ranking table as CSV. Researchers and admins."""

    @extend_schema(
        operation_id="studies_ranking_csv",
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="Ranking CSV, intervals as _low / _high.")},
    )
    def get(self, request, slug, table="ranking"):
        return super().get(request, slug, "ranking")
