"""Long-running actors on the real stack resume their own loops after Ray restarts them
(actors/background.py): nothing outside Ray supervises them, so a killed relay, consumer, alert
feed, delivery audit or maintenance sweep is running again in a new process within seconds."""

import pytest
import ray

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
