"""Which stable version a rollback returns to after a sequence of promotions and rollbacks."""

from ml.registry import previous_stable


def test_rollbacks_walk_back_through_promotions():
    assert previous_stable([]) is None
    assert previous_stable([("promote", 1)]) is None
    history = [("promote", 1), ("canary", 1), ("promote", 2), ("promote", 2), ("abort_canary", 2), ("promote", 3)]
    assert previous_stable(history) == 2, "re-promoting the stable version is not a step back"
    history.append(("rollback", 2))
    assert previous_stable(history) == 1, "a second rollback goes further back, not to 3"
    history += [("rollback", 1), ("promote", 4)]
    assert previous_stable(history) == 1
