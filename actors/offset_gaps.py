"""A guard for Kafka consumers against fetches that skip records.

Our producers (the outbox relays) write neither transactions nor compacted topics, so the
offsets of a partition have no holes, and a record past the offset a consumer expects next means
the fetch skipped records. aiokafka takes such a jump silently (Kafka allows it in compacted
topics), and the embedded Tansu broker answers one now and then while a partition is being
written, so a consumer group would never see the records in between. OffsetGapGuard passes on
each partition's records only up to a hole and seeks the partition back to the first missing
offset, so the next fetch reads them again.

A jump that stays (a compacted topic, transaction markers on another broker) is let through
after MAX_REFETCHES tries, with an error logged, rather than stalling the partition.
"""

from __future__ import annotations

import logging

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import IllegalStateError
from aiokafka.structs import ConsumerRecord

log = logging.getLogger(__name__)

MAX_REFETCHES = 5
Batches = dict[TopicPartition, list[ConsumerRecord]]


class OffsetGapGuard:
    """Filters one consumer's getmany() results at a time; remembers the offset expected next per
    partition. `refetched` counts the holes found, over every consumer it followed."""

    def __init__(self, name: str):
        self.name = name
        self.refetched = 0
        self._consumer: AIOKafkaConsumer | None = None
        self._expected: dict[TopicPartition, int] = {}
        self._tries: dict[tuple[TopicPartition, int], int] = {}

    def follow(self, consumer: AIOKafkaConsumer) -> None:
        """A newly started consumer: expectations start over from wherever it begins reading."""
        self._consumer = consumer
        self._expected.clear()
        self._tries.clear()

    async def getmany(self, **options) -> Batches:
        """consumer.getmany(**options), filtered by contiguous(). A partition met for the first
        time is expected at the consumer's position before the fetch (its committed offset, or
        where auto_offset_reset put it), so a hole before its first record counts too."""
        for tp in self._consumer.assignment() - self._expected.keys():
            try:
                self._expected[tp] = await self._consumer.position(tp)
            except IllegalStateError:  # revoked by a rebalance meanwhile
                pass
        return self.contiguous(await self._consumer.getmany(**options))

    def contiguous(self, batches: Batches) -> Batches:
        """Each partition's records up to the first hole. A record before the expected offset is
        a seek or a rebalance going back (records are read again, which consumers de-duplicate);
        the expectation starts over from it."""
        out: Batches = {}
        for tp, records in batches.items():
            taken: list[ConsumerRecord] = []
            for record in records:
                expected = self._expected.get(tp, record.offset)
                if record.offset > expected and not self._give_up(tp, expected, record.offset):
                    self._consumer.seek(tp, expected)
                    self.refetched += 1
                    log.warning("%s: fetch of %s skipped offsets %d to %d; reading them again",
                                self.name, tp, expected, record.offset - 1)
                    break
                if self._tries:
                    self._tries.pop((tp, record.offset), None)  # a hole read again
                taken.append(record)
                self._expected[tp] = record.offset + 1
            if taken:
                out[tp] = taken
        return out

    def _give_up(self, tp: TopicPartition, expected: int, offset: int) -> bool:
        tries = self._tries[(tp, expected)] = self._tries.get((tp, expected), 0) + 1
        if tries <= MAX_REFETCHES:
            return False
        del self._tries[(tp, expected)]
        log.error("%s: offsets %d to %d of %s stayed missing after %d fetches; going on without them",
                  self.name, expected, offset - 1, tp, MAX_REFETCHES)
        return True
