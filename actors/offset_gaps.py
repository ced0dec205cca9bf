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

The same broker, restarted without its log, acknowledges records produced while its topics are
being created again and then never serves them: its ListOffsets end counts them, its fetches
answer nothing with a high watermark below them. At the end of a partition no later record
shows that hole, so a consumer group would never reach the end (its lag would never be 0, and
the delivery audit, which sends lost events again only to a reader that has read everything,
would wait forever). When the fetches' high watermark has stayed at the position for
UNSERVED_END_SECONDS while ListOffsets lists records past it, the guard moves on to that listed
end, with an error logged, and hands the position to the consumer to commit.
"""

from __future__ import annotations

import asyncio
import logging
import time

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import IllegalStateError, KafkaError
from aiokafka.structs import ConsumerRecord

log = logging.getLogger(__name__)

MAX_REFETCHES = 5
UNSERVED_END_SECONDS = 3.0
UNSERVED_CHECK_SECONDS = 1.0  # at most one ListOffsets request a second, and only while idle
LIST_OFFSETS_TIMEOUT = 5.0
Batches = dict[TopicPartition, list[ConsumerRecord]]


async def log_ends(consumer: AIOKafkaConsumer, partitions) -> dict[TopicPartition, int]:
    """Where each partition's log ends as far as the consumer can tell: the larger of the
    broker's ListOffsets answer and the last fetch's high watermark, as the embedded broker
    undercounts either at times (batched records in ListOffsets, records it does not serve in
    the high watermark)."""
    partitions = list(partitions)
    listed = await consumer.end_offsets(partitions) if partitions else {}
    assigned = consumer.assignment()  # highwater() refuses a partition a rebalance took meanwhile
    return {tp: max(listed.get(tp) or 0, consumer.highwater(tp) or 0) for tp in partitions if tp in assigned}


class OffsetGapGuard:
    """Filters one consumer's getmany() results at a time; remembers the offset expected next per
    partition. `refetched` counts the holes found, over every consumer it followed."""

    def __init__(self, name: str, unserved_end_seconds: float = UNSERVED_END_SECONDS,
                 unserved_check_seconds: float = UNSERVED_CHECK_SECONDS):
        self.name = name
        self.unserved_end_seconds = unserved_end_seconds
        self.unserved_check_seconds = unserved_check_seconds
        self.refetched = 0
        self._consumer: AIOKafkaConsumer | None = None
        self._expected: dict[TopicPartition, int] = {}
        self._tries: dict[tuple[TopicPartition, int], int] = {}
        # (partition, position) -> (first seen, the listed end then)
        self._unserved_since: dict[tuple[TopicPartition, int], tuple[float, int]] = {}
        self._next_unserved_check = 0.0
        self._passed_ends: dict[TopicPartition, int] = {}

    def follow(self, consumer: AIOKafkaConsumer) -> None:
        """A newly started consumer: expectations start over from wherever it begins reading."""
        self._consumer = consumer
        self._expected.clear()
        self._tries.clear()
        self._unserved_since.clear()
        self._passed_ends.clear()

    async def getmany(self, **options) -> Batches:
        """consumer.getmany(**options), filtered by contiguous(). A partition met for the first
        time is expected at the consumer's position before the fetch (its committed offset, or
        where auto_offset_reset put it), so a hole before its first record counts too."""
        for tp in self._consumer.assignment() - self._expected.keys():
            try:
                self._expected[tp] = await self._consumer.position(tp)
            except IllegalStateError:  # revoked by a rebalance meanwhile
                pass
        fetched = await self._consumer.getmany(**options)
        if not fetched:
            await self._pass_unserved_ends()
        return self.contiguous(fetched)

    async def _pass_unserved_ends(self) -> None:
        """After a fetch that found nothing at all (so nothing is buffered either): a partition
        whose fetches report nothing past our position (high watermark <= position) while
        ListOffsets lists records there, for unserved_end_seconds, holds records the broker does
        not serve. On a Kafka broker the two ends agree, and records it lists it also serves."""
        now = time.monotonic()
        if now < self._next_unserved_check:
            return
        self._next_unserved_check = now + self.unserved_check_seconds
        partitions = list(self._consumer.assignment())
        try:
            listed = await asyncio.wait_for(self._consumer.end_offsets(partitions), LIST_OFFSETS_TIMEOUT) \
                if partitions else {}
        except (KafkaError, asyncio.TimeoutError):  # the broker away: the consumer's next fetch meets it
            return
        now, unserved = time.monotonic(), {}
        for tp in set(partitions) & self._consumer.assignment():  # not one a rebalance took meanwhile
            fetched_end, listed_end = self._consumer.highwater(tp), listed.get(tp) or 0
            try:
                position = await self._consumer.position(tp)
            except IllegalStateError:  # revoked by a rebalance meanwhile
                continue
            if fetched_end is None or fetched_end > position or listed_end <= position:
                continue
            seen = self._unserved_since.get((tp, position))
            if seen is None or now - seen[0] < self.unserved_end_seconds:  # a first sighting, or not long yet
                unserved[(tp, position)] = seen or (now, listed_end)
                continue
            since, end = seen
            log.error("%s: offsets %d to %d of %s were not served for %.0f s; going on without them",
                      self.name, position, end - 1, tp, now - since)
            self._consumer.seek(tp, end)
            self._expected[tp] = end
            self._passed_ends[tp] = end
        self._unserved_since = unserved

    def take_passed_ends(self) -> dict[TopicPartition, int]:
        """The positions the guard moved partitions to past records never served, since the
        last call, of partitions the consumer still holds: a consumer group commits them, as it
        has nothing there to apply."""
        passed, self._passed_ends = self._passed_ends, {}
        assigned = self._consumer.assignment()
        return {tp: offset for tp, offset in passed.items() if tp in assigned}

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
