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
