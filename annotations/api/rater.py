"""Rater API: the judging flow as JSON, for custom front ends; and invites for researchers.

Raters are anonymous and known by their session (``annotations.rater_session``); see
``authentication.RaterSessionAuthentication`` for how CSRF is handled. Nothing here returns
a condition, a model setting, a candidate's real id or an attention-check flag.
"""

from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import APIView

from annotations import rater_session
from annotations.models import Assignment, Invite, Panel, Study
from annotations.services import assignment as queue
from annotations.services import judging, raters
from annotations.throttles import JoinThrottle, SubmitThrottle

from .authentication import RaterSessionAuthentication
from .permissions import Anyone, HasRaterSession, IsResearcher

JOIN_STATUS = {"not_found": 404, "closed": 409, "not_open": 409, "full": 409, "invalid": 400,
               "revoked": 403, "not_qualified": 403}
JUDGE_STATUS = {"invalid": 400, "not_yours": 404, "expired": 409, "already_judged": 409, "key_reused": 409}


def _refused(exc, table) -> Response:
    return Response({"detail": exc.message, "code": exc.code}, status=table.get(exc.code, 400))


def _study(slug: str) -> Study:
    return get_object_or_404(Study, slug=slug)


# --- serializers ------------------------------------------------------------------------------

class RaterDetailSerializer(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField(required=False)


class JoinInputSerializer(serializers.Serializer):
    external_id = serializers.CharField(max_length=128, required=False, allow_blank=True,
                                        help_text="Your id on the crowd platform (or send the panel's id parameter, "
                                                  "e.g. PROLIFIC_PID).")
    consent = serializers.BooleanField(help_text="Must be true: you agree to take part.")
    panel = serializers.CharField(max_length=100, required=False, allow_blank=True,
                                  help_text="Panel name when the study has several crowd panels.")


class QualificationItemSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    brief = serializers.CharField()
    left = serializers.CharField()
    right = serializers.CharField()


class JoinOutputSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["created", "resumed"])
    qualification = QualificationItemSerializer(many=True, help_text="Items to answer first; empty if none.")
    next = serializers.CharField(help_text="Where to ask for the next item.")
    csrf_token = serializers.CharField(help_text="Send as X-CSRFToken on later POSTs from this session.")


class QualificationInputSerializer(serializers.Serializer):
    answers = serializers.DictField(child=serializers.ChoiceField(choices=["left", "right"]),
                                    help_text='Item number -> "left" or "right".')


class QualificationOutputSerializer(serializers.Serializer):
    passed = serializers.BooleanField()


class ShownTextSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="Opaque, different for every assignment.")
    text = serializers.CharField()


class BriefShownSerializer(serializers.Serializer):
    title = serializers.CharField(source="brief_title")
    text = serializers.CharField(source="brief_text")


class CriterionSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()


class ScaleSerializer(serializers.Serializer):
    min = serializers.IntegerField()
    max = serializers.IntegerField()


class ProgressSerializer(serializers.Serializer):
    done = serializers.IntegerField()
    target = serializers.IntegerField()


class NextItemSerializer(serializers.Serializer):
    assignment = serializers.CharField(help_text="Assignment id: POST judgments to /api/rate/assignments/<id>/judgments/.")
    task = serializers.ChoiceField(choices=Study.Task.choices)
    brief = BriefShownSerializer(source="*")
    left = ShownTextSerializer(allow_null=True, help_text="Pairwise: the text shown left.")
    right = ShownTextSerializer(allow_null=True, help_text="Pairwise: the text shown right.")
    candidate = ShownTextSerializer(allow_null=True, help_text="Rating studies: the one text to rate.")
    criteria = CriterionSerializer(many=True)
    scale = ScaleSerializer(allow_null=True, help_text="Rating studies: the Likert scale.")
    expires_at = serializers.DateTimeField(help_text="The item goes back to the pool after this.")
    progress = ProgressSerializer()


class JudgmentInputSerializer(serializers.Serializer):
    client_key = serializers.CharField(max_length=64, help_text="Made by the client (e.g. a UUID); resending it is safe.")
    choices = serializers.DictField(child=serializers.JSONField(),
                                    help_text='Per criterion, as shown: "left" / "right" / "tie" (pairwise) '
                                              "or a number on the scale (rating).")
    strength = serializers.JSONField(required=False, allow_null=True,
                                     help_text="Optional 1-3 (slight / clear / strong), one number or per criterion.")
    rationale = serializers.CharField(required=False, allow_blank=True, max_length=judging.MAX_RATIONALE)
    seconds = serializers.FloatField(required=False, allow_null=True, min_value=0,
                                     help_text="Seconds the item was on screen before submitting.")


class JudgmentShownSerializer(serializers.Serializer):
    criterion = serializers.CharField()
    choice = serializers.CharField(source="choice_as_shown", allow_blank=True)
    value = serializers.FloatField(allow_null=True)
    strength = serializers.IntegerField(allow_null=True)


class RecordedSerializer(serializers.Serializer):
    assignment = serializers.CharField(source="assignment.public_id")
    status = serializers.CharField(source="assignment.status")
    replayed = serializers.BooleanField(help_text="True when this client key had been recorded before.")
    judgments = JudgmentShownSerializer(many=True)


class SkipInputSerializer(serializers.Serializer):
    client_key = serializers.CharField(max_length=64)
    reason = serializers.ChoiceField(choices=list(judging.SKIP_REASONS.items()))
    detail = serializers.CharField(required=False, allow_blank=True, max_length=200)


class DoneSerializer(serializers.Serializer):
    completion_code = serializers.CharField(allow_blank=True)
    completion_url = serializers.CharField(allow_blank=True)


class InviteInputSerializer(serializers.Serializer):
    count = serializers.IntegerField(min_value=0, max_value=1000, default=0)
    labels = serializers.ListField(child=serializers.CharField(max_length=200), required=False, default=list)


class InviteOutputSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    used = serializers.SerializerMethodField()

    class Meta:
        model = Invite
        fields = ["id", "label", "token", "url", "used", "revoked_at", "created_at"]

    def get_url(self, invite) -> str:
        return self.context["request"].build_absolute_uri(reverse("rater-invite", args=[invite.token]))

    def get_used(self, invite) -> bool:
        return invite.rater_id is not None


class RevokedSerializer(serializers.Serializer):
    revoked = serializers.IntegerField()


# --- rater views --------------------------------------------------------------------------------

class _RaterApi(APIView):
    authentication_classes = [RaterSessionAuthentication]
    permission_classes = [HasRaterSession]
    parser_classes = [JSONParser]

    def rater_in(self, slug: str):
        """The session's rater in the study ``slug`` if they may go on, else an error Response."""
        rater = rater_session.rater_for(self.request._request, slug)
        if rater is None:
            _study(slug)  # 404 for a study that does not exist
            return None, Response({"detail": "You have not joined this study."}, status=403)
        try:
            raters.rater_may_continue(rater)
        except raters.JoinRefused as exc:
            return None, _refused(exc, JOIN_STATUS)
        if rater.consent_at is None:
            return None, Response({"detail": "Consent first (join with consent: true).", "code": "consent"}, status=403)
        return rater, None


class RaterJoinApi(_RaterApi):
    """Start or resume a crowd rater's session (same rules as the study link). Rate-limited."""

    permission_classes = [Anyone]
    throttle_classes = [JoinThrottle]

    @extend_schema(request=JoinInputSerializer,
                   responses={200: JoinOutputSerializer, 201: JoinOutputSerializer, 400: RaterDetailSerializer,
                              404: RaterDetailSerializer, 409: RaterDetailSerializer})
    def post(self, request, slug):
        data = JoinInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if not data.validated_data["consent"]:
            return Response({"detail": "Taking part needs your consent: send consent: true.", "code": "consent"},
                            status=400)
        study = _study(slug)
        params = request.data if isinstance(request.data, dict) else {}
        try:
            panel = raters.crowd_panel(study=study, name=data.validated_data.get("panel", ""))
            external_id, kept = raters.crowd_params(panel, {**params, "external_id": data.validated_data.get("external_id")})
            rater, created = raters.crowd_join(panel=panel, external_id=external_id, params=kept, consent=True)
            raters.rater_may_continue(rater)
        except raters.JoinRefused as exc:
            return _refused(exc, JOIN_STATUS)
        rater_session.remember(request._request, rater)
        body = {"status": "created" if created else "resumed",
                "qualification": raters.qualification_items(panel) if raters.needs_qualification(rater) else [],
                "next": reverse("api-rate-next", args=[slug]), "csrf_token": get_token(request._request)}
        return Response(JoinOutputSerializer(body).data, status=201 if created else 200)


class RaterQualificationApi(_RaterApi):
    """Answer the panel's qualification (one attempt). Raters who joined this study."""

    @extend_schema(request=QualificationInputSerializer,
                   responses={200: QualificationOutputSerializer, 400: RaterDetailSerializer, 403: RaterDetailSerializer})
    def post(self, request, slug):
        rater, refusal = self.rater_in(slug)
        if refusal:
            return refusal
        data = QualificationInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            passed = raters.rater_qualify(rater=rater, answers=data.validated_data["answers"])
        except raters.JoinRefused as exc:
            return _refused(exc, JOIN_STATUS)
        return Response({"passed": passed})


class RaterNextApi(_RaterApi):
    """The next item to judge (or the one held). 204 when nothing is left for you."""

    @extend_schema(responses={200: NextItemSerializer, 204: OpenApiResponse(description="Nothing left: see done/"),
                              403: RaterDetailSerializer, 409: RaterDetailSerializer, 503: RaterDetailSerializer})
    def get(self, request, slug):
        rater, refusal = self.rater_in(slug)
        if refusal:
            return refusal
        if raters.needs_qualification(rater):
            return Response({"detail": "Answer the qualification first.", "code": "qualification"}, status=403)
        result = queue.assignment_next(rater=rater)
        if result.state == queue.State.ITEM:
            item = queue.shown_item(result.assignment, rater.panel.study)
            item.progress = queue.rater_progress(rater=rater, study=rater.panel.study, done=result.completed)
            return Response(NextItemSerializer(item).data)
        if result.state in (queue.State.DONE, queue.State.CAP, queue.State.FULL):
            if result.state != queue.State.FULL:
                raters.rater_finish(rater=rater)
            return Response(status=204)
        if result.state == queue.State.BUSY:
            return Response({"detail": "Busy; ask again in a moment."}, status=503, headers={"Retry-After": "1"})
        message = "This study is closed." if result.state == queue.State.CLOSED else "This study is not open yet."
        return Response({"detail": message, "code": result.state}, status=409)


class RaterDoneApi(_RaterApi):
    """The completion code, once a rater has finished."""

    @extend_schema(responses={200: DoneSerializer, 403: RaterDetailSerializer})
    def get(self, request, slug):
        rater, refusal = self.rater_in(slug)
        if refusal:
            return refusal
        if rater.finished_at is None:
            return Response({"detail": "Not finished yet: judge until next/ answers 204."}, status=403)
        return Response({"completion_code": rater.panel.completion_code, "completion_url": rater.panel.completion_url})


class _AssignmentApi(_RaterApi):
    throttle_classes = [SubmitThrottle]
    submit = None  # the service that completes an assignment (judging.judgment_submit or skip_submit)

    def complete(self, public_id, data: serializers.Serializer, **extra) -> Response:
        rater_ids = rater_session.rater_ids(self.request._request)
        if not data.is_valid():
            # Someone else's assignment is "not found" whatever was sent (checked only here:
            # the service checks ownership itself on the way to a write).
            if not Assignment.objects.filter(public_id=public_id, rater_id__in=rater_ids).exists():
                return _refused(judging.JudgingRefused("not_yours", "No assignment with this id among yours."),
                                JUDGE_STATUS)
            data.is_valid(raise_exception=True)
        try:
            recorded = self.submit(public_id=public_id, rater_ids=rater_ids, **extra, **data.validated_data)
        except judging.JudgingRefused as exc:
            return _refused(exc, JUDGE_STATUS)
        except raters.JoinRefused as exc:
            return _refused(exc, JOIN_STATUS)
        return Response(RecordedSerializer(recorded).data, status=200 if recorded.replayed else 201)


class JudgmentCreateApi(_AssignmentApi):
    """Submit the judgment of an assignment. Idempotent by client_key. Rate-limited."""

    submit = staticmethod(judging.judgment_submit)

    @extend_schema(request=JudgmentInputSerializer,
                   responses={201: RecordedSerializer, 200: RecordedSerializer, 400: RaterDetailSerializer,
                              404: RaterDetailSerializer, 409: RaterDetailSerializer})
    def post(self, request, public_id):
        return self.complete(public_id, JudgmentInputSerializer(data=request.data), source="api")


class AssignmentSkipApi(_AssignmentApi):
    """"Can't judge" this assignment, with a reason. Idempotent by client_key."""

    submit = staticmethod(judging.skip_submit)

    @extend_schema(request=SkipInputSerializer,
                   responses={201: RecordedSerializer, 200: RecordedSerializer, 400: RaterDetailSerializer,
                              404: RaterDetailSerializer, 409: RaterDetailSerializer})
    def post(self, request, public_id):
        return self.complete(public_id, SkipInputSerializer(data=request.data))


# --- researcher views ----------------------------------------------------------------------------

class PanelInvitesApi(APIView):
    """List or create a panel's invites in bulk. Researchers and admins."""

    permission_classes = [IsResearcher]

    @extend_schema(responses=InviteOutputSerializer(many=True))
    def get(self, request, panel_id):
        panel = get_object_or_404(Panel, pk=panel_id)
        return Response(InviteOutputSerializer(panel.invites.order_by("id"), many=True,
                                               context={"request": request}).data)

    @extend_schema(request=InviteInputSerializer, responses={201: InviteOutputSerializer(many=True),
                                                             400: RaterDetailSerializer})
    def post(self, request, panel_id):
        panel = get_object_or_404(Panel, pk=panel_id)
        data = InviteInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            invites = raters.invites_create(panel=panel, **data.validated_data)
        except raters.JoinRefused as exc:
            return _refused(exc, JOIN_STATUS)
        return Response(InviteOutputSerializer(invites, many=True, context={"request": request}).data,
                        status=status.HTTP_201_CREATED)


class InviteRevokeApi(APIView):
    """Revoke one invite: its link stops working, also for a rater who already used it."""

    permission_classes = [IsResearcher]

    @extend_schema(request=None, responses={200: RevokedSerializer})
    def post(self, request, pk):
        invite = get_object_or_404(Invite, pk=pk)
        return Response({"revoked": raters.invites_revoke(invites=Invite.objects.filter(pk=invite.pk))})
