"""Admin site: studies with their uploads, conditions, panels, raters, invites and jobs."""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import path, reverse

from . import models
from .api.permissions import is_researcher
from .services import imports, lifecycle
from .services.tables import ImportFailed

IMPORTERS = {
    "briefs": imports.briefs_import,
    "candidates": imports.candidates_import,
    "judgments": imports.judgments_import,
}


class UploadForm(forms.Form):
    kind = forms.ChoiceField(choices=[(k, k.capitalize()) for k in IMPORTERS])
    file = forms.FileField(help_text="CSV, JSON or JSONL, UTF-8. All-or-nothing: one bad row and nothing is saved.")


class BriefInline(admin.TabularInline):
    model = models.Brief
    extra = 0
    fields = ["external_id", "title", "kind", "text"]
    show_change_link = True


class ConditionInline(admin.TabularInline):
    model = models.Condition
    extra = 0
    fields = ["name", "kind", "reference", "settings", "description"]


class PanelInline(admin.TabularInline):
    model = models.Panel
    extra = 0
    fields = ["name", "kind", "id_param", "completion_code", "max_items_per_rater"]
    show_change_link = True


class KeepsJudgments:
    """Judgments are append-only (the database refuses to delete them): a brief, condition,
    candidate, panel or rater that judgments depend on cannot be deleted on its own. Delete
    the whole study instead (it asks for confirmation and exports the judgments first)."""

    judgment_paths: tuple[str, ...] = ()  # lookups from Judgment to this model

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def delete_view(self, request, object_id, extra_context=None):
        # Refused here rather than in has_delete_permission, which the admin also asks for
        # every object a study deletion cascades to: deleting the whole study stays possible.
        obj = self.get_object(request, unquote(object_id))
        if obj is not None:
            depends = Q()
            for path in self.judgment_paths:
                depends |= Q(**{path: obj})
            n_judgments = models.Judgment.objects.filter(depends).count()
            if n_judgments:
                # Said on the object's own page (a POST is refused the same way): nothing is deleted.
                study = getattr(obj, "study", None) or obj.panel.study  # a rater has its study through its panel
                messages.error(request, (
                    f"{self.model._meta.verbose_name.capitalize()} '{obj}' was not deleted: {n_judgments} "
                    f"judgment(s) depend on it, and judgments are kept for the record. To remove them, delete "
                    f"the whole study '{study.slug}' (it offers an export of every judgment first)."))
                opts = self.model._meta
                return HttpResponseRedirect(reverse(f"admin:{opts.app_label}_{opts.model_name}_change",
                                                    args=[obj.pk]))
        return super().delete_view(request, object_id, extra_context)


@admin.register(models.Study)
class StudyAdmin(admin.ModelAdmin):
    list_display = ["slug", "title", "task", "status", "created_at"]
    list_filter = ["task", "status"]
    search_fields = ["slug", "title"]
    inlines = [ConditionInline, PanelInline, BriefInline]
    actions = ["generate", "score", "open_for_raters", "close_for_raters"]
    change_form_template = "admin/annotations/study/change_form.html"

    @admin.action(description="Generate missing candidates (job)")
    def generate(self, request, queryset):
        for study in queryset:
            job = lifecycle.study_generate(study=study)
            messages.info(request, f"{study.slug}: generation job {job.id} is {job.status}; see Jobs for progress.")

    @admin.action(description="Score candidates and judge pairs (job)")
    def score(self, request, queryset):
        for study in queryset:
            job = lifecycle.study_score(study=study)
            messages.info(request, f"{study.slug}: scoring job {job.id} is {job.status}; see Jobs for progress.")

    @admin.action(description="Open to raters (build comparisons and attention checks)")
    def open_for_raters(self, request, queryset):
        from .services.pairing import study_open

        for study in queryset:
            try:
                messages.success(request, f"{study.slug}: opened; {study_open(study=study)}.")
            except ValidationError as exc:
                messages.error(request, f"{study.slug}: {'; '.join(exc.messages)}")

    @admin.action(description="Close to raters")
    def close_for_raters(self, request, queryset):
        from .services.pairing import study_close

        for study in queryset:
            study_close(study=study)
            messages.success(request, f"{study.slug}: closed.")

    # Deleting a study (after Django's confirmation page) goes through the service that exports
    # every judgment first; the database refuses to delete judgments any other way.
    def delete_model(self, request, obj):
        self._delete(request, obj)

    def delete_queryset(self, request, queryset):
        for study in queryset:
            self._delete(request, study)

    def _delete(self, request, study):
        from .services.deletion import StudyDeleteRefused, study_delete

        try:
            result = study_delete(study=study, confirm=study.slug)
        except StudyDeleteRefused as exc:
            request._study_delete_refused = True
            messages.error(request, f"{study.slug}: {exc.message}")
        else:
            messages.info(request, f"{study.slug}: {result.judgments} judgment(s) exported to {result.export_dir} "
                                   "before deletion.")

    def response_delete(self, request, obj_display, obj_id):
        if getattr(request, "_study_delete_refused", False):
            return HttpResponseRedirect(reverse("admin:annotations_study_change", args=[obj_id]))
        return super().response_delete(request, obj_display, obj_id)

    def get_urls(self):
        return [
            path("<int:pk>/upload/", self.admin_site.admin_view(self.upload_view), name="annotations_study_upload"),
        ] + super().get_urls()

    def upload_view(self, request, pk):
        """Upload briefs, candidates or judgments to this study (admins and researchers)."""
        if not is_researcher(request.user):
            raise PermissionDenied
        study = get_object_or_404(models.Study, pk=pk)
        form = UploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]

            try:
                result = IMPORTERS[form.cleaned_data["kind"]](
                    study=study, data=upload.read(settings.IMPORT_MAX_BYTES + 1), filename=upload.name)
            except ImportFailed as exc:
                exc.filename = upload.name
                for line in str(exc).splitlines():
                    messages.error(request, line)
            else:
                messages.success(request, f"Imported {result}.")
                return HttpResponseRedirect(reverse("admin:annotations_study_change", args=[pk]))
        context = {**self.admin_site.each_context(request), "study": study, "form": form, "opts": self.model._meta,
                   "title": f"Upload to {study.slug}"}
        return render(request, "admin/annotations/study/upload.html", context)


@admin.register(models.Brief)
class BriefAdmin(KeepsJudgments, admin.ModelAdmin):
    judgment_paths = ("assignment__comparison__brief", "assignment__candidate__brief")
    list_display = ["external_id", "study", "kind", "title"]
    list_filter = ["study", "kind"]
    search_fields = ["external_id", "title", "text"]


@admin.register(models.Condition)
class ConditionAdmin(KeepsJudgments, admin.ModelAdmin):
    judgment_paths = ("assignment__comparison__candidate_a__condition",
                      "assignment__comparison__candidate_b__condition", "assignment__candidate__condition")
    list_display = ["name", "study", "kind", "reference"]
    list_filter = ["study", "kind"]
    actions = ["train_adapter", "extract_direction"]

    @admin.action(description="Train a LoRA adapter (fine-tuned conditions; job)")
    def train_adapter(self, request, queryset):
        self._start(request, queryset, lifecycle.condition_train_adapter)

    @admin.action(description="Extract the creativity direction (steered conditions; job)")
    def extract_direction(self, request, queryset):
        self._start(request, queryset, lifecycle.condition_extract_direction)

    def _start(self, request, queryset, service):
        for condition in queryset:
            try:
                job = service(condition=condition)
            except ValidationError as exc:
                messages.error(request, f"{condition.name}: {'; '.join(exc.messages)}")
            else:
                messages.info(request, f"{condition.name}: job {job.id} is {job.status}; see Jobs for progress.")


@admin.register(models.Candidate)
class CandidateAdmin(KeepsJudgments, admin.ModelAdmin):
    """Unblinded preview of candidates: admins only."""

    judgment_paths = ("assignment__comparison__candidate_a", "assignment__comparison__candidate_b", "assignment__candidate")

    list_display = ["id", "external_id", "study", "brief", "condition", "sample_index", "short_text"]
    list_filter = ["study", "condition"]
    search_fields = ["external_id", "text"]
    raw_id_fields = ["brief", "condition", "decoy_of"]

    @admin.display(description="text")
    def short_text(self, obj):
        return obj.text[:80]


class InviteBulkForm(forms.Form):
    count = forms.IntegerField(min_value=0, max_value=1000, initial=0, required=False,
                               help_text="Unlabelled invites to create.")
    labels = forms.CharField(widget=forms.Textarea, required=False,
                             help_text="One invite per line, labelled (a name or e-mail, seen by admins only).")


@admin.register(models.Panel)
class PanelAdmin(KeepsJudgments, admin.ModelAdmin):
    judgment_paths = ("assignment__rater__panel",)
    list_display = ["name", "study", "kind"]
    list_filter = ["study", "kind"]
    actions = ["create_invites"]

    @admin.action(description="Create invites for the selected panel")
    def create_invites(self, request, queryset):
        """Bulk invites: count and/or one per label line; the links are listed afterwards."""
        from .services.raters import JoinRefused, invites_create

        if queryset.count() != 1:
            self.message_user(request, "Select exactly one panel.", messages.ERROR)
            return None
        panel = queryset.get()
        form = InviteBulkForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            try:
                invites = invites_create(panel=panel, count=form.cleaned_data["count"] or 0,
                                         labels=form.cleaned_data["labels"].splitlines())
            except JoinRefused as exc:
                self.message_user(request, exc.message, messages.ERROR)
                return None
            for invite in invites:
                url = request.build_absolute_uri(reverse("rater-invite", args=[invite.token]))
                self.message_user(request, f"{invite.label or 'invite'}: {url}", messages.SUCCESS)
            return None
        context = {**self.admin_site.each_context(request), "form": form, "panel": panel, "opts": self.model._meta,
                   "queryset": queryset, "title": f"Create invites for {panel}"}
        return render(request, "admin/annotations/panel/create_invites.html", context)


@admin.register(models.Rater)
class RaterAdmin(KeepsJudgments, admin.ModelAdmin):
    judgment_paths = ("assignment__rater",)
    list_display = ["pseudonym", "panel", "external_id", "excluded", "exclusion_reason", "simulated", "consent_at"]
    list_filter = ["panel__study", "panel", "excluded", "simulated"]
    search_fields = ["pseudonym", "external_id"]


@admin.register(models.Invite)
class InviteAdmin(admin.ModelAdmin):
    list_display = ["label", "panel", "rater", "revoked_at", "created_at"]
    list_filter = ["panel"]
    actions = ["revoke"]

    @admin.action(description="Revoke the selected invites")
    def revoke(self, request, queryset):
        from .services.raters import invites_revoke

        self.message_user(request, f"Revoked {invites_revoke(invites=queryset)} invite(s).", messages.SUCCESS)


@admin.register(models.Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "study", "condition", "status", "progress", "progress_detail", "error", "created_at"]
    list_filter = ["kind", "status", "study"]
    readonly_fields = ["progress", "progress_detail", "result", "error", "attempts", "started_at", "finished_at"]


@admin.register(models.Artifact)
class ArtifactAdmin(admin.ModelAdmin):
    list_display = ["kind", "name", "sha256", "path", "created_at"]
    list_filter = ["kind"]
