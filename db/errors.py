"""Domain errors: a refusal in the domain's own terms, with a code such as NOT_FOUND, CONFLICT or
UNAVAILABLE. They live in the bottom layer so that every layer can raise them (entity clients,
the model client); only serve_apps/errors.py knows the HTTP status of each code."""

from __future__ import annotations

from typing import Any


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
