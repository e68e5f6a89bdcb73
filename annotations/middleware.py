"""Turn a lost database connection into a clear 503 instead of a 500 page.

Two places meet the database outside a view: the view itself (``process_exception`` below)
and the session, saved after the view by the session middleware. Django turns a database
error while saving a session into a 400 "session interrupted" (meant for a session deleted by
a concurrent logout); ``SessionMiddleware`` below answers the same 503 as a view would.
"""

from django.contrib.sessions import middleware as sessions
from django.contrib.sessions.exceptions import SessionInterrupted
from django.db import InterfaceError, OperationalError
from django.http import JsonResponse

LOST = (OperationalError, InterfaceError)


def database_unavailable() -> JsonResponse:
    response = JsonResponse(
        {"detail": "The database is unavailable right now. Nothing was saved; please retry in a moment."},
        status=503,
    )
    response["Retry-After"] = "5"
    return response


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, LOST):
            return database_unavailable()
        return None


class SessionMiddleware(sessions.SessionMiddleware):
    """Django's, but a session that cannot be saved because the database is away gets a 503."""

    def process_response(self, request, response):
        try:
            return super().process_response(request, response)
        except LOST:
            return database_unavailable()
        except SessionInterrupted as exc:
            # SessionInterrupted <- UpdateError <- the database error, when that is the cause.
            cause = exc.__context__.__context__ if exc.__context__ is not None else None
            if isinstance(cause, LOST):
                return database_unavailable()
            raise
