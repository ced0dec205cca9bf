"""Feature-flag rollout bucketing (db/flags.py)."""

from db.flags import in_rollout

USERS = [f"user-{i}" for i in range(10_000)]


def test_a_rollout_takes_close_to_its_percentage():
    assert 2200 < sum(in_rollout("f", u, 25) for u in USERS) < 2800


def test_raising_the_percentage_drops_nobody():
    assert {u for u in USERS if in_rollout("f", u, 25)} <= {u for u in USERS if in_rollout("f", u, 50)}


def test_0_and_100_percent_are_nobody_and_everybody():
    assert not any(in_rollout("f", u, 0) for u in USERS)
    assert all(in_rollout("f", u, 100) for u in USERS)
