"""OffsetGapGuard's rules on a recording stand-in for the consumer (seeks, position, ends); the
same guard against a real broker is in tests/integration/test_offset_gaps.py."""

from types import SimpleNamespace

from aiokafka import TopicPartition

from actors.offset_gaps import MAX_REFETCHES, OffsetGapGuard

TP, OTHER = TopicPartition("t", 0), TopicPartition("t", 1)


class SeekRecorder:
    """Records seeks; getmany() answers the batches it was given, from `position` onwards."""

    def __init__(self, position: int = 0, *answers, listed_end: int = 0, highwater: int | None = None):
        self.seeks: list[tuple[TopicPartition, int]] = []
        self.position_now = position
        self.answers = list(answers)
        self.listed_end = listed_end
        self.highwater_now = highwater

    def seek(self, tp, offset):
        self.seeks.append((tp, offset))
        self.position_now = offset

    def highwater(self, tp):
        return self.highwater_now

    async def end_offsets(self, partitions):
        return {tp: self.listed_end for tp in partitions}

    def assignment(self):
        return {TP}

    async def position(self, tp):
        return self.position_now

    async def getmany(self, **options):
        return self.answers.pop(0)


def records(*offsets):
    return [SimpleNamespace(offset=o) for o in offsets]


def offsets(batches):
    return {tp: [r.offset for r in rs] for tp, rs in batches.items()}


def guard_over() -> tuple[OffsetGapGuard, SeekRecorder]:
    consumer, guard = SeekRecorder(), OffsetGapGuard("test")
    guard.follow(consumer)
    return guard, consumer


def test_records_after_a_hole_wait_and_the_partition_is_read_again_from_it():
    guard, consumer = guard_over()
    assert offsets(guard.contiguous({TP: records(0, 1, 2, 6, 7), OTHER: records(4, 5)})) == {
        TP: [0, 1, 2], OTHER: [4, 5]}
    assert consumer.seeks == [(TP, 3)] and guard.refetched == 1
    assert offsets(guard.contiguous({TP: records(3, 4, 5, 6, 7)})) == {TP: [3, 4, 5, 6, 7]}


def test_a_hole_at_the_first_record_passes_nothing_on_for_that_partition():
    guard, consumer = guard_over()
    guard.contiguous({TP: records(10, 11)})
    assert guard.contiguous({TP: records(15)}) == {} and consumer.seeks == [(TP, 12)]


def test_going_back_is_a_seek_or_rebalance_and_starts_the_expectation_over():
    guard, consumer = guard_over()
    guard.contiguous({TP: records(0, 1, 2, 3)})
    assert offsets(guard.contiguous({TP: records(1, 2)})) == {TP: [1, 2]}
    assert offsets(guard.contiguous({TP: records(3)})) == {TP: [3]} and consumer.seeks == []


def test_a_hole_that_stays_is_let_through_after_the_last_try():
    guard, consumer = guard_over()
    guard.contiguous({TP: records(0)})
    for _ in range(MAX_REFETCHES):
        assert guard.contiguous({TP: records(5, 6)}) == {}
    assert offsets(guard.contiguous({TP: records(5, 6)})) == {TP: [5, 6]}
    assert consumer.seeks == [(TP, 1)] * MAX_REFETCHES


async def test_a_hole_before_a_partitions_first_record_counts_from_the_consumers_position():
    consumer, guard = SeekRecorder(0, {TP: records(3, 4)}, {TP: records(0, 1, 2, 3, 4)}), OffsetGapGuard("test")
    guard.follow(consumer)
    assert await guard.getmany(timeout_ms=0) == {} and consumer.seeks == [(TP, 0)]
    assert offsets(await guard.getmany(timeout_ms=0)) == {TP: [0, 1, 2, 3, 4]}


def test_a_new_consumer_starts_wherever_it_begins_reading():
    guard, first = guard_over()
    guard.contiguous({TP: records(0, 1)})
    second = SeekRecorder()
    guard.follow(second)  # e.g. the alert feed reconnecting at the latest offset
    assert offsets(guard.contiguous({TP: records(40, 41)})) == {TP: [40, 41]}
    assert first.seeks == second.seeks == []



def guard_at(position: int, *answers, listed_end: int = 0, highwater: int | None = None,
             unserved_end_seconds: float = 0.0) -> tuple[OffsetGapGuard, SeekRecorder]:
    consumer = SeekRecorder(position, *answers, listed_end=listed_end, highwater=highwater)
    guard = OffsetGapGuard("test", unserved_end_seconds=unserved_end_seconds, unserved_check_seconds=0)
    guard.follow(consumer)
    return guard, consumer


async def test_an_end_the_broker_lists_but_never_serves_is_passed_and_handed_over_for_commit():
    guard, consumer = guard_at(3, {}, {}, listed_end=5, highwater=3)
    assert await guard.getmany(timeout_ms=0) == {} and consumer.seeks == []  # first seen
    assert await guard.getmany(timeout_ms=0) == {} and consumer.seeks == [(TP, 5)]
    assert guard.take_passed_ends() == {TP: 5} and guard.take_passed_ends() == {}


async def test_an_unserved_end_is_waited_for_before_it_is_passed():
    guard, consumer = guard_at(3, {}, {}, {}, listed_end=5, unserved_end_seconds=60)
    for _ in range(3):
        await guard.getmany(timeout_ms=0)
    assert consumer.seeks == [] and guard.take_passed_ends() == {}


async def test_records_the_fetches_report_past_the_position_are_waited_for_not_passed():
    guard, consumer = guard_at(3, {}, {}, {}, listed_end=5, highwater=5)  # e.g. a fetch a quota throttled
    for _ in range(3):
        await guard.getmany(timeout_ms=0)
    assert consumer.seeks == [] and guard.take_passed_ends() == {}


async def test_a_partition_never_fetched_yet_is_not_judged():
    guard, consumer = guard_at(3, {}, {}, {}, listed_end=5, highwater=None)
    for _ in range(3):
        await guard.getmany(timeout_ms=0)
    assert consumer.seeks == []


async def test_an_empty_fetch_at_the_end_is_a_partition_read_to_its_end():
    guard, consumer = guard_at(5, {}, {}, {}, listed_end=5, highwater=5)
    for _ in range(3):
        await guard.getmany(timeout_ms=0)
    assert consumer.seeks == [] and guard.take_passed_ends() == {}


async def test_records_served_at_the_end_start_the_wait_over():
    guard, consumer = guard_at(3, {}, {TP: records(3)}, {}, listed_end=5, highwater=3, unserved_end_seconds=0.5)
    await guard.getmany(timeout_ms=0)  # 3 unserved since now
    consumer.position_now = 4  # record 3 was read
    assert offsets(await guard.getmany(timeout_ms=0)) == {TP: [3]}
    await guard.getmany(timeout_ms=0)  # 4 unserved since now: not yet 0.5 s
    assert consumer.seeks == []
