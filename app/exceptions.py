"""Errors that carry their HTTP status; one handler in app.main renders them as {"detail": ...}."""

from __future__ import annotations


class AppError(Exception):
    """Base of every error a service may raise; the HTTP layer turns it into a response."""

    status_code: int = 400

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail
        # Extra response headers (Retry-After, a CORS grant for the tracker's callers).
        self.headers: dict[str, str] = {}


class BadRequest(AppError):
    status_code = 400


class Unauthorized(AppError):
    status_code = 401


class Forbidden(AppError):
    status_code = 403


class NotFound(AppError):
    status_code = 404


class Conflict(AppError):
    status_code = 409


class PayloadTooLarge(AppError):
    status_code = 413


class InvalidField(AppError):
    """A field that failed a domain check (a phone number that does not parse, say)."""

    status_code = 422

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class TooManyRequests(AppError):
    status_code = 429

    def __init__(self, detail: str, *, retry_after_s: int) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s
        self.headers["Retry-After"] = str(retry_after_s)


class ServiceUnavailable(AppError):
    status_code = 503
