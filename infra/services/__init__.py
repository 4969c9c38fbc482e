"""Real MongoDB-compatible and Redis servers for development and tests, no Docker needed.

`start_mongo` / `start_redis` give a running server (or the one named by MONGODB_URI /
REDIS_URL) and `stop()` it; `ensure_binaries` builds or installs what is missing.
"""

from infra.services.mongo import ensure_ferretdb, start_mongo
from infra.services.process import Service, free_port, stop_all
from infra.services.redis_server import ensure_redis_server, start_redis

__all__ = [
    "Service",
    "ensure_ferretdb",
    "ensure_redis_server",
    "free_port",
    "start_mongo",
    "start_redis",
    "stop_all",
]
