"""Domain errors: a refusal in the domain's own terms, with a code such as NOT_FOUND, CONFLICT or
UNAVAILABLE. They live in the bottom layer so that every layer can raise them (entity clients,
the model client); only serve_apps/errors.py knows the HTTP status of each code."""

from __future__ import annotations

from typing import Any

import asyncpg

# The database cannot be reached, is restarting or dropped the connection: the same request may
# go through when sent again (every write the API takes is idempotent when repeated). asyncpg's
# InternalClientError is a connection left in a broken state by a restart ("cannot switch to
# state 12"), seen once in a 30-minute fault soak.
DATABASE_UNAVAILABLE = (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError,
                        asyncpg.OperatorInterventionError, asyncpg.exceptions.InternalClientError)
DATABASE_UNAVAILABLE_MESSAGE = "The database is unavailable for a moment; please retry"


class DomainError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def unwrap(reply: dict[str, Any], key: str) -> Any:
    """The `key` of an entity's reply, or the reply's domain error raised."""
    if "error" in reply:
        raise DomainError(reply["error"], reply["message"])
    return reply[key]
