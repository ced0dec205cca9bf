"""The entity host's guarantees: per-entity order, cross-entity concurrency, passivation, hand-off."""

import asyncio
import time
from types import SimpleNamespace

import pytest

from actors import entity_runtime
from actors.entity_runtime import EntityHost


class RecordingEntity:
    def __init__(self, entity_id, log):
        self.entity_id = entity_id
        self.log = log
        self.count = 0

    async def handle(self, command, payload):
        if command == "fail":
            raise RuntimeError("boom")
        self.log.append((self.entity_id, "start", payload["n"]))
        await asyncio.sleep(payload.get("sleep", 0))
        self.count += 1
        self.log.append((self.entity_id, "end", payload["n"]))
        return self.count


class FakeKind:
    def __init__(self):
        self.log = []
        self.activated = []

    async def activate(self, entity_id):
        self.activated.append(entity_id)
        return RecordingEntity(entity_id, self.log)

    def summary(self, entity):
        return entity.count


async def test_messages_to_one_entity_run_one_at_a_time_in_order():
    kind = FakeKind()
    host = EntityHost(kind, idle_seconds=60)
    results = await asyncio.gather(*(
        host.ask("a", "work", {"n": i, "sleep": 0.01 * (5 - i)}) for i in range(5)))
    assert results == [1, 2, 3, 4, 5]
    assert kind.log == [("a", step, i) for i in range(5) for step in ("start", "end")]
    assert kind.activated == ["a"]


async def test_the_mailbox_keeps_order_after_emptying_and_after_a_cancelled_message():
    """Idle entities hold no lock (memory): the mailbox of the next burst must still serialise."""
    kind = FakeKind()
    host = EntityHost(kind, idle_seconds=60)
    await host.ask("a", "work", {"n": 0})
    running = asyncio.ensure_future(host.ask("a", "work", {"n": 1, "sleep": 0.05}))
    cancelled = asyncio.ensure_future(host.ask("a", "work", {"n": 2}))
    await asyncio.sleep(0.01)
    cancelled.cancel()
    await asyncio.sleep(0)
    assert await asyncio.gather(running, host.ask("a", "work", {"n": 3})) == [2, 3]
    assert kind.log == [("a", step, i) for i in (0, 1, 3) for step in ("start", "end")]


async def test_different_entities_run_concurrently():
    kind = FakeKind()
    host = EntityHost(kind, idle_seconds=60)
    await asyncio.gather(host.ask("a", "work", {"n": 0, "sleep": 0.05}),
                         host.ask("b", "work", {"n": 0, "sleep": 0.05}))
    starts = [i for i, entry in enumerate(kind.log) if entry[1] == "start"]
    assert starts == [0, 1], "b started before a finished"


async def test_idle_entities_are_passivated_and_reactivated_with_fresh_state():
    kind = FakeKind()
    host = EntityHost(kind, idle_seconds=10)
    await host.ask("a", "work", {"n": 0})
    assert host.passivate_idle(now=asyncio.get_running_loop().time() - 1000) == 0  # not idle yet
    assert host.passivate_idle(now=time.monotonic() + 11) == 1
    assert host.active_count == 0
    assert await host.ask("a", "work", {"n": 1}) == 1  # new activation, count restarted
    assert kind.activated == ["a", "a"]


async def test_active_summaries_leave_the_idle_clocks_alone(monkeypatch):
    """The maintenance sweep looks at every active entity each round: that must not keep them
    activated."""
    clock = [100.0]
    monkeypatch.setattr(entity_runtime, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    kind = FakeKind()
    host = EntityHost(kind, idle_seconds=10)
    await host.ask("a", "work", {"n": 0})
    await host.ask("a", "work", {"n": 1})
    await host.ask("b", "work", {"n": 0})
    clock[0] = 108.0
    assert host.active_summaries() == {"a": 2, "b": 1}
    assert host.passivate_idle(now=111.0) == 2, "idle since 100, not since they were looked at"
    assert host.active_summaries() == {}


async def test_a_failed_message_drops_live_state_so_the_next_one_reloads():
    kind = FakeKind()
    host = EntityHost(kind, idle_seconds=60)
    await host.ask("a", "work", {"n": 0})
    with pytest.raises(RuntimeError):
        await host.ask("a", "fail", {})
    assert await host.ask("a", "work", {"n": 1}) == 1
    assert kind.activated == ["a", "a"]


async def test_hand_over_waits_for_queued_messages_then_exports_the_leaving_entities():
    kind = ExportingKind()
    host = EntityHost(kind, idle_seconds=60)
    await host.ask("stays", "work", {"n": 0})
    busy = asyncio.ensure_future(host.ask("leaves", "work", {"n": 1, "sleep": 0.05}))
    await asyncio.sleep(0.01)
    exported = await host.hand_over(lambda entity_id: entity_id == "leaves")
    assert busy.done() and await busy == 1, "the queued message ran before the entity left"
    assert exported == {"leaves": 1}
    assert host.active_summaries() == {"stays": 1}


async def test_an_entity_taken_over_goes_on_from_the_exported_state_without_activating():
    kind = ExportingKind()
    host = EntityHost(kind, idle_seconds=60)
    host.take_over({"moved": 41})
    assert await host.ask("moved", "work", {"n": 0}) == 42
    assert kind.activated == []


class ExportingKind(FakeKind):
    def export(self, entity):
        return entity.count

    def restore(self, entity_id, count):
        entity = RecordingEntity(entity_id, self.log)
        entity.count = count
        return entity
