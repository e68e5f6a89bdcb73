"""Which rater a browser is: raters have no site account, their session remembers them.

The session maps a study id to the rater id in that study (one browser may take part in
several studies). The session is server-side; the cookie holds only its random key.
"""

from __future__ import annotations

from annotations.models import Rater
from annotations.services.raters import rater_in_study

SESSION_KEY = "raters"


def remember(request, rater: Rater) -> None:
    if not request.session.get(SESSION_KEY):
        request.session.cycle_key()  # a fresh key when a rater is first remembered: no session fixation
    raters = dict(request.session.get(SESSION_KEY, {}))
    raters[str(rater.panel.study_id)] = rater.pk
    request.session[SESSION_KEY] = raters


def rater_ids(request) -> list[int]:
    return [int(v) for v in request.session.get(SESSION_KEY, {}).values()]


def has_rater(request) -> bool:
    return bool(request.session.get(SESSION_KEY))


def rater_for(request, slug: str) -> Rater | None:
    """The session's rater in the study ``slug``, with panel, study and invite loaded; None if none."""
    return rater_in_study(rater_ids(request), slug)
