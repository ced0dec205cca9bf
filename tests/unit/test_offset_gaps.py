"""OffsetGapGuard's rules on a recording stand-in for the consumer (only seek() is used); the
same guard against a real broker is in tests/integration/test_offset_gaps.py."""

from types import SimpleNamespace

from aiokafka import TopicPartition

from actors.offset_gaps import MAX_REFETCHES, OffsetGapGuard

TP, OTHER = TopicPartition("t", 0), TopicPartition("t", 1)


class SeekRecorder:
    """Records seeks; getmany() answers the batches it was given, from `position` onwards."""

    def __init__(self, position: int = 0, *answers):
        self.seeks: list[tuple[TopicPartition, int]] = []
        self.position_now = position
        self.answers = list(answers)

    def seek(self, tp, offset):
        self.seeks.append((tp, offset))

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
