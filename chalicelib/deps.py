"""The bootstrap: dependencies built lazily and once per warm container, never at import.

`services()` returns the container's `Services`; each client inside it is created on
first use (so `$connect` works without MongoDB, and `import app` connects to nothing)
and then reused by every later invocation, as AWS and MongoDB advise for Lambda. The
real adapters (MongoDB store, Redis presence and limiter, @connections delivery) are
injected into the use cases here, in `chat()`, and nowhere else.
Tests build their own `Services` from a `Settings` pointing at their servers.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from chalice.app import Request, Response

from chalicelib.config import ConfigError, Settings
from chalicelib.config_rules import check_hmac_secret, check_redis_url
from chalicelib.secrets import read_secret

# The clients' modules are imported where each is first built, so a route's cold start
# pays only for what that route uses ($connect: Redis and the verifier, no MongoDB).
if TYPE_CHECKING:
    from pymongo import MongoClient

    from chalicelib.auth import TokenVerifier
    from chalicelib.chat.ports import Delivery
    from chalicelib.chat.service import Chat, Policy
    from chalicelib.management import SignedConnectionsApi
    from chalicelib.presence import Presence, RedisLike
    from chalicelib.push import Pusher
    from chalicelib.ratelimit import SendRateLimiter
    from chalicelib.sessions import Sessions
    from chalicelib.store import MongoChatStore


class Services:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pushers: dict[str, Pusher] = {}
        self._chats: dict[str | None, Chat] = {}
        self._lock = threading.Lock()

    @functools.cached_property
    def sessions(self) -> Sessions:
        from chalicelib.sessions import Sessions

        return Sessions(self.presence, self.settings.max_connections_per_user)

    @functools.cached_property
    def mongo_client(self) -> MongoClient[dict[str, Any]]:
        uri = self.settings.mongodb_uri
        if not uri and self.settings.mongodb_uri_param:
            uri = read_secret(self.settings.mongodb_uri_param, self.settings.region)
        if not uri:
            raise ConfigError("MONGODB_URI (or MONGODB_URI_PARAM) is not set")
        from pymongo import MongoClient

        return MongoClient(
            uri,
            tz_aware=True,
            appname="serverless-im",
            # Fail fast inside a 29 s API Gateway integration timeout.
            serverSelectionTimeoutMS=5000,
            connectTimeoutMS=3000,
            socketTimeoutMS=10000,
            maxPoolSize=10,
        )

    @functools.cached_property
    def store(self) -> MongoChatStore:
        from chalicelib.store import MongoChatStore

        store = MongoChatStore(self.mongo_client[self.settings.mongodb_database])
        store.ensure_indexes()  # once per container; not cached if it raises
        return store

    @functools.cached_property
    def policy(self) -> Policy:
        from chalicelib.chat.service import Policy

        s = self.settings
        return Policy(
            recall_window=timedelta(seconds=s.recall_window_seconds),
            max_group_members=s.max_group_members,
            push_before_ack_max=s.push_before_ack_max,
            max_page_bytes=s.max_page_bytes,
        )

    def delivery(self, endpoint: str | None) -> Delivery:
        from chalicelib.delivery import ConnectionsDelivery, NoDelivery

        if endpoint is None:
            return NoDelivery()
        return ConnectionsDelivery(self.presence, self.pusher(endpoint), self.settings.max_fanout)

    def chat(self, endpoint: str | None) -> Chat:
        """The use cases, delivering through `endpoint` (None: REST without a configured
        management URL, which stores but cannot push)."""
        with self._lock:
            chat = self._chats.get(endpoint)
        if chat is None:
            from chalicelib.chat.service import Chat
            from chalicelib.clock import utc_now_ms

            chat = Chat(
                self.store, self.delivery(endpoint), self.rate_limiter, utc_now_ms, self.policy
            )
            with self._lock:
                chat = self._chats.setdefault(endpoint, chat)
        return chat

    @functools.cached_property
    def redis(self) -> RedisLike:
        url = self.settings.redis_url
        if not url and self.settings.redis_url_param:
            url = read_secret(self.settings.redis_url_param, self.settings.region)
            # Checked here, where it is known: REDIS_URL was checked with the settings.
            check_redis_url(url, "the URL in REDIS_URL_PARAM", self.settings.production)
        if not url:
            raise ConfigError("REDIS_URL (or REDIS_URL_PARAM) is not set")
        import redis
        from redis.backoff import NoBackoff
        from redis.cluster import RedisCluster
        from redis.retry import Retry

        options: dict[str, Any] = {
            "decode_responses": True,
            # Redis answers in well under a millisecond in the VPC; a second without an
            # answer means it is gone, and one quick retry covers a dropped connection.
            "socket_connect_timeout": 1,
            "socket_timeout": 1,
            "retry": Retry(NoBackoff(), 1),
        }
        if self.settings.redis_cluster:
            # Every command we send names one key, hash-tagged, so any cluster works.
            return RedisCluster.from_url(url, **options)
        return redis.Redis.from_url(url, health_check_interval=30, **options)

    @functools.cached_property
    def presence(self) -> Presence:
        from chalicelib.breaker import CircuitBreaker
        from chalicelib.presence import Presence

        return Presence(
            self.redis,
            ttl_seconds=self.settings.presence_ttl_seconds,
            breaker=CircuitBreaker(self.settings.breaker_cooldown_seconds),
        )

    @functools.cached_property
    def rate_limiter(self) -> SendRateLimiter:
        from chalicelib.breaker import CircuitBreaker
        from chalicelib.ratelimit import SendRateLimiter

        return SendRateLimiter(
            self.redis,
            self.settings.send_rate,
            breaker=CircuitBreaker(self.settings.breaker_cooldown_seconds),
        )

    @functools.cached_property
    def verifier(self) -> TokenVerifier:
        from chalicelib.auth import JwtVerifier

        jwt = self.settings.jwt
        secret = jwt.secret
        if not secret and not jwt.jwks_url:
            if not jwt.secret_param:
                raise ConfigError("IM_JWT_SECRET, IM_JWT_SECRET_PARAM or IM_JWT_JWKS_URL is needed")
            secret = read_secret(jwt.secret_param, self.settings.region)
            # IM_JWT_SECRET was checked with the settings; a stored one only now.
            check_hmac_secret(secret, jwt.algorithms, "the secret in IM_JWT_SECRET_PARAM")
        return JwtVerifier.from_settings(jwt, secret)

    def management_endpoint(self, api_id: str, stage: str) -> str:
        """Configured URL (local gateway, tests), else the API's own execute-api URL,
        which works with or without a custom domain in front."""
        if self.settings.management_url:
            return self.settings.management_url
        region = self.settings.region
        if not region:
            raise ConfigError("AWS_REGION is not set")
        suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
        return f"https://{api_id}.execute-api.{region}.{suffix}/{stage}"

    def pusher(self, endpoint: str) -> Pusher:
        with self._lock:
            pusher = self._pushers.get(endpoint)
            if pusher is None:
                from chalicelib.push import Pusher

                pusher = Pusher(self._connections_api(endpoint), self.settings.push_concurrency)
                self._pushers[endpoint] = pusher
            return pusher

    def _connections_api(self, endpoint: str) -> SignedConnectionsApi:
        from chalicelib.management import SignedConnectionsApi, StaticCredentials

        settings = self.settings
        credentials: Any = None
        region = settings.region
        if settings.aws_credentials is not None:
            # Lambda puts the role's credentials in the environment: no boto3 needed.
            credentials = StaticCredentials(*settings.aws_credentials)
        else:
            import boto3  # elsewhere, its credential chain (profiles, instance roles)

            session = boto3.session.Session()
            credentials = session.get_credentials()
            region = region or session.region_name
            if credentials is None:
                raise ConfigError("no AWS credentials to sign @connections calls with")
        return SignedConnectionsApi(
            endpoint,
            credentials,
            region=region or "us-east-1",
            timeout_seconds=settings.push_timeout_seconds,
            pool_size=max(10, settings.push_concurrency),
        )


@functools.cache
def services() -> Services:
    """The warm container's services (settings are read at the first invocation)."""
    return Services(Settings.from_env())


def require_settings(event: Any, get_response: Callable[[Any], Any]) -> Any:
    """Chalice middleware, inside `observe`: the settings are read and checked before
    any handler runs. A bad configuration is then one log line saying what is wrong,
    at every invocation until it is fixed; a REST client gets a plain 500 `internal
    error`, and a WebSocket event fails as an invocation error (API Gateway answers
    500 to the handshake and "Internal server error" to a frame; Lambda counts it in
    its Errors metric)."""
    try:
        services()
    except ConfigError as exc:
        from chalicelib.observability import logger

        logger.error("configuration error", extra={"error": str(exc)})
        if isinstance(event, Request):
            return Response(
                body=json.dumps({"error": "internal error"}),
                status_code=500,
                headers={"Content-Type": "application/json"},
            )
        raise
    return get_response(event)
