"""Who may call what. Every API view names one of these classes."""

from rest_framework.permissions import BasePermission

RESEARCHERS_GROUP = "researchers"


def is_researcher(user) -> bool:
    """Admins (staff) and members of the researchers group: imports, reports, exports."""
    if not (user and user.is_authenticated and user.is_active):
        return False
    return user.is_staff or user.groups.filter(name=RESEARCHERS_GROUP).exists()


class IsResearcher(BasePermission):
    message = "Researchers and admins only."

    def has_permission(self, request, view):
        return is_researcher(request.user)


class IsAdmin(BasePermission):
    message = "Admins only."

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated and request.user.is_staff)


class HasRaterSession(BasePermission):
    """A rater who joined (crowd link or invite) in this browser session; no account needed."""

    message = "Join the study first (open your study link, or POST to /api/rate/<study>/join/)."

    def has_permission(self, request, view):
        from annotations import rater_session

        return rater_session.has_rater(request._request)


class Anyone(BasePermission):
    """Public endpoints (joining a study); they are rate-limited instead."""

    def has_permission(self, request, view):
        return True
