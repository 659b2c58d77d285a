"""Domain errors. Services raise these; the API exception handler and views turn them into responses."""


class ApplicationError(Exception):
    """A business-rule failure with a message safe to show to the user.

    ``status_code`` is the HTTP status the API answers with; ``code`` a stable machine-readable slug.
    """

    status_code = 400
    code = "invalid"

    def __init__(
        self, message: str, *, extra: dict[str, object] | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra or {}
        self.headers = headers or {}  # e.g. Retry-After on a 429


class NotFoundError(ApplicationError):
    status_code = 404
    code = "not_found"


class ConflictError(ApplicationError):
    status_code = 409
    code = "conflict"


class ForbiddenError(ApplicationError):
    """The caller is a member of the workspace but their role does not allow the action."""

    status_code = 403
    code = "permission_denied"


class TooManyRequestsError(ApplicationError):
    """A quota or rate limit refused the request (the API answers 429; ``config.metrics.RejectionCountMiddleware``
    counts every 429 response by its code)."""

    status_code = 429
    code = "quota_exceeded"
