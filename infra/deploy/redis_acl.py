"""The Redis user the functions log in as (docs/deploy.md, section 3): the app's keys
and the app's commands, nothing else.

`ACCESS_STRING` is what to give `aws elasticache create-user --access-string`; the
same rules, applied with `ACL SETUSER` to a real redis-server, run the presence and
rate-limit contract suites in tests/integration/test_redis_acl.py, so a command the
app starts to use fails there before it fails in production.
"""

from __future__ import annotations

# Every key the app writes starts with `im:` (chalicelib/presence.py, ratelimit.py).
KEYS = "~im:*"
# What presence, sessions and the rate limiter send, directly or from their Lua scripts
# (Redis checks a script's calls against the caller's ACL too), plus the client's own
# PING health checks and SCRIPT LOAD when a script is not cached yet.
COMMANDS = (
    "get",
    "set",
    "del",
    "expire",
    "zadd",
    "zrem",
    "zcard",
    "zscore",
    "zrangebyscore",
    "zremrangebyscore",
    "eval",
    "evalsha",
    "script|load",
    "script|exists",
    "ping",
)
# IM_REDIS_CLUSTER=true: the cluster client asks for the slot map.
CLUSTER_COMMANDS = ("cluster|slots", "cluster|shards")


def access_string(cluster: bool = False) -> str:
    commands = COMMANDS + (CLUSTER_COMMANDS if cluster else ())
    return " ".join(["on", KEYS, "-@all", *(f"+{c}" for c in commands)])


ACCESS_STRING = access_string()
CLUSTER_ACCESS_STRING = access_string(cluster=True)
