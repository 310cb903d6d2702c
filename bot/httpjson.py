"""JSON request bodies as every route of the bot app reads them (one place for the checks)."""

from __future__ import annotations

import json

from starlette.requests import Request

__all__ = ["MAX_JSON_DEPTH", "BadJson", "is_json", "json_body"]

MAX_JSON_DEPTH = 32


class BadJson(Exception):
    """The body is not JSON we accept (malformed, not UTF-8, or nested too deep)."""


def is_json(request: Request) -> bool:
    """Content-Type is application/json, with at most a UTF-8 charset parameter."""
    media, *params = request.headers.get("content-type", "").split(";")
    if media.strip().lower() != "application/json":
        return False
    for param in params:
        name, _, value = param.strip().partition("=")
        if not param.strip():
            continue
        if name.strip().lower() != "charset" or value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            return False
    return True


def _too_deep(value: object, limit: int = MAX_JSON_DEPTH) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


async def json_body(request: Request) -> object:
    """The parsed JSON body, or ``BadJson`` (the size limit is the middleware's)."""
    body = await request.body()
    try:
        value = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError) as error:   # UnicodeDecodeError is a ValueError
        raise BadJson from error
    if _too_deep(value):
        raise BadJson
    return value
