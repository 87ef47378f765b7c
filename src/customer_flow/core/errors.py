"""One exception tree for Customer_Flow.

Domain modules raise these; the interfaces turn them into exit codes, HTTP status codes
and messages. Every error carries a stable ``code`` that scripts and API clients can rely on,
and, where one field is at fault, the name of that ``field``::

    CustomerFlowError                 any error the user can act on (CLI exit 1)
     ├── ValidationError              a value breaks a rule            (HTTP 422)
     │    └── TooLargeError           more than this door reads at once (HTTP 413)
     ├── NotFoundError                no such record                   (HTTP 404)
     ├── ConflictError                clashes with what is stored      (HTTP 409)
     │    ├── StateError              not allowed in the record's current state
     │    └── DuplicateError          looks like a live customer (allow_duplicate goes on)
     ├── PermissionDeniedError        the actor's role does not allow it (HTTP 403)
     ├── ConfigError                  a settings or ticket-types file is wrong
     ├── StorageError                 the database cannot be reached or opened
 ├── MailServerError              a mail server cannot be reached or refuses (HTTP 502)
     ├── AuthenticationError          no valid login, session or token  (HTTP 401)
     └── TooManyAttemptsError         login throttled                   (HTTP 429)
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AuthenticationError",
    "ConfigError",
    "ConflictError",
    "CustomerFlowError",
    "DuplicateError",
    "MailServerError",
    "NotFoundError",
    "PermissionDeniedError",
    "StateError",
    "StorageError",
    "TooLargeError",
    "TooManyAttemptsError",
    "ValidationError",
    "cut",
]


#: An error's message is one line a person reads: longer ones are cut (a file's 50 MB header
#: would otherwise be quoted whole).
MAX_MESSAGE = 1000


def cut(text: str, limit: int = MAX_MESSAGE) -> str:
    """``text``, cut to about ``limit`` characters, saying how long it was."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… (cut: {len(text):,} characters)"


class CustomerFlowError(Exception):
    """Base of every error a user can act on."""

    code = "error"
    http_status = 400

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None):
        message = cut(message)
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.field = field

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        # Subclasses add keyword-only arguments; rebuild from the state so that an error raised
        # in a worker process crosses back to its parent (multiprocessing pickles it).
        return (_rebuild, (type(self), self.message, dict(self.__dict__)))


def _rebuild(cls: type[CustomerFlowError], message: str, state: dict[str, Any]) -> Any:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


class ValidationError(CustomerFlowError):
    """A value breaks a rule: a bad email, an unknown priority, a missing name."""

    code = "invalid"
    http_status = 422


class TooLargeError(ValidationError):
    """The input is more than is read here: a web import past its row limit, say. The same
    input may be fine elsewhere (the CLI has no row limit)."""

    code = "too_large"
    http_status = 413


class NotFoundError(CustomerFlowError):
    """The record asked for does not exist."""

    code = "not_found"
    http_status = 404


class ConflictError(CustomerFlowError):
    """The change clashes with what is stored: a duplicate email, an ID already used."""

    code = "conflict"
    http_status = 409


class StateError(ConflictError):
    """The change is not allowed in the record's current state (e.g. it is in the trash)."""

    code = "invalid_state"


class PermissionDeniedError(CustomerFlowError):
    """The actor's role does not allow the operation."""

    code = "forbidden"
    http_status = 403


class ConfigError(CustomerFlowError):
    """A settings value or a configuration file (such as ticket_types.json) is wrong."""

    code = "bad_config"
    http_status = 422


class StorageError(CustomerFlowError):
    """The database cannot be reached, opened or migrated."""

    code = "storage"
    http_status = 503


class MailServerError(CustomerFlowError):
    """A mail server (IMAP or SMTP) cannot be reached, refuses the login or the message.
    ``temporary``: worth trying again later (a 4xx answer, a lost connection)."""

    code = "mail_server"
    http_status = 502

    def __init__(self, message: str, *, temporary: bool = True, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.temporary = temporary


# -- logins (web issue) ---------------------------------------------------------------------


class AuthenticationError(CustomerFlowError):
    """No valid login: a wrong password, an unknown, expired or revoked session or token."""

    code = "unauthenticated"
    http_status = 401


class TooManyAttemptsError(CustomerFlowError):
    """Too many failed logins: throttled for ``retry_after`` seconds (HTTP 429 with a
    ``Retry-After`` header)."""

    code = "too_many_attempts"
    http_status = 429

    def __init__(
        self,
        message: str,
        *,
        retry_after: int = 1,
        code: str | None = None,
        field: str | None = None,
    ):
        super().__init__(message, code=code, field=field)
        self.retry_after = retry_after


# -- duplicates ----------------------------------------------------------------------------------


class DuplicateError(ConflictError):
    """The customer looks like one or more live customers; ``allow_duplicate`` goes on anyway.

    ``candidates`` lists them (``DuplicateCandidate``), each with the reasons it matched.
    """

    code = "possible_duplicate"

    def __init__(self, message: str, *, candidates: list[object]):
        super().__init__(message)
        self.candidates = candidates
