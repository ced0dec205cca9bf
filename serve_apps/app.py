"""Serve application builders, referenced by cluster/serve_config.yaml (`serve deploy`)."""

from __future__ import annotations

from typing import Any

from ray.serve import Application

from cluster.settings import StackSettings
from serve_apps.bookings import BookingApi
from serve_apps.noop import NoopApi


def build_bookings_app(args: dict[str, Any]) -> Application:
    """args: a StackSettings dict (the launcher passes its own; a Serve config passes YAML)."""
    settings = StackSettings.model_validate(args)
    return BookingApi.bind(settings.model_dump(mode="json"))


def build_noop_app(args: dict[str, Any] | None = None) -> Application:
    return NoopApi.bind()
