"""Dependencies, built lazily and once per warm container, never at import.

`services()` returns the container's `Services`; each client inside it is created on
first use (so `$connect` works without MongoDB, and `import app` connects to nothing)
and then reused by every later invocation, as AWS and MongoDB advise for Lambda.
Tests build their own `Services` from a `Settings` pointing at their servers.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

import redis
from pymongo import MongoClient
from redis.cluster import RedisCluster

from chalicelib.auth import JwtVerifier, TokenVerifier
from chalicelib.config import ConfigError, Settings
from chalicelib.management import SignedConnectionsApi
from chalicelib.presence import Presence, RedisLike
from chalicelib.push import Pusher
from chalicelib.ratelimit import SendRateLimiter
from chalicelib.secrets import read_secret
from chalicelib.store import MessageStore

_CONNECTION_CACHE_SIZE = 10_000


class Services:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pushers: dict[str, Pusher] = {}
        self._lock = threading.Lock()
        # connection id -> user id, for connections this container has seen. A
        # connection's user never changes and ids are never reused, so a hit saves the
        # Redis read on every frame without ever being wrong.
        self._connection_users: dict[str, int] = {}

    def connection_user(self, connection_id: str) -> int | None:
        user = self._connection_users.get(connection_id)
        if user is None:
            user = self.presence.user_of(connection_id)
            if user is not None:
                self.remember_connection(connection_id, user)
        return user

    def remember_connection(self, connection_id: str, user_id: int) -> None:
        with self._lock:
            if len(self._connection_users) >= _CONNECTION_CACHE_SIZE:
                self._connection_users.pop(next(iter(self._connection_users)))
            self._connection_users[connection_id] = user_id

    def forget_connection(self, connection_id: str) -> None:
        self._connection_users.pop(connection_id, None)

    @functools.cached_property
    def mongo_client(self) -> MongoClient[dict[str, Any]]:
        uri = self.settings.mongodb_uri
        if not uri and self.settings.mongodb_uri_param:
            uri = read_secret(self.settings.mongodb_uri_param, self.settings.region)
        if not uri:
            raise ConfigError("MONGODB_URI (or MONGODB_URI_PARAM) is not set")
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
    def store(self) -> MessageStore:
        collection = self.mongo_client[self.settings.mongodb_database]["messages"]
        store = MessageStore(collection)
        store.ensure_indexes()  # once per container; not cached if it raises
        return store

    @functools.cached_property
    def redis(self) -> RedisLike:
        url = self.settings.redis_url
        if not url and self.settings.redis_url_param:
            url = read_secret(self.settings.redis_url_param, self.settings.region)
        if not url:
            raise ConfigError("REDIS_URL (or REDIS_URL_PARAM) is not set")
        options: dict[str, Any] = {
            "decode_responses": True,
            "socket_connect_timeout": 2,
            "socket_timeout": 2,
        }
        if self.settings.redis_cluster:
            # Every command we send names one key, hash-tagged, so any cluster works.
            return RedisCluster.from_url(url, **options)
        return redis.Redis.from_url(url, health_check_interval=30, **options)

    @functools.cached_property
    def presence(self) -> Presence:
        return Presence(self.redis, ttl_seconds=self.settings.presence_ttl_seconds)

    @functools.cached_property
    def rate_limiter(self) -> SendRateLimiter:
        return SendRateLimiter(self.redis, self.settings.send_rate)

    @functools.cached_property
    def verifier(self) -> TokenVerifier:
        jwt = self.settings.jwt
        secret = jwt.secret
        if not secret and not jwt.jwks_url:
            if not jwt.secret_param:
                raise ConfigError("IM_JWT_SECRET, IM_JWT_SECRET_PARAM or IM_JWT_JWKS_URL is needed")
            secret = read_secret(jwt.secret_param, self.settings.region)
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
                pusher = Pusher(self._connections_api(endpoint), self.settings.push_concurrency)
                self._pushers[endpoint] = pusher
            return pusher

    def _connections_api(self, endpoint: str) -> SignedConnectionsApi:
        import boto3  # the Lambda runtime ships it; only its credential chain is used

        session = boto3.session.Session()
        credentials = session.get_credentials()
        if credentials is None:
            raise ConfigError("no AWS credentials to sign @connections calls with")
        return SignedConnectionsApi(
            endpoint,
            credentials,
            region=self.settings.region or session.region_name or "us-east-1",
            timeout_seconds=self.settings.push_timeout_seconds,
            pool_size=max(10, self.settings.push_concurrency),
        )


@functools.cache
def services() -> Services:
    """The warm container's services (settings are read at the first invocation)."""
    return Services(Settings.from_env())
