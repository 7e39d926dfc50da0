"""Errors raised by services and turned into `{"code", "message"}` responses by the API."""


class ApplicationError(Exception):
    """A refusal the caller can act on, with a stable machine-readable code."""

    status_code = 400

    def __init__(self, code: str, message: str, *, status_code: int | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        if status_code is not None:
            self.status_code = status_code


class NotFound(ApplicationError):
    status_code = 404


class Forbidden(ApplicationError):
    status_code = 403
