"""Calls grouped by arrival (actors/grouped_calls.py): side-by-side calls run as one group, calls
made while a group is out leave together as the next, and a failing group is split so that
only the failing call fails (unless its error fails the group together)."""

import asyncio

import pytest

from actors.grouped_calls import GroupedCalls


class Recorder:
    def __init__(self, refuse: int | None = None, error: type[Exception] = ValueError):
        self.groups: list[list[int]] = []
        self.refuse, self.error = refuse, error

    async def __call__(self, args: list[int]) -> list[int]:
        self.groups.append(list(args))
        await asyncio.sleep(0.01)
        if self.refuse in args:
            raise self.error(f"refused {self.refuse}")
        return [a * 10 for a in args]


async def test_calls_made_side_by_side_run_as_one_group():
    run = Recorder()
    calls = GroupedCalls(run)
    assert await asyncio.gather(*(calls(i) for i in range(5))) == [0, 10, 20, 30, 40]
    assert run.groups == [[0, 1, 2, 3, 4]]


async def test_calls_made_while_a_group_is_out_leave_together_next():
    run = Recorder()
    calls = GroupedCalls(run, max_in_flight=1)
    first = asyncio.ensure_future(calls(0))
    await asyncio.sleep(0.001)  # the first group is out
    later = [asyncio.ensure_future(calls(i)) for i in (1, 2, 3)]
    assert await asyncio.gather(first, *later) == [0, 10, 20, 30]
    assert run.groups == [[0], [1, 2, 3]]


async def test_a_group_is_no_larger_than_max_group():
    run = Recorder()
    calls = GroupedCalls(run, max_in_flight=1, max_group=2)
    await asyncio.gather(*(calls(i) for i in range(5)))
    assert [len(g) for g in run.groups] == [2, 2, 1]


async def test_a_failing_call_fails_alone_and_the_others_succeed():
    calls = GroupedCalls(Recorder(refuse=2))
    results = await asyncio.gather(*(calls(i) for i in range(4)), return_exceptions=True)
    assert results[:2] == [0, 10] and isinstance(results[2], ValueError) and results[3] == 30


async def test_an_error_that_fails_together_fails_the_whole_group_at_once():
    run = Recorder(refuse=2, error=ConnectionError)
    calls = GroupedCalls(run, fail_together=(ConnectionError,))
    results = await asyncio.gather(*(calls(i) for i in range(4)), return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results) and len(run.groups) == 1


@pytest.mark.parametrize("max_in_flight", [1, 3])
async def test_a_lone_call_waits_for_nothing(max_in_flight):
    run = Recorder()
    calls = GroupedCalls(run, max_in_flight=max_in_flight)
    assert await asyncio.wait_for(calls(7), 1) == 70
