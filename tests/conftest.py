"""Fixtures shared by every tier. Servers start lazily: a unit-only run starts nothing.

MONGODB_URI / REDIS_URL point the suite at existing servers; otherwise one FerretDB (or
mongod) and one redis-server are started for the whole session under a temporary
directory and stopped at the end, also when tests fail or the run is interrupted.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from pymongo import MongoClient
from pymongo.database import Database

from infra.services import Service, start_mongo, start_redis


@pytest.fixture(scope="session")
def services_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("services")


@pytest.fixture(scope="session")
def mongo_service(services_dir: Path) -> Iterator[Service]:
    service = start_mongo(services_dir / "mongo")
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture(scope="session")
def redis_service(services_dir: Path) -> Iterator[Service]:
    service = start_redis(services_dir / "redis", persist=False)
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture(scope="session")
def mongo_client(mongo_service: Service) -> Iterator[MongoClient[dict[str, Any]]]:
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_service.url, tz_aware=True)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def mongo_db(mongo_client: MongoClient[dict[str, Any]]) -> Iterator[Database[dict[str, Any]]]:
    """A database of its own for each test, dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    try:
        yield mongo_client[name]
    finally:
        mongo_client.drop_database(name)


@pytest.fixture
def redis_client(redis_service: Service) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_service.url, decode_responses=True)
    try:
        yield client
    finally:
        client.close()
