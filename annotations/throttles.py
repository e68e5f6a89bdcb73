"""Rate limits on joining and submitting (rates in settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]).

Joining is limited per client address (it creates raters). Submitting is limited per rater
when the session has one, so many crowd workers behind one address are not throttled
together; otherwise per address. The same classes guard the HTML pages (``allowed``).
"""

from rest_framework.throttling import SimpleRateThrottle

from annotations import rater_session


class JoinThrottle(SimpleRateThrottle):
    scope = "join"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class SubmitThrottle(SimpleRateThrottle):
    scope = "submit"

    def get_cache_key(self, request, view):
        ids = rater_session.rater_ids(request)
        ident = "r" + "-".join(map(str, sorted(ids))) if ids else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}


def allowed(throttle_class, request) -> bool:
    """For plain Django views: True if the request is within the rate."""
    return throttle_class().allow_request(request, None)
