"""Every failure the API reports is a JSON document with a stable ``error`` code.

Handlers raise ``ApiError`` (or a ``MonitorError`` that maps to one); the
middleware turns it, aiohttp's own HTTP exceptions (413 body too large, 405,
404) and request-body problems into ``{"error": code, "message": ...}`` with
the right 4xx status. A bug is still answered as JSON (500, ``internal``) and
logged with its traceback, but bad input never reaches that path.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from monitor.errors import AlarmError, AuthError, MonitorError, StoreError

log = logging.getLogger("monitor.api")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    """An error answer: HTTP status, machine-readable code, human message, optional details."""

    def __init__(self, status: int, code: str, message: str,
                 details: Any = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.details, self.headers = details, headers or {}


def bad_request(message: str, details: Any = None) -> ApiError:
    return ApiError(400, "bad_request", message, details)


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} not found")


def unauthorized(message: str = "authentication required") -> ApiError:
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


def forbidden(message: str) -> ApiError:
    return ApiError(403, "forbidden", message)


def json_error(status: int, code: str, message: str, details: Any = None,
               headers: dict[str, str] | None = None) -> web.Response:
    body: dict[str, Any] = {"error": code, "message": message}
    if details is not None:
        body["details"] = details
    return web.json_response(body, status=status, headers=headers)


def validation_details(err: ValidationError) -> list[dict[str, str]]:
    """Pydantic errors as ``{"field": "a.b", "problem": "..."}``, never echoing input values."""
    out = []
    for item in err.errors(include_url=False, include_input=False):
        field = ".".join(str(p) for p in item["loc"]) or "(body)"
        out.append({"field": field, "problem": item["msg"]})
    return out


_HTTP_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 406: "not_acceptable", 409: "conflict",
    413: "body_too_large", 415: "unsupported_media_type", 429: "too_many_requests",
}


def wants_html(request: web.Request) -> bool:
    """Web pages get HTML error pages; the API, /metrics and health checks get JSON."""
    path = request.path
    return not (path.startswith(("/api/", "/static/")) or path in _MACHINE_PATHS)


_MACHINE_PATHS = frozenset({"/metrics", "/healthz", "/readyz"})


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await _guarded(request, handler)
    if response.status >= 400 and isinstance(response, web.Response) and wants_html(request) \
            and response.content_type == "application/json":
        from .web.render import error_page

        return error_page(response)
    return response


async def _guarded(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as err:
        return json_error(err.status, err.code, err.message, err.details, err.headers)
    except web.HTTPException as err:
        if err.status < 400:
            raise  # redirects are answers, not errors
        code = _HTTP_CODES.get(err.status, "http_error")
        message = err.reason if err.status != 413 else err.text or "request body too large"
        headers = {k: v for k, v in err.headers.items() if k in ("Allow", "Retry-After")}
        return json_error(err.status, code, message or code, headers=headers)
    except ValidationError as err:
        return json_error(422, "invalid_body", "the request body does not match the schema",
                          validation_details(err))
    except AlarmError as err:
        return json_error(409, "alarm_refused", str(err))
    except AuthError as err:
        return json_error(403, "forbidden", str(err))
    except StoreError as err:
        log.warning("store error answering %s %s: %s", request.method, request.path, err)
        return json_error(503, "store_unavailable", str(err))
    except MonitorError as err:
        return json_error(422, "refused", str(err))
    except Exception:
        log.exception("unhandled error answering %s %s", request.method, request.path)
        return json_error(500, "internal", "internal error; see the daemon log")


async def read_json(request: web.Request) -> Any:
    """The JSON body, or a 4xx naming what is wrong with it (type, size, syntax)."""
    if request.content_type != "application/json":
        raise ApiError(415, "unsupported_media_type", "send the body as application/json")
    try:
        raw = await request.read()  # raises 413 past client_max_size
    except web.HTTPRequestEntityTooLarge as err:
        raise ApiError(413, "body_too_large", err.text or "request body too large") from err
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise bad_request(f"malformed JSON: {err}") from err
    except RecursionError as err:  # e.g. '[' * 100000: deeper than any body we accept
        raise bad_request("malformed JSON: nested too deeply") from err
