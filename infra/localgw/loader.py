"""Load any Chalice project (`app.py` + `.chalice/config.json`) and adapt it to the gateway.

What `chalice local` and `chalice.test` do, minus their global side effects: the app is
imported from its file under the module name Lambda uses (`app`), and `sys.modules` and
`sys.path` are restored on unload so several gateways (or the project's own tests) can
share a process. Two adaptations are made to the imported app object:

- `current_request` and `lambda_context` become thread-local, as in `chalice local`
  (handlers run concurrently in worker threads);
- `app.websocket_api` is pointed at the gateway's management API, because Chalice
  builds `https://{apiId}.execute-api.{region}.amazonaws.com/{stage}` itself and no
  environment variable can redirect it.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import sys
import threading
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
from botocore.config import Config as BotocoreConfig
from chalice.app import Chalice, WebsocketEventSourceHandler
from chalice.config import Config
from chalice.constants import DEFAULT_APIGATEWAY_STAGE_NAME, DEFAULT_ENDPOINT_TYPE

from infra.localgw.environ import ScopedEnviron

logger = logging.getLogger(__name__)

APP_MODULE = "app"
# Credentials for the management API client: the gateway accepts SigV4 unchecked, and
# real ones must never be sent to it (or needed to run locally).
DUMMY_ACCESS_KEY = "localgw"


class AppLoadError(Exception):
    """The directory is not a loadable Chalice project."""


@dataclass
class LoadedApp:
    app: Chalice
    module: ModuleType
    config: Config
    app_dir: Path
    _added_paths: list[str] = field(default_factory=list)

    @property
    def api_stage(self) -> str:
        stage: str = self.config.api_gateway_stage or DEFAULT_APIGATEWAY_STAGE_NAME
        return stage

    def blueprint_websocket_routes(self) -> list[str]:
        """Route keys whose handler Chalice left unwrapped (registered on a Blueprint)."""
        return [
            route_key
            for route_key, handler_config in self.app.websocket_handlers.items()
            if not isinstance(
                self.app.handler_map.get(handler_config.name), WebsocketEventSourceHandler
            )
        ]

    def unload(self) -> None:
        for path in self._added_paths:
            if path in sys.path:
                sys.path.remove(path)
        self._added_paths.clear()


def load_config(app_dir: Path, chalice_stage: str) -> Config:
    """The Chalice config for a stage, as `CLIFactory.create_config_obj` builds it."""
    config_file = app_dir / ".chalice" / "config.json"
    try:
        config_from_disk = json.loads(config_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        logger.warning(
            "no .chalice/config.json; using Chalice defaults", extra={"app_dir": str(app_dir)}
        )
        config_from_disk = {}
    except ValueError as exc:
        raise AppLoadError(f"{config_file}: invalid JSON: {exc}") from exc
    return Config(
        chalice_stage=chalice_stage,
        user_provided_params={},
        config_from_disk=config_from_disk,
        default_params={
            "project_dir": str(app_dir),
            "api_gateway_stage": DEFAULT_APIGATEWAY_STAGE_NAME,
            "api_gateway_endpoint_type": DEFAULT_ENDPOINT_TYPE,
            "autogen_policy": True,
        },
    )


def load_app(
    app_dir: Path,
    chalice_stage: str,
    environ: ScopedEnviron | None,
    *,
    keep_module: bool = False,
) -> LoadedApp:
    """Import `app_dir/app.py` with the stage's environment variables visible.

    `environ` None: the process environment already holds them (a worker process).
    `keep_module`: leave the module registered as `app`, as Lambda's runtime does (a
    worker process owns its `sys.modules`).
    """
    app_dir = app_dir.resolve()
    app_file = app_dir / "app.py"
    if not app_file.is_file():
        raise AppLoadError(f"{app_file} does not exist")
    config = load_config(app_dir, chalice_stage)
    added = _extend_sys_path(app_dir)
    spec = importlib.util.spec_from_file_location(APP_MODULE, app_file)
    if spec is None or spec.loader is None:
        raise AppLoadError(f"cannot import {app_file}")
    module = importlib.util.module_from_spec(spec)
    previous = sys.modules.get(APP_MODULE)
    # Registered while it executes (as an import would), then the previous `app`
    # module, if any, is put back: a test that imports the project's own app.py
    # later must not get this one.
    sys.modules[APP_MODULE] = module
    scope = nullcontext() if environ is None else environ.scoped(config.environment_variables)
    try:
        with scope:
            spec.loader.exec_module(module)
    except BaseException:
        for path in added:
            sys.path.remove(path)
        raise
    finally:
        if not keep_module:
            if previous is None:
                sys.modules.pop(APP_MODULE, None)
            else:
                sys.modules[APP_MODULE] = previous
    app = getattr(module, "app", None)
    if not isinstance(app, Chalice):
        for path in added:
            sys.path.remove(path)
        raise AppLoadError(f"{app_file} defines no Chalice object named 'app'")
    return LoadedApp(app=app, module=module, config=config, app_dir=app_dir, _added_paths=added)


def _extend_sys_path(app_dir: Path) -> list[str]:
    added: list[str] = []
    if str(app_dir) not in sys.path:
        sys.path.insert(0, str(app_dir))
        added.append(str(app_dir))
    # Chalice copies vendor/ to the top of the bundle; locally it goes last so a
    # Linux-only wheel in vendor/ does not shadow an installed one (as chalice local).
    vendor = app_dir / "vendor"
    if vendor.is_dir() and str(vendor) not in sys.path:
        sys.path.append(str(vendor))
        added.append(str(vendor))
    return added


def make_request_state_thread_local(app: Chalice) -> None:
    """Give `app` a subclass whose current_request / lambda_context are per thread.

    `chalice local` mutates a shared class (`CustomLocalChalice.__bases__`); a fresh
    subclass per app keeps two gateways in one process apart.
    """
    state = threading.local()

    def _getter(name: str) -> property:
        def get(_self: Chalice) -> Any:
            return getattr(state, name, None)

        def set_(_self: Chalice, value: Any) -> None:
            setattr(state, name, value)

        return property(get, set_)

    cls = type(app)
    app.__class__ = type(
        f"ThreadLocal{cls.__name__}",
        (cls,),
        {
            "current_request": _getter("current_request"),
            "lambda_context": _getter("lambda_context"),
        },
    )


def point_websocket_api(
    app: Chalice, management_url: str, region: str, max_pool: int | None = None
) -> None:
    """Make `app.websocket_api.send/close/info` call this gateway's management API.

    `max_pool` builds the client now, with one pooled HTTP connection per handler
    thread (threads runtime: handlers post concurrently, and a smaller pool would open
    and discard a socket per request). None leaves it to Chalice, which builds it on
    first use with botocore's defaults, as on Lambda (a worker process).
    """
    session = boto3.session.Session(
        aws_access_key_id=DUMMY_ACCESS_KEY,
        aws_secret_access_key=DUMMY_ACCESS_KEY,
        region_name=region,
    )
    websocket_api = app.websocket_api
    websocket_api.session = session
    # Chalice has no public way to set an http:// endpoint: configure() only fills an
    # https template, and returns early once _endpoint is set -- which is what keeps
    # configure_from_api_id (called on every websocket event) from overriding ours.
    websocket_api._endpoint = management_url
    if max_pool is not None:
        client = session.client(
            "apigatewaymanagementapi",
            endpoint_url=management_url,
            config=BotocoreConfig(max_pool_connections=max_pool),
        )
        websocket_api._client = client  # type: ignore[assignment]  # typed as its None default
