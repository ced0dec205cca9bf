"""Two minutes of the fault soak (tests/soak/run.py) against the session's stack: mixed load
while a seeded schedule kills a booking shard, a vehicle shard, a relay, a consumer, an API
replica and the bridge, and restarts the broker and PostgreSQL; then every acknowledged
cancellation and reading must be kept exactly once, with nothing left in an outbox.
`make soak` runs the same for longer on a stack of its own."""

import os

import pytest

from cluster.broker import ensure_topics
from cluster.system_app import TOPICS
from tests.acknowledged import Timeline
from tests.helpers import pg_restart
from tests.soak.faults import FAULTS, Operations
from tests.soak.run import print_report, soak

pytestmark = [pytest.mark.integration, pytest.mark.fault]

MINUTES = float(os.environ.get("FLEETRAY_TEST_SOAK_MINUTES", "2"))


@pytest.mark.runs_last  # restarts the broker, which comes back empty
async def test_a_soak_under_faults_keeps_everything_it_acknowledged(stack, broker, embedded_postgres, database_url,
                                                                    auth_config):
    async def start_broker() -> None:
        broker.start()
        await ensure_topics(broker.bootstrap_servers, TOPICS)
    operations = Operations(restart_database=lambda: pg_restart(embedded_postgres), stop_broker=broker.stop,
                            start_broker=start_broker)
    report = await soak(stack.api_url, database_url, auth_config, operations, MINUTES, seed=1, timeline=Timeline())
    print_report(report)
    assert {fault for _, fault, _ in report["faults"]} == set(FAULTS), "every kind of fault happened"
    assert report["violations"] == []
