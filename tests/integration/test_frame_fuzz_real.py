"""The frame fuzz of tests/unit/test_frame_fuzz.py with the real adapters behind the
`$default` handler: MongoDB (FerretDB) and Redis, built by the app's own bootstrap from
the environment. Fewer examples: each is a few round trips to both servers."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from pymongo.database import Database

from chalicelib.mongo.documents import MESSAGES, stored_message
from chalicelib.presence import Presence
from chalicelib.store import MongoChatStore
from infra.services import Service
from tests.frame_fuzz import Gateway, RawConnections, Snapshot, app_environment, app_services, fuzz

FUZZ = settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def mongo_snapshot(db: Database[dict[str, Any]]) -> Snapshot:
    docs = {
        name: sorted(db[name].find(), key=lambda d: str(d["_id"]))
        for name in sorted(db.list_collection_names())
    }
    messages = {str(d["_id"]): stored_message(d) for d in docs.get(MESSAGES, [])}
    return Snapshot(messages, docs)


@pytest.mark.parametrize("route_response", [True, False], ids=["route-response", "posted"])
def test_no_frame_breaks_the_handler_or_stores_what_it_should_not(
    route_response: bool,
    monkeypatch: pytest.MonkeyPatch,
    mongo_service: Service,
    redis_service: Service,
    mongo_db: Database[dict[str, Any]],
) -> None:
    environment = app_environment(
        route_response,
        MONGODB_URI=mongo_service.url,
        MONGODB_DATABASE=mongo_db.name,
        REDIS_URL=redis_service.url,
    )
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    api = RawConnections()
    with app_services(api) as services:
        try:
            assert isinstance(services.store, MongoChatStore)
            assert isinstance(services.presence, Presence)
            fuzz(Gateway(api), services, route_response, lambda: mongo_snapshot(mongo_db), FUZZ)
        finally:
            services.mongo_client.close()
