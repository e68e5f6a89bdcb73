from django.urls import path

from . import reports, views

urlpatterns = [
    path("studies/", views.StudyListCreateApi.as_view(), name="api-studies"),
    path("studies/<slug:slug>/", views.StudyDetailApi.as_view(), name="api-study"),
    path("studies/<slug:slug>/import/briefs/", views.ImportBriefsApi.as_view(), name="api-import-briefs"),
    path("studies/<slug:slug>/import/candidates/", views.ImportCandidatesApi.as_view(), name="api-import-candidates"),
    path("studies/<slug:slug>/import/judgments/", views.ImportJudgmentsApi.as_view(), name="api-import-judgments"),
    path("studies/<slug:slug>/report/", reports.StudyReportApi.as_view(), name="api-study-report"),
    path("studies/<slug:slug>/report/<slug:table>.csv", reports.StudyReportTableApi.as_view(), name="api-study-report-table"),
    path("studies/<slug:slug>/ranking.csv", reports.StudyReportTableApi.as_view(), {"table": "ranking"}, name="api-study-ranking"),
    path("studies/<slug:slug>/export/", reports.StudyExportApi.as_view(), name="api-study-export"),
]
