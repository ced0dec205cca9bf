"""Structured (JSON line) logs; fields passed with `extra=` become keys, e.g. request_id."""

from __future__ import annotations

import json
import logging

SERVE_LOGGER = "ray.serve"  # Serve gives this logger the replica's log-file handlers in every replica
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"ts": self.formatTime(record), "level": record.levelname, "logger": record.name,
                 "msg": record.getMessage()}
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_json_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


class _ToServeLogger(logging.Handler):
    """Hands records to Serve's logger, whose handlers write the replica's JSON log file."""

    def emit(self, record: logging.LogRecord) -> None:
        logging.getLogger(SERVE_LOGGER).handle(record)


def configure_serve_replica_logging(level: int = logging.INFO) -> None:
    """Inside a Serve replica: application logs go through Serve's own logger (JSON with the
    replica, route and Serve's request id, which is the X-Request-ID we answer with), into the
    replica's log file the dashboard shows. A stream handler would write to stderr, which Serve
    redirects line by line into that same logger after a stack walk per line, a cost paid on
    every request under load."""
    root = logging.getLogger()
    root.handlers[:] = [_ToServeLogger()]
    root.setLevel(level)
