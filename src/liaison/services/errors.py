"""Errors a use case raises; the API maps each kind to one HTTP status."""

from __future__ import annotations


class ServiceError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Invalid(ServiceError):
    status, code = 422, "invalid"


class NotFound(ServiceError):
    status, code = 404, "not_found"


class Forbidden(ServiceError):
    status, code = 403, "forbidden"


class Unauthorized(ServiceError):
    status, code = 401, "unauthorized"


class Exists(ServiceError):
    status, code = 409, "conflict"


class Refused(ServiceError):
    """A rule of the domain refuses the action (two-person rule, tearline widening...)."""

    status, code = 409, "refused"


class TooMany(ServiceError):
    status, code = 429, "too_many_requests"


class Unavailable(ServiceError):
    """A shared service the node needs (its stream, its database) cannot be reached now;
    nothing was done, the same request may be sent again."""

    status, code = 503, "unavailable"
