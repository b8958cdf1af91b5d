"""A Redis Cluster and a Sentinel set of a test's own, on free ports, to kill and bring back.

    with PrivateRedisCluster(masters=3) as cluster:   # redis-cli --cluster create, state ok
        cluster.url                                    # redis+cluster://127.0.0.1:P1,...
        cluster.master_of_slot(slot)                   # the PrivateRedis serving that slot
        cluster.nodes[0].kill(); cluster.nodes[0].start()   # back empty, same slots

    with PrivateSentinels() as sentinels:              # a master, a replica, three sentinels
        sentinels.url                                  # redis+sentinel://127.0.0.1:S1,.../mymaster
        sentinels.kill_master_and_wait_for_failover()

Nodes keep nothing but their cluster configuration (nodes.conf): a killed node comes back with
its slots and no data, as a cache node replaced after a crash. Everything runs under the test's
own directories; the machine's Redis on 6379 is never touched.
"""

from __future__ import annotations

import gc
import shutil
import subprocess
import tempfile
import time
import warnings
from pathlib import Path
from types import TracebackType
from typing import Self

from redis import Redis
from redis.exceptions import RedisError

from tests.cli_processes import free_port
from tests.private_services import PrivateRedis

SERVICE_NAME = "mymaster"


def _wait(condition_text: str, condition: object, *, limit_s: float = 30.0) -> None:
    deadline = time.monotonic() + limit_s
    while True:
        try:
            if callable(condition) and condition():
                return
        except RedisError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"after {limit_s} s still waiting for {condition_text}")
        time.sleep(0.1)


def _client(port: int) -> Redis:
    return Redis(port=port, socket_timeout=1, socket_connect_timeout=1, decode_responses=True)


def _ping(port: int) -> bool:
    with _client(port) as client:
        return bool(client.ping())


def _is_master(port: int) -> bool:
    with _client(port) as client:
        return bool(client.info("replication").get("role") == "master")


class PrivateRedisCluster:
    def __init__(self, *, masters: int = 3, node_timeout_ms: int = 1000) -> None:
        self.nodes = [
            PrivateRedis(
                extra_args=(
                    *("--cluster-enabled", "yes"),
                    *("--cluster-config-file", "nodes.conf"),
                    *("--cluster-node-timeout", str(node_timeout_ms)),
                    # Its own bus port: the default (port + 10000) overflows for high ports.
                    *("--cluster-port", str(free_port())),
                    # A shard that is down must not stop the others from serving.
                    *("--cluster-require-full-coverage", "no"),
                )
            )
            for _ in range(masters)
        ]

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{node.port}" for node in self.nodes)

    def __enter__(self) -> Self:
        try:
            for node in self.nodes:
                node.start()
            addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
            subprocess.run(
                ["redis-cli", "--cluster", "create", *addresses, "--cluster-yes"],
                check=True,
                capture_output=True,
                timeout=60,
            )
            self.wait_until_ok()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        for node in self.nodes:
            node.close()

    def wait_until_ok(self) -> None:
        """Every running node sees the cluster as ok and knows every slot's owner."""

        def ok() -> bool:
            for node in self.nodes:
                if not node.running:
                    continue
                with _client(node.port) as client:
                    info = client.execute_command("CLUSTER", "INFO")
                    text = info if isinstance(info, str) else str(info)
                    if "cluster_state:ok" not in text or "cluster_slots_assigned:16384" not in text:
                        return False
            return True

        _wait("cluster_state:ok on every node", ok)

    def master_of_slot(self, slot: int) -> PrivateRedis:
        with _client(self.nodes[0].port) as client:
            for start, end, master, *_replicas in client.execute_command("CLUSTER", "SLOTS"):
                if start <= slot <= end:
                    port = int(master[1])
                    return next(node for node in self.nodes if node.port == port)
        raise KeyError(slot)

    def slot_of(self, key: str) -> int:
        with _client(self.nodes[0].port) as client:
            return int(client.execute_command("CLUSTER", "KEYSLOT", key))

    def wait_until_serving(self, node: PrivateRedis) -> None:
        """A restarted node has rejoined: it answers for its own slots again."""

        def serving() -> bool:
            with _client(node.port) as client:
                return "cluster_state:ok" in str(client.execute_command("CLUSTER", "INFO"))

        _wait(f"node {node.port} serving its slots", serving)


class PrivateSentinel:
    """`redis-server --sentinel` with a config file of its own (Sentinel rewrites it)."""

    def __init__(self, master_port: int, *, quorum: int, down_after_ms: int) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="callsource-sentinel-"))
        self.port = free_port()
        self.config = self.dir / "sentinel.conf"
        self.config.write_text(
            f"port {self.port}\nbind 127.0.0.1\ndir {self.dir}\n"
            f"logfile {self.dir / 'sentinel.log'}\n"
            f"sentinel monitor {SERVICE_NAME} 127.0.0.1 {master_port} {quorum}\n"
            f"sentinel down-after-milliseconds {SERVICE_NAME} {down_after_ms}\n"
            f"sentinel failover-timeout {SERVICE_NAME} 10000\n"
            f"sentinel parallel-syncs {SERVICE_NAME} 1\n"
        )
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", str(self.config), "--sentinel"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait(f"sentinel on {self.port}", lambda: _ping(self.port))

    def master_port(self) -> int | None:
        with _client(self.port) as client:
            found = client.sentinel_get_master_addr_by_name(SERVICE_NAME)
        return int(found[1]) if found else None

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)


class PrivateSentinels:
    """A master, one replica and three sentinels (quorum two) that fail over in about 2 s."""

    def __init__(self, *, down_after_ms: int = 1000) -> None:
        self.master = PrivateRedis()
        self.replica = PrivateRedis()
        self.down_after_ms = down_after_ms
        self.sentinels: list[PrivateSentinel] = []

    @property
    def url(self) -> str:
        nodes = ",".join(f"127.0.0.1:{sentinel.port}" for sentinel in self.sentinels)
        return f"redis+sentinel://{nodes}/{SERVICE_NAME}"

    def __enter__(self) -> Self:
        try:
            self.master.start()
            self.replica.extra_args = ("--replicaof", "127.0.0.1", str(self.master.port))
            self.replica.start()
            _wait("the replica in sync", self._replica_in_sync)
            self.sentinels = [
                PrivateSentinel(self.master.port, quorum=2, down_after_ms=self.down_after_ms)
                for _ in range(3)
            ]
            for sentinel in self.sentinels:
                sentinel.start()
            _wait("the sentinels to know each other", self._sentinels_agree)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _replica_in_sync(self) -> bool:
        with _client(self.replica.port) as client:
            return bool(client.info("replication").get("master_link_status") == "up")

    def _sentinels_agree(self) -> bool:
        for sentinel in self.sentinels:
            with _client(sentinel.port) as client:
                fields = client.sentinel_masters()[SERVICE_NAME]
                if int(fields["num-other-sentinels"]) < 2 or int(fields["num-slaves"]) < 1:
                    return False
        return True

    def kill_master_and_wait_for_failover(self) -> PrivateRedis:
        """SIGKILL the master; the sentinels promote the replica. Returns the new master."""
        old_port = self.master.port
        self.master.kill()
        _wait(
            "the sentinels to promote the replica",
            lambda: all(s.master_port() == self.replica.port for s in self.sentinels),
        )
        _wait("the promoted replica to accept writes", lambda: _is_master(self.replica.port))
        assert self.replica.port != old_port
        return self.replica

    def close(self) -> None:
        for sentinel in self.sentinels:
            sentinel.close()
        self.replica.close()
        self.master.close()


def collect_dropped_connections() -> None:
    """Collect what redis-py dropped when a node died under it (connections of a killed master
    it replaced rather than closed), inside the test that killed it: their ResourceWarning
    says nothing about the test that happens to be running when the collector finds them."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
