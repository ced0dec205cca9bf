"""Garbage-collector settings for processes that hold many long-lived objects and churn through
short-lived ones: vehicle and booking shards, device bridges, the API replicas.

With CPython's default thresholds (700, 10, 10) the tasks of a delivered batch, still waiting
on their COPY, survive into the old generation by the thousand; that soon triggers full
collections, each walking every activated entity and everything Ray and the libraries
imported, and they grow with the number of activated entities (tests/bench/gc_ingest.py shows
the difference side by side). Freezing what exists at start-up keeps the imported modules out
of those walks, and a larger first threshold lets short-lived objects die before a collection
sees them. Cyclic garbage waits a little longer to be freed; everything else is still freed by
reference counting at once.
"""

from __future__ import annotations

import gc

THRESHOLDS = (20_000, 10, 10)


def tune_for_many_long_lived_objects() -> None:
    """Call once, after the process imported what it needs."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
