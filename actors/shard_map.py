"""Which shard hosts which entities: the shard map (Akka Cluster Sharding's coordinator state).

An entity id hashes to one of SLOTS slots, for good; a slot belongs to one shard actor, and the
map of slot -> shard changes when the shards are scaled. Every change raises the map's epoch, so
a process holding two maps knows which is newer. The system controller decides the map and
keeps it in PostgreSQL (db/shard_maps.py); shards and routers hold copies and learn newer ones
from each other (actors/entity_runtime.py).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

SLOTS = 256  # more than any shard count fleetray scales to, so each shard gets several slots


def slot_of(entity_id: str) -> int:
    """Stable across processes and restarts (unlike hash(), which is salted per process)."""
    digest = hashlib.blake2b(entity_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % SLOTS


@dataclass(frozen=True)
class ShardMap:
    epoch: int
    owners: tuple[int, ...]  # slot -> index of the shard that hosts it

    @classmethod
    def initial(cls, shard_count: int) -> "ShardMap":
        return cls(1, tuple(slot % shard_count for slot in range(SLOTS)))

    def supersedes(self, other: "ShardMap | None") -> bool:
        """Whether a holder of `other` (or of none yet) should take this map instead."""
        return other is None or self.epoch > other.epoch

    @property
    def shard_count(self) -> int:
        return max(self.owners) + 1

    def shard_of(self, entity_id: str) -> int:
        return self.owners[slot_of(entity_id)]

    def slots_of(self, shard: int) -> list[int]:
        return [slot for slot, owner in enumerate(self.owners) if owner == shard]

    def balanced(self, shard_count: int) -> tuple[int, ...]:
        """The owners for `shard_count` shards that moves the fewest slots: each shard keeps up
        to its share of the slots it has, and the rest go to the shards short of theirs."""
        share, extra = divmod(SLOTS, shard_count)
        quota = [share + (1 if shard < extra else 0) for shard in range(shard_count)]
        owners: list[int | None] = [None] * SLOTS
        kept = [0] * shard_count
        for slot, owner in enumerate(self.owners):
            if owner < shard_count and kept[owner] < quota[owner]:
                owners[slot] = owner
                kept[owner] += 1
        short = [shard for shard in range(shard_count) for _ in range(quota[shard] - kept[shard])]
        for slot in range(SLOTS):
            if owners[slot] is None:
                owners[slot] = short.pop()
        return tuple(owners)

    def steps_to(self, owners: tuple[int, ...], slots_per_step: int) -> list["ShardMap"]:
        """The maps from this one to `owners`, moving at most slots_per_step slots each."""
        moving = [slot for slot in range(SLOTS) if self.owners[slot] != owners[slot]]
        steps, current = [], list(self.owners)
        for start in range(0, len(moving), slots_per_step):
            for slot in moving[start:start + slots_per_step]:
                current[slot] = owners[slot]
            steps.append(ShardMap(self.epoch + len(steps) + 1, tuple(current)))
        return steps

    def moves_to(self, newer: "ShardMap") -> dict[int, dict[int, list[int]]]:
        """source shard -> target shard -> the slots that go from one to the other."""
        moves: dict[int, dict[int, list[int]]] = {}
        for slot, (old, new) in enumerate(zip(self.owners, newer.owners)):
            if old != new:
                moves.setdefault(old, {}).setdefault(new, []).append(slot)
        return moves
