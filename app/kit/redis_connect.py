"""One place that turns CALLSOURCE_REDIS_URL into a client: a single server, a Redis Cluster, or
a master found through Sentinel.

    redis://[user:pass@]host:6379/0                 one server (rediss:// for TLS)
    redis+cluster://[user:pass@]host:7000,host:7001 a cluster, from any of its nodes
    redis+sentinel://[pass@]host:26379,host:26380/mymaster[/0]
                                                    the master Sentinel names `mymaster`

Every form gets the same short timeouts and no client-side retries of commands: callers bound
their own calls and fall back (the pool serves its fallback number, the rate limit lets the
request through), so a Redis that is down costs a request one timeout, not several.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias
from urllib.parse import unquote

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff

RedisClient: TypeAlias = Redis | RedisCluster

CLUSTER_SCHEMES = {"redis+cluster": False, "rediss+cluster": True}
SENTINEL_SCHEMES = {"redis+sentinel": False, "rediss+sentinel": True}


@dataclass(frozen=True, slots=True)
class RedisAddress:
    """A parsed multi-host URL: the nodes to start from and what the path names."""

    scheme: str
    nodes: tuple[tuple[str, int], ...]
    username: str | None
    password: str | None
    path: tuple[str, ...]

    @classmethod
    def parse(cls, url: str, *, default_port: int) -> RedisAddress:
        scheme, sep, rest = url.partition("://")
        if not sep:
            raise ValueError(f"{url!r} is not a URL such as redis+cluster://host:7000,host:7001")
        netloc, _, path = rest.partition("/")
        username = password = None
        if "@" in netloc:
            credentials, _, netloc = netloc.rpartition("@")
            user, has_password, secret = credentials.partition(":")
            username = unquote(user) or None
            password = unquote(secret) if has_password else None
        nodes = tuple(_node(part, default_port) for part in netloc.split(",") if part)
        if not nodes:
            raise ValueError(f"{scheme}:// needs at least one host:port")
        return cls(scheme, nodes, username, password, tuple(p for p in path.split("/") if p))


def _node(text: str, default_port: int) -> tuple[str, int]:
    host, _, port = text.rpartition(":") if ":" in text.strip("[]") else (text, "", "")
    host = host.strip("[]") or text
    try:
        return host, int(port) if port else default_port
    except ValueError:
        raise ValueError(f"{text!r} is not host:port") from None


def connect_redis(url: str, *, timeout_s: float, max_connections: int = 64) -> RedisClient:
    """A client for `url` in any of the three forms; connects lazily, on first use."""
    scheme = url.partition("://")[0].lower()
    no_retries = Retry(NoBackoff(), 0)
    if scheme in CLUSTER_SCHEMES:
        address = RedisAddress.parse(url, default_port=6379)
        return RedisCluster(
            startup_nodes=[ClusterNode(host, port) for host, port in address.nodes],
            username=address.username,
            password=address.password,
            ssl=CLUSTER_SCHEMES[scheme],
            # A shard that is down must not stop the others: its pools serve the fallback.
            require_full_coverage=False,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            max_connections=max_connections,
            # No retries of a failed call; a MOVED answer (the layout changed) is still
            # followed, and teaches the client the new layout.
            retry=no_retries,
        )
    if scheme in SENTINEL_SCHEMES:
        address = RedisAddress.parse(url, default_port=26379)
        if not address.path:
            raise ValueError("redis+sentinel:// needs the master's name: .../mymaster")
        service_name, *db = address.path
        sentinel = Sentinel(  # type: ignore[no-untyped-call]
            list(address.nodes),
            sentinel_kwargs={"socket_timeout": timeout_s, "socket_connect_timeout": timeout_s},
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            ssl=SENTINEL_SCHEMES[scheme],
        )
        master: Redis = sentinel.master_for(
            service_name,
            db=int(db[0]) if db else 0,
            username=address.username,
            password=address.password,
            retry=no_retries,
            max_connections=max_connections,
        )
        return master
    if scheme not in ("redis", "rediss", "unix"):
        raise ValueError(
            f"CALLSOURCE_REDIS_URL {scheme}:// is not redis://, redis+cluster:// or "
            "redis+sentinel://"
        )
    # A burst waits briefly for a free connection instead of failing at once ("too many
    # connections" would look like an outage while Redis is fine).
    connections = BlockingConnectionPool.from_url(
        url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=no_retries,
        max_connections=max_connections,
        timeout=timeout_s,
    )
    return Redis.from_pool(connections)  # closing the client closes the pool


def is_cluster(client: RedisClient) -> bool:
    """A cluster runs a script only on keys of one slot: callers spread theirs differently."""
    return isinstance(client, RedisCluster)
