"""The shard map (actors/shard_map.py): stable slots, even spreads, and rescaling that moves few
slots, a step at a time, with a rising epoch."""

from collections import Counter

import pytest

from actors.shard_map import SLOTS, ShardMap, slot_of


def test_an_entitys_slot_is_stable_and_slots_spread_the_ids():
    ids = [f"vehicle-{i}" for i in range(10_000)]
    assert [slot_of(i) for i in ids] == [slot_of(i) for i in ids]
    counts = Counter(slot_of(i) for i in ids)
    assert len(counts) == SLOTS and min(counts.values()) > 10


@pytest.mark.parametrize("before,after", [(2, 4), (4, 3), (3, 1), (1, 5), (2, 2)])
def test_rescaling_spreads_the_slots_evenly_and_moves_only_what_it_must(before, after):
    current = ShardMap.initial(before)
    owners = current.balanced(after)
    per_shard = Counter(owners)
    assert set(per_shard) == set(range(after))
    assert max(per_shard.values()) - min(per_shard.values()) <= 1
    moved = sum(1 for old, new in zip(current.owners, owners) if old != new)
    kept_at_most = sum(min(Counter(current.owners)[s], per_shard[s]) for s in range(after))
    assert moved == SLOTS - kept_at_most


def test_steps_move_a_few_slots_each_and_raise_the_epoch():
    current = ShardMap.initial(2)
    target = current.balanced(4)
    steps = current.steps_to(target, slots_per_step=32)
    assert [s.epoch for s in steps] == list(range(2, 2 + len(steps)))
    assert steps[-1].owners == target
    previous = current
    for step in steps:
        moves = previous.moves_to(step)
        assert sum(len(slots) for targets in moves.values() for slots in targets.values()) <= 32
        previous = step


def test_an_entity_is_found_where_its_slot_is():
    shard_map = ShardMap(7, tuple([0] * (SLOTS - 1) + [1]))
    last = next(f"id-{i}" for i in range(100_000) if slot_of(f"id-{i}") == SLOTS - 1)
    assert shard_map.shard_of(last) == 1 and shard_map.shard_count == 2
    assert shard_map.slots_of(1) == [SLOTS - 1]
