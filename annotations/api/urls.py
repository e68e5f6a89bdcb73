from django.urls import path

from . import lifecycle, rater, reports, views

urlpatterns = [
    path("studies/", views.StudyListCreateApi.as_view(), name="api-studies"),
    path("studies/<slug:slug>/", views.StudyDetailApi.as_view(), name="api-study"),
    path("studies/<slug:slug>/import/briefs/", views.ImportBriefsApi.as_view(), name="api-import-briefs"),
    path("studies/<slug:slug>/import/candidates/", views.ImportCandidatesApi.as_view(), name="api-import-candidates"),
    path("studies/<slug:slug>/import/judgments/", views.ImportJudgmentsApi.as_view(), name="api-import-judgments"),
    path("studies/<slug:slug>/conditions/", lifecycle.ConditionListCreateApi.as_view(), name="api-conditions"),
    path("studies/<slug:slug>/conditions/<str:name>/train-adapter/", lifecycle.TrainAdapterApi.as_view(),
         name="api-train-adapter"),
    path("studies/<slug:slug>/conditions/<str:name>/extract-direction/", lifecycle.ExtractDirectionApi.as_view(),
         name="api-extract-direction"),
    path("studies/<slug:slug>/generate/", lifecycle.GenerateApi.as_view(), name="api-generate"),
    path("studies/<slug:slug>/score/", lifecycle.ScoreApi.as_view(), name="api-score"),
    path("studies/<slug:slug>/jobs/", lifecycle.JobListApi.as_view(), name="api-jobs"),
    path("jobs/<int:job_id>/", lifecycle.JobDetailApi.as_view(), name="api-job"),
    path("studies/<slug:slug>/open/", lifecycle.OpenApi.as_view(), name="api-open"),
    path("studies/<slug:slug>/close/", lifecycle.CloseApi.as_view(), name="api-close"),
    path("studies/<slug:slug>/clone/", lifecycle.CloneApi.as_view(), name="api-clone"),
    path("studies/<slug:slug>/report/", reports.StudyReportApi.as_view(), name="api-study-report"),
    path("studies/<slug:slug>/report/<slug:table>.csv", reports.StudyReportTableApi.as_view(), name="api-study-report-table"),
    path("studies/<slug:slug>/ranking.csv", reports.StudyRankingCsvApi.as_view(), name="api-study-ranking"),
    path("studies/<slug:slug>/export/", reports.StudyExportApi.as_view(), name="api-study-export"),
    # Rater flow (anonymous raters, known by their session) and invites.
    path("rate/<slug:slug>/join/", rater.RaterJoinApi.as_view(), name="api-rate-join"),
    path("rate/<slug:slug>/qualification/", rater.RaterQualificationApi.as_view(), name="api-rate-qualification"),
    path("rate/<slug:slug>/next/", rater.RaterNextApi.as_view(), name="api-rate-next"),
    path("rate/<slug:slug>/done/", rater.RaterDoneApi.as_view(), name="api-rate-done"),
    path("rate/assignments/<uuid:public_id>/judgments/", rater.JudgmentCreateApi.as_view(), name="api-rate-judgments"),
    path("rate/assignments/<uuid:public_id>/skip/", rater.AssignmentSkipApi.as_view(), name="api-rate-skip"),
    path("panels/<int:panel_id>/invites/", rater.PanelInvitesApi.as_view(), name="api-panel-invites"),
    path("invites/<int:pk>/revoke/", rater.InviteRevokeApi.as_view(), name="api-invite-revoke"),
]
