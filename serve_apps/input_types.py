"""Field types for what clients send: each refuses, with a 400, what the storage below would
otherwise fail on with a 500 or keep in a form that breaks later reads (db/timestamps.py)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import Path
from pydantic import AfterValidator, AwareDatetime, BeforeValidator

from db.readings import PID_PATTERN, VEHICLE_ID_PATTERN
from db.timestamps import instant_problem, text_problem

MAX_ADAPTER_JSON_BYTES = 4096
# A date, then a time: pydantic would also take a number as unix seconds ("0.5", 0, true).
T = TypeVar("T")
_ISO_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def _iso_text(value: Any) -> Any:
    if not isinstance(value, str) or not _ISO_DATETIME.match(value):
        raise ValueError("expected an ISO 8601 date-time with a time zone, e.g. 2026-12-01T10:00:00Z")
    return value


def _refusing(problem_of: Callable[[T], str | None]) -> Callable[[T], T]:
    """A pydantic validator raising the problem `problem_of` finds in a value, if any."""
    def check(value: T) -> T:
        problem = problem_of(value)
        if problem:
            raise ValueError(problem)
        return value
    return check


_storable_instant = _refusing(instant_problem)
_storable_text = _refusing(text_problem)


def _storable_json(value: dict[str, Any]) -> dict[str, Any]:
    def walk(node: Any) -> None:
        if isinstance(node, str):
            _storable_text(node)
        elif isinstance(node, dict):
            for key, item in node.items():
                _storable_text(key)
                walk(item)
        elif isinstance(node, list):
            for item in node:
                walk(item)
    walk(value)
    if len(json.dumps(value)) > MAX_ADAPTER_JSON_BYTES:
        raise ValueError(f"must be at most {MAX_ADAPTER_JSON_BYTES} bytes of JSON")
    return value


Instant = Annotated[AwareDatetime, BeforeValidator(_iso_text), AfterValidator(_storable_instant)]
Text = Annotated[str, AfterValidator(_storable_text)]
AdapterSettings = Annotated[dict[str, Any], AfterValidator(_storable_json)]
VehicleIdPath = Annotated[str, Path(pattern=VEHICLE_ID_PATTERN, description="the vehicle's id")]
