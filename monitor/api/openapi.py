"""OpenAPI 3.1 description of the API, generated from the same route table that serves it.

Request bodies and query parameters come from the pydantic models the
handlers validate against, so the description cannot drift from what is
enforced.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from monitor import __version__

from .auth import COOKIE, CSRF_HEADER
from .lazy import import_off_loop
from .routes import ROUTES
from .routing import Route

_PARAM = re.compile(r"{(\w+)}")
_REF = "#/components/schemas/{model}"

_STATUS_TEXT = {
    200: "OK", 201: "Created", 204: "No content", 400: "Bad request (invalid query or input)",
    401: "Not authenticated", 403: "Not allowed (role, CSRF or password change)",
    404: "Not found", 409: "Refused by the alarm engine (wrong state)",
    413: "Body too large", 415: "Body must be application/json",
    422: "Body does not match the schema", 429: "Too many attempts",
    503: "Not ready / store unavailable",
}


def _schema(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template=_REF)
    for name, sub in schema.pop("$defs", {}).items():
        components[name] = sub
    components[model.__name__] = schema
    return {"$ref": _REF.format(model=model.__name__)}


def _parameters(route: Route) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PARAM.findall(route.full_path)
    ]
    schema = route.query_model.model_json_schema()
    required = set(schema.get("required", []))
    for name, prop in schema.get("properties", {}).items():
        param = {"name": name, "in": "query", "required": name in required,
                 "schema": {k: v for k, v in prop.items() if k != "description"}}
        if "description" in prop:
            param["description"] = prop["description"]
        params.append(param)
    if route.changes_state and route.csrf:
        params.append({"name": CSRF_HEADER, "in": "header", "required": False,
                       "description": "The session's CSRF token; required with cookie "
                       "sessions, not with bearer tokens", "schema": {"type": "string"}})
    return params


def _operation(route: Route, components: dict[str, Any]) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": route.summary,
        "operationId": route.name,
        "tags": [route.tag],
        "parameters": _parameters(route),
    }
    if route.permission is not None:
        op["description"] = f"Needs permission `{route.permission.value}`."
        op["security"] = [{"bearerAuth": []}, {"cookieAuth": []}]
    else:
        op["security"] = [{}]
    body = route.body_model
    if body is not None:
        op["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": _schema(body, components)}}}
    codes = {201} if 201 in route.responses else {200}
    if 204 in route.responses:
        codes = {204}
    codes |= set(route.responses) | {400}
    if route.permission is not None:
        codes |= {401, 403}
    if body is not None:
        codes |= {413, 415, 422}
    if _PARAM.search(route.full_path):
        codes.add(404)
    responses: dict[str, Any] = {}
    for code in sorted(codes):
        entry: dict[str, Any] = {"description": _STATUS_TEXT.get(code, "")}
        if code >= 400:
            entry["content"] = {"application/json": {"schema": {"$ref": _REF.format(
                model="Error")}}}
        elif code != 204:
            entry["content"] = {"application/json": {"schema": {"type": "object"}}}
        responses[str(code)] = entry
    op["responses"] = responses
    return op


def build_openapi(routes: Sequence[Route] = ROUTES) -> dict[str, Any]:
    components: dict[str, Any] = {
        "Error": {
            "type": "object", "required": ["error", "message"],
            "properties": {
                "error": {"type": "string", "description": "Stable machine-readable code"},
                "message": {"type": "string"},
                "details": {"description": "Per-field problems, when the input was invalid"},
            },
        },
    }
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.full_path, {})[route.method.lower()] = _operation(route,
                                                                                components)
    paths["/api/v1/openapi.json"] = {"get": {
        "summary": "This document", "operationId": "openapi", "tags": ["health"],
        "security": [{}], "responses": {"200": {"description": "OK"}}}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "cleanroom-monitor API",
            "version": __version__,
            "description": "GMP cleanroom environmental monitoring: readings, history, alarms, "
            "excursions, location states. Times are UTC. Every change is audited and needs "
            "a login with the right role; acknowledging and shelving need the password again "
            "(electronic signature).",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer",
                               "description": "API token: cleanroom-monitor user token"},
                "cookieAuth": {"type": "apiKey", "in": "cookie", "name": COOKIE},
            },
        },
    }


_CACHE: dict[str, str] = {}


async def openapi_route(request: web.Request) -> web.StreamResponse:
    """The document, built at its first request; its JSON text is kept, not the dicts."""
    if "doc" not in _CACHE:
        await import_off_loop(set().union(*(route.modules for route in ROUTES)))
        _CACHE["doc"] = json.dumps(build_openapi())
    return web.json_response(text=_CACHE["doc"])
