"""Client input -> typed models, and validation failures -> our errors.

Messages of refusals name the field and the rule, never echo the value (it could be
message content or a token).
"""

from __future__ import annotations

import json
from typing import TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import from_json

from chalicelib.errors import BadRequest, ImError, TooLarge
from chalicelib.models.frames import ACTIONS, ClientFrame
from chalicelib.models.types import ACK_ID_MAX_CHARS, REQUEST_ID_MAX_CHARS

M = TypeVar("M", bound=BaseModel)

# API Gateway's own message limit; a valid frame (8,000 characters of content, even all
# written as JSON escapes) always fits.
MAX_FRAME_CHARS = 128 * 1024
_frames: TypeAdapter[ClientFrame] = TypeAdapter(ClientFrame)


def _describe(exc: ValidationError) -> ImError:
    first = exc.errors(include_url=False, include_input=False)[0]
    kind = first["type"]
    # The discriminated union puts the tag first in the location; drop it.
    loc = [str(p) for p in first["loc"] if p not in ACTIONS]
    where = ".".join(loc)
    if kind == "json_invalid":
        return BadRequest("body is not valid JSON")
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return BadRequest("expected a JSON object")
    if kind == "union_tag_not_found":
        return BadRequest("`action` is required")
    if kind == "union_tag_invalid":
        return BadRequest(f"unknown action; expected one of {', '.join(ACTIONS)}")
    if kind == "string_too_long" and where == "content":
        return TooLarge("content is longer than 8000 characters")
    if kind == "extra_forbidden":
        return BadRequest(f"unknown field `{where}`")
    if kind == "missing":
        return BadRequest(f"`{where}` is required")
    if kind == "value_error":
        message = str(first.get("ctx", {}).get("error", first["msg"]))
        return BadRequest(message)
    return BadRequest(f"`{where}`: {first['msg']}" if where else first["msg"])


def parse_client_frame(body: str | None) -> ClientFrame:
    if body is None or body == "":
        raise BadRequest("empty frame")
    if len(body) > MAX_FRAME_CHARS:
        raise TooLarge("frame too large")
    _check_json(body)
    try:
        return _frames.validate_json(body)
    except ValidationError as exc:
        raise _describe(exc) from None


def _check_json(body: str) -> None:
    """Refuses what is not RFC 8259 JSON although pydantic's validate_json takes it:
    `NaN` and `Infinity`, which a frame could carry in a key it ignores. (A second parse
    of a text of at most 128 KiB; validate_json keeps its own error messages.)"""
    try:
        from_json(body, allow_inf_nan=False)
    except (ValueError, TypeError):  # not JSON, or not text (a lone surrogate)
        raise BadRequest("body is not valid JSON") from None


def parse_body(model: type[M], raw: bytes | str | None, max_bytes: int) -> M:
    """A REST body into `model`; an empty body is `{}` (all fields at their defaults)."""
    if raw is None or raw in (b"", ""):
        raw = b"{}"
    if len(raw) > max_bytes:
        raise TooLarge("request body too large")
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise _describe(exc) from None


def recover_ids(body: str | None) -> tuple[str | None, str | None]:
    """The frame's `ack_id` and `request_id`, if they can be read even from a frame that
    failed validation, so the client can match the error to what it sent."""
    if not body or len(body) > MAX_FRAME_CHARS:
        return None, None
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # not JSON, or nested too deep to read
        return None, None
    if not isinstance(data, dict):
        return None, None
    return _id(data.get("ack_id"), ACK_ID_MAX_CHARS), _id(
        data.get("request_id"), REQUEST_ID_MAX_CHARS
    )


def _id(value: object, max_chars: int) -> str | None:
    if not isinstance(value, str) or not 0 < len(value) <= max_chars:
        return None
    try:
        value.encode()  # a lone surrogate ("\ud800") cannot be sent back as UTF-8
    except UnicodeEncodeError:
        return None
    return value
