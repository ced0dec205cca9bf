"""The outbox's retry back-off (db/outbox.py)."""

from db.outbox import backoff_seconds


def test_backoff_doubles_per_failure():
    assert [backoff_seconds(n) for n in (1, 2, 3, 4)] == [1, 2, 4, 8]


def test_backoff_is_capped_at_a_minute():
    assert backoff_seconds(20) == 60
