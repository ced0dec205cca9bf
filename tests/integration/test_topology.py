"""Routers find their shards by name (actors/topology.py) without holding up the process they
run in: a shard that is gone and not created again is refused as unavailable after a bounded
wait, while the caller's event loop goes on serving; a first shard that does not answer is
unavailable too, never an unexpected error."""

import asyncio

import pytest
import ray

from actors.entity_runtime import ShardRouter, ShardUnavailable
from actors.topology import find_actor

pytestmark = pytest.mark.integration


async def test_a_missing_shard_is_unavailable_after_the_wait_and_the_loop_serves_meanwhile(stack):
    router = ShardRouter(lambda index: find_actor(f"no-such-shard-{index}", 1.5))
    ticks = 0

    async def tick_forever():
        nonlocal ticks
        while True:
            await asyncio.sleep(0.05)
            ticks += 1
    ticker = asyncio.ensure_future(tick_forever())
    started = asyncio.get_running_loop().time()
    with pytest.raises(ShardUnavailable, match="not running"):
        await router.ask("vehicle-x", "state", {})
    waited = asyncio.get_running_loop().time() - started
    ticker.cancel()
    assert 1.5 <= waited < 10
    assert ticks >= 15, "the event loop was held while the router looked for the shard"


async def test_a_router_finds_a_running_shard(stack):
    from actors.topology import vehicle_router

    assert len(await vehicle_router().shards()) >= 1


@ray.remote(num_cpus=0)
class _GoneShard:
    def shard_map(self):
        return None


async def test_a_router_whose_first_shard_does_not_answer_says_unavailable(stack):
    gone = _GoneShard.remote()
    ray.kill(gone, no_restart=True)  # a shard 0 whose node was lost

    async def lookup(index):
        return gone
    with pytest.raises(ShardUnavailable, match="shard 0 did not answer"):
        await ShardRouter(lookup).ask("vehicle-y", "state", {})
