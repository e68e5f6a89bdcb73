from django.urls import path

from . import rater_views, report_views, views

urlpatterns = [
    path("", views.home, name="home"),
    # Rater pages (see rater_views).
    path("invite/<str:token>/", rater_views.invite, name="rater-invite"),
    path("join/<slug:slug>/", rater_views.join, name="rater-join"),
    path("rate/<slug:slug>/consent/", rater_views.consent, name="rater-consent"),
    path("rate/<slug:slug>/instructions/", rater_views.instructions, name="rater-instructions"),
    path("rate/<slug:slug>/qualification/", rater_views.qualification, name="rater-qualification"),
    path("rate/<slug:slug>/judge/", rater_views.judge, name="rater-judge"),
    path("rate/<slug:slug>/done/", rater_views.done, name="rater-done"),
    # Researcher report pages (see report_views).
    path("reports/", report_views.report_index, name="report-index"),
    path("studies/<slug:slug>/report/", report_views.report_page, name="report-study"),
    path("studies/<slug:slug>/report/plots/<slug:name>.<str:fmt>", report_views.report_plot_file, name="report-plot"),
]
