from django.urls import path

from . import views

urlpatterns = [
    path("studies/", views.StudyListCreateApi.as_view(), name="api-studies"),
    path("studies/<slug:slug>/", views.StudyDetailApi.as_view(), name="api-study"),
    path("studies/<slug:slug>/import/briefs/", views.ImportBriefsApi.as_view(), name="api-import-briefs"),
    path("studies/<slug:slug>/import/candidates/", views.ImportCandidatesApi.as_view(), name="api-import-candidates"),
    path("studies/<slug:slug>/import/judgments/", views.ImportJudgmentsApi.as_view(), name="api-import-judgments"),
]
