"""Authentication for the rater API: site users by session, crowd raters by their session.

Crowd raters have no account; ``annotations.rater_session`` finds them. DRF's
``SessionAuthentication`` checks CSRF only for logged-in users, which would leave a rater's
session open to cross-site posts. This class checks CSRF for every request whose session
carries a user *or* a rater, so a browser rater's POST needs the ``X-CSRFToken`` header
(the pages send it; the join response sets the cookie). A first join, with no session yet,
needs none: there is nothing to forge. The request body must be JSON besides (see the
views' parser classes), which a cross-site form cannot send without a CORS preflight.
"""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import SessionAuthentication

from annotations import rater_session


class RaterSessionAuthentication(SessionAuthentication):
    def authenticate(self, request):
        user = getattr(request._request, "user", None)
        if user is not None and user.is_authenticated and user.is_active:
            self.enforce_csrf(request)
            return (user, None)
        if rater_session.has_rater(request._request):
            self.enforce_csrf(request)
        return None



class RaterSessionScheme(OpenApiAuthenticationExtension):
    """How the schema describes the rater session: the session cookie set by join."""

    target_class = "annotations.api.authentication.RaterSessionAuthentication"
    name = "raterSession"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": "sessionid",
                "description": "Session cookie set by POST /api/rate/<slug>/join/ (crowd) or an invite link."}
