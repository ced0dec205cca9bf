"""Long-running actors on the real stack resume their own loops after Ray restarts them
(actors/background.py): nothing outside Ray supervises them, so a killed relay, consumer, alert
feed, delivery audit or maintenance sweep is running again in a new process within seconds, and
so is one whose loop failed with an error it did not handle."""

import asyncio
import os
from pathlib import Path

import pytest
import ray

from actors.background import BackgroundLoopActor
from actors.consumers import CONSUMER_EFFECTS
from actors.topology import DELIVERY_AUDIT, FLEET_ALERT_FEED, MAINTENANCE_SWEEP, actor, consumer_name, relay_name
from db.outbox import BOOKING_OUTBOX, VEHICLE_ALERT_OUTBOX
from tests.helpers import wait_until

pytestmark = pytest.mark.integration

LOOP_ACTORS = [relay_name(BOOKING_OUTBOX, 0), relay_name(VEHICLE_ALERT_OUTBOX, 0),
               *(consumer_name(name, 0) for name in CONSUMER_EFFECTS), DELIVERY_AUDIT, FLEET_ALERT_FEED,
               MAINTENANCE_SWEEP]


async def _running_in_another_process(handle, pid: int):
    try:
        state = await handle.loop_state.remote()
    except (ray.exceptions.ActorUnavailableError, ray.exceptions.ActorDiedError):  # while Ray restarts it
        return None
    return state if state["running"] and state["pid"] != pid else None


@pytest.mark.parametrize("name", LOOP_ACTORS)
async def test_a_killed_loop_actor_runs_again_by_itself(stack, name):
    handle = actor(name)
    before = await handle.loop_state.remote()
    assert before["running"], f"{name} started its own loop"
    ray.kill(handle, no_restart=False)  # a crash: Ray restarts the process and nothing else is told
    await wait_until(lambda: _running_in_another_process(handle, before["pid"]), timeout=30, interval=0.5)


@ray.remote(max_restarts=1)
class FailsInItsFirstLife(BackgroundLoopActor):
    """Its first loop writes its process id to `marker` and fails; the next one runs."""

    def __init__(self, marker: str):
        self.marker = Path(marker)
        self.start_when_constructed()

    async def loop(self) -> None:
        if not self.marker.exists():
            self.marker.write_text(str(os.getpid()))
            raise RuntimeError("an error the loop does not handle")
        await asyncio.Event().wait()


async def test_a_loop_that_fails_runs_again_in_a_new_process(stack, tmp_path):
    marker = tmp_path / "first-life-pid"
    handle = FailsInItsFirstLife.remote(str(marker))
    try:
        await wait_until(lambda: asyncio.to_thread(lambda: marker.exists() and marker.read_text()), timeout=30)
        await wait_until(lambda: _running_in_another_process(handle, int(marker.read_text())), timeout=30,
                         interval=0.5)
    finally:
        ray.kill(handle, no_restart=True)
