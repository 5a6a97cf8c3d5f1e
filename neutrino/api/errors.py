"""The one table from domain error family to HTTP status, and the NeutronError body."""

from __future__ import annotations

from neutrino.services import errors as e

STATUS_BY_FAMILY: tuple[tuple[type[e.NeutronError], int], ...] = (
    (e.BadRequest, 400),
    (e.NotAuthorized, 403),
    (e.NotFound, 404),
    (e.Conflict, 409),
    (e.PreconditionFailed, 412),
    (e.ServiceUnavailable, 503),
)


class MalformedRequestBody(e.BadRequest):
    message = "Malformed request body: {reason}."


class HTTPNotFound(e.NotFound):
    message = "The resource could not be found."


class HTTPMethodNotAllowed(e.NeutronError):
    message = "The method is not allowed for the requested URL."


class Unauthorized(e.NeutronError):
    message = "Authentication required"


def status_for(error: e.NeutronError) -> int:
    if isinstance(error, Unauthorized):
        return 401
    if isinstance(error, HTTPMethodNotAllowed):
        return 405
    for family, status in STATUS_BY_FAMILY:
        if isinstance(error, family):
            return status
    return 500


def body_for(error: e.NeutronError) -> dict:
    return {"NeutronError": {"type": error.type, "message": str(error), "detail": ""}}
