"""Structured logs and metrics (Powertools), and the Chalice middleware that scopes them.

Log lines carry the connection id and request id as keys; they never carry a token or
message content (handlers log ids, counts and error codes only). Metrics are CloudWatch
EMF lines, flushed at the end of each invocation. Powertools is imported at the first
log line or metric, not when `app` is imported (cold start, docs/benchmarks.md).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chalicelib.errors import ImError, as_im_error

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger, Metrics

SERVICE = "serverless-im"


@functools.cache
def _logger() -> Logger:
    from aws_lambda_powertools import Logger

    return Logger(service=SERVICE)


@functools.cache
def _metrics() -> Metrics:
    from aws_lambda_powertools import Metrics

    return Metrics(namespace="ServerlessIM", service=SERVICE)


class _LazyLogger:
    """Stands for the Powertools Logger, built on first use."""

    def __getattr__(self, name: str) -> Any:
        return getattr(_logger(), name)


logger: Logger = _LazyLogger()  # type: ignore[assignment]


def count(name: str, value: int = 1) -> None:
    if value:
        from aws_lambda_powertools.metrics import MetricUnit

        _metrics().add_metric(name=name, unit=MetricUnit.Count, value=value)


def refusal(exc: Exception) -> ImError:
    """The client-visible error for `exc`, logged once: ours at info (a refusal is
    normal), anything else with its traceback (a bug), never with request data."""
    err = as_im_error(exc)
    if exc is err:
        logger.info("refused", extra={"code": err.code, "status": err.status})
    else:
        logger.exception("failed")
    return err


def _request_keys(event: Any) -> dict[str, str]:
    keys: dict[str, str] = {}
    connection_id = getattr(event, "connection_id", None)
    if connection_id:
        keys["connection_id"] = connection_id
    raw = event.to_dict() if hasattr(event, "to_dict") else {}
    context = raw.get("requestContext") or getattr(event, "context", None) or {}
    if isinstance(context, dict):
        if context.get("requestId"):
            keys["request_id"] = str(context["requestId"])
        if context.get("routeKey"):
            keys["route"] = str(context["routeKey"])
        elif context.get("resourcePath"):
            keys["route"] = str(context["resourcePath"])
    return keys


def observe(event: Any, get_response: Callable[[Any], Any]) -> Any:
    """Chalice middleware for every handler: log keys for this invocation, then metrics."""
    keys = _request_keys(event)
    logger.thread_safe_append_keys(**keys)
    try:
        return get_response(event)
    finally:
        logger.thread_safe_remove_keys(list(keys))
        _flush_metrics()


def _flush_metrics() -> None:
    metrics = _metrics.cache_info().currsize and _metrics()
    if not metrics or not metrics.metric_set:
        return
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            metrics.flush_metrics()
    except Exception:  # metrics must never fail the request they describe
        logger.warning("metrics flush failed", exc_info=True)
    finally:
        # With POWERTOOLS_METRICS_DISABLED, flush_metrics() keeps the set, and Powertools
        # prints it anyway once a metric reaches 100 values; clearing keeps it quiet.
        metrics.clear_metrics()


def discard_metrics() -> None:
    """Drop what was counted, unflushed (code that runs use cases outside a Lambda)."""
    _metrics().clear_metrics()
