"""Rater pages: invite or crowd link -> consent -> instructions -> (qualification) -> judge -> done.

Raters have no account: the session remembers them (``rater_session``). Pages are plain
server-rendered forms with CSRF tokens; ``static/rater.js`` only adds keyboard shortcuts and
the time on page. Nothing rendered here carries a condition, a model setting or a real
candidate id (see ``services.assignment.shown_item``).
"""

import uuid

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from annotations import rater_session
from annotations.forms import ConsentForm, JoinForm, JudgeForm, QualificationForm, SkipForm
from annotations.models import Study
from annotations.services import assignment as queue
from annotations.services import judging, raters
from annotations.throttles import JoinThrottle, SubmitThrottle, allowed

TITLES = {
    "not_found": "Nothing here",
    "closed": "This study is closed",
    "not_open": "This study is not open yet",
    "full": "This study is full",
    "revoked": "This invitation was withdrawn",
    "not_qualified": "Thank you for your time",
    "invalid": "Something is missing",
    "busy": "One moment",
    "throttled": "Too many attempts",
    "no_session": "Please use your link",
}
STATUS = {"not_found": 404, "revoked": 403, "no_session": 403, "throttled": 429, "invalid": 400}


def _message(request, code: str, text: str, refresh: bool = False):
    return render(request, "rater/message.html", {"title": TITLES.get(code, "Notice"), "text": text,
                                                   "code": code, "refresh": refresh},
                  status=STATUS.get(code, 200))


def _refusal(request, exc: raters.JoinRefused):
    return _message(request, exc.code, exc.message)


def _study(slug: str) -> Study | None:
    return Study.objects.filter(slug=slug).first()


def _no_study(request):
    return _message(request, "not_found", "There is no study at this address. Please check the link you were given.")


def _next_step(rater, slug: str) -> str:
    if rater.consent_at is None:
        return reverse("rater-consent", args=[slug])
    if raters.needs_qualification(rater):
        return reverse("rater-instructions", args=[slug])
    return reverse("rater-judge", args=[slug])


def _session_rater(request, slug: str):
    """(study, rater, None) for a rater of this study who may go on, else (.., .., error page)."""
    study = _study(slug)
    if study is None:
        return None, None, _no_study(request)
    rater = rater_session.rater_for(request, study.slug)
    if rater is None:
        return study, None, _message(request, "no_session", "Please open the study from the link you were given.")
    try:
        raters.rater_may_continue(rater)
    except raters.JoinRefused as exc:
        return study, None, _refusal(request, exc)
    return study, rater, None


@require_GET
def invite(request, token):
    """An expert's personal link: creates (first use) or resumes their rater."""
    if not allowed(JoinThrottle, request):
        return _message(request, "throttled", "Please wait a minute and open the link again.")
    try:
        rater = raters.invite_use(token=token)
        raters.study_status_check(rater.panel.study)
    except raters.JoinRefused as exc:
        return _refusal(request, exc)
    rater_session.remember(request, rater)
    return redirect(_next_step(rater, rater.panel.study.slug))


@require_http_methods(["GET", "POST"])
def join(request, slug):
    """The public crowd link: ``/join/<slug>/?<id_param>=...&<extra params>``."""
    study = _study(slug)
    if study is None:
        return _no_study(request)
    try:
        raters.study_status_check(study)
        panel = raters.crowd_panel(study=study, name=request.GET.get("panel", ""))
    except raters.JoinRefused as exc:
        return _refusal(request, exc)
    data = request.POST if request.method == "POST" else request.GET
    current = rater_session.rater_for(request, study.slug)
    if current is not None and not data.get(panel.id_param) and not data.get("external_id"):
        return redirect(_next_step(current, slug))
    if not data.get(panel.id_param) and not data.get("external_id"):
        return render(request, "rater/join.html", {"study": study, "form": JoinForm()})
    if not allowed(JoinThrottle, request):
        return _message(request, "throttled", "Please wait a minute and open the link again.")
    try:
        external_id, params = raters.crowd_params(panel, data)
        rater, _ = raters.crowd_join(panel=panel, external_id=external_id, params=params)
        raters.rater_may_continue(rater)
    except raters.JoinRefused as exc:
        return _refusal(request, exc)
    rater_session.remember(request, rater)
    if rater.consent_at is None:
        # The consent page comes in this very answer (its form posts to the consent URL): a
        # browser that drops the session cookie on the redirect still sees what it agrees to.
        return render(request, "rater/consent.html", {
            "study": study, "form": ConsentForm(), "panel": rater.panel,
            "action": reverse("rater-consent", args=[slug])})
    return redirect(_next_step(rater, slug))


@require_http_methods(["GET", "POST"])
def consent(request, slug):
    study, rater, error = _session_rater(request, slug)
    if error:
        return error
    form = ConsentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        raters.rater_consent(rater=rater)
        return redirect("rater-instructions", slug=slug)
    return render(request, "rater/consent.html", {"study": study, "form": form, "panel": rater.panel})


@require_GET
def instructions(request, slug):
    study, rater, error = _session_rater(request, slug)
    if error:
        return error
    if rater.consent_at is None:
        return redirect("rater-consent", slug=slug)
    start = "rater-qualification" if raters.needs_qualification(rater) else "rater-judge"
    return render(request, "rater/instructions.html", {
        "study": study, "criteria": study.criteria, "pairwise": study.task == Study.Task.PAIRWISE,
        "scale": range(study.likert_min, study.likert_max + 1), "start": reverse(start, args=[slug]),
        "qualification": raters.needs_qualification(rater)})


@require_http_methods(["GET", "POST"])
def qualification(request, slug):
    study, rater, error = _session_rater(request, slug)
    if error:
        return error
    if not raters.needs_qualification(rater):
        return redirect(_next_step(rater, slug))
    items = raters.qualification_items(rater.panel)
    form = QualificationForm(request.POST or None, items=items)
    if request.method == "POST" and form.is_valid():
        try:
            passed = raters.rater_qualify(rater=rater, answers=form.answers())
        except raters.JoinRefused as exc:
            return _refusal(request, exc)
        if not passed:
            return _message(request, "not_qualified", "Your answers did not match the qualification, so we cannot "
                                                      "offer you this study. Thank you for your time.")
        return redirect("rater-judge", slug=slug)
    rows = [{**item, "field": form[f"q{item['number']}"]} for item in items]
    return render(request, "rater/qualification.html", {"study": study, "items": rows, "form": form})


@require_http_methods(["GET", "POST"])
def judge(request, slug):
    study, rater, error = _session_rater(request, slug)
    if error:
        return error
    if rater.consent_at is None or raters.needs_qualification(rater):
        return redirect(_next_step(rater, slug))
    if request.method == "POST":
        return _judge_post(request, study, rater, slug)
    result = queue.assignment_next(rater=rater)
    if result.state in (queue.State.DONE, queue.State.CAP):
        raters.rater_finish(rater=rater)
        return redirect("rater-done", slug=slug)
    if result.state == queue.State.FULL:
        return _message(request, "full", "This study has all the judgments it needs. Thank you for your interest.")
    if result.state == queue.State.BUSY:
        return _message(request, "busy", "Finding your next item...", refresh=True)
    if result.state != queue.State.ITEM:
        return _message(request, result.state, "This study is closed." if result.state == queue.State.CLOSED
                        else "This study is not open yet. Please come back later.")
    return _render_item(request, study, rater, result.assignment)


def _render_item(request, study, rater, assignment, form=None):
    item = queue.shown_item(assignment, study)
    progress = queue.rater_progress(rater=rater, study=study)
    key = uuid.uuid4().hex  # one per rendered page: a double submit of this page is one judgment
    form = form or JudgeForm(study=study, initial={"assignment": assignment.public_id, "client_key": key,
                                                    "strength": ""})
    skip_form = SkipForm(initial={"assignment": assignment.public_id, "client_key": key})
    percent = round(100 * progress["done"] / progress["target"]) if progress["target"] else 0
    criteria = [{**c, "field": form[f"choice_{c['name']}"]} for c in item.criteria]
    return render(request, "rater/judge.html", {
        "study": study, "item": item, "form": form, "skip_form": skip_form, "criteria": criteria,
        "progress": progress, "percent": percent, "pairwise": item.task == Study.Task.PAIRWISE,
        "scale": range(study.likert_min, study.likert_max + 1) if item.scale else None,
    })


def _judge_post(request, study, rater, slug):
    if not allowed(SubmitThrottle, request):
        return _message(request, "throttled", "You are submitting very fast. Please wait a moment.")
    skipping = request.POST.get("action") == "skip"
    form = SkipForm(request.POST) if skipping else JudgeForm(request.POST, study=study)
    if not form.is_valid():
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
        return redirect("rater-judge", slug=slug)
    data = form.cleaned_data
    mine = {"public_id": data["assignment"], "rater_ids": [rater.pk]}
    try:
        if skipping:
            judging.skip_submit(**mine, reason=data["reason"], detail=data["detail"], client_key=data["client_key"])
        else:
            judging.judgment_submit(**mine, choices=form.choices(), strength=data["strength"] or None,
                                    rationale=data["rationale"], seconds=data["seconds"],
                                    client_key=data["client_key"], source="web")
    except (judging.JudgingRefused, raters.JoinRefused) as exc:
        messages.error(request, exc.message)
    return redirect("rater-judge", slug=slug)


@require_GET
def done(request, slug):
    study, rater, error = _session_rater(request, slug)
    if error:
        return error
    if rater.finished_at is None:
        return redirect(_next_step(rater, slug))
    panel = rater.panel
    return render(request, "rater/done.html", {"study": study, "code": panel.completion_code,
                                               "url": panel.completion_url})
