"""One table of API routes, used both to serve them and to describe them in OpenAPI.

Each ``Route`` names its permission, its query and body models (pydantic,
unknown fields refused) and its summary; ``wrap`` turns it into an aiohttp
handler that authenticates, authorises, checks CSRF, parses and validates
the input, and only then calls the handler. A handler therefore never sees
an unauthenticated state change or an unvalidated body.

A route of a rarely used resource names its handler and models as
``"module:attribute"``: the module is imported at the first request to one of
its routes (``monitor.api.lazy``), so the table is complete without it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any, Generic, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, ValidationError

from monitor.users.roles import Permission

from .auth import Principal, authenticate, authorize, check_csrf
from .context import CTX, ApiContext
from .errors import ApiError, bad_request, read_json, validation_details
from .lazy import import_off_loop, resolve

PREFIX = "/api/v1"
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class Strict(BaseModel):
    """Base of request models: unknown fields are an error, strings are trimmed."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


class NoQuery(Strict):
    pass


Q = TypeVar("Q", bound=BaseModel)
B = TypeVar("B", bound=BaseModel | None)


@dataclass(frozen=True)
class ApiRequest(Generic[Q, B]):
    request: web.Request
    ctx: ApiContext
    principal: Principal | None
    query: Q
    body: B

    @property
    def username(self) -> str:
        return self.principal.username if self.principal else "anonymous"

    def path(self, name: str) -> str:
        return self.request.match_info[name]


Handler = Callable[[ApiRequest[Any, Any]], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # below PREFIX unless it starts with "/"
    handler: Handler | str  # or "module:function", imported at the first request
    summary: str
    permission: Permission | None = Permission.VIEW
    query: type[BaseModel] | str = NoQuery  # a model or "module:Model", as ``handler``
    body: type[BaseModel] | str | None = None
    tag: str = "readings"
    responses: tuple[int, ...] = ()
    csrf: bool = True

    @property
    def full_path(self) -> str:
        return self.path if self.path.startswith("/") else f"{PREFIX}/{self.path}"

    @property
    def changes_state(self) -> bool:
        return self.method in STATE_CHANGING

    @property
    def name(self) -> str:
        """The handler's name (the OpenAPI operation id), known before it is imported."""
        if isinstance(self.handler, str):
            return self.handler.rpartition(":")[2]
        return self.handler.__name__

    @cached_property
    def modules(self) -> frozenset[str]:
        """The modules still to import for this route (its ``"module:attribute"`` names)."""
        return frozenset(ref.partition(":")[0] for ref in (self.handler, self.query, self.body)
                         if isinstance(ref, str))

    @cached_property
    def loaded(self) -> Route:
        """This route with its handler and models imported (itself when none is lazy)."""
        if not self.modules:
            return self
        return replace(self, **{field: resolve(ref) for field, ref in (
            ("handler", self.handler), ("query", self.query), ("body", self.body))
            if isinstance(ref, str)})

    @property
    def handler_fn(self) -> Handler:
        handler = self.loaded.handler
        assert not isinstance(handler, str)
        return handler

    @property
    def query_model(self) -> type[BaseModel]:
        query = self.loaded.query
        assert not isinstance(query, str)
        return query

    @property
    def body_model(self) -> type[BaseModel] | None:
        body = self.loaded.body
        assert not isinstance(body, str)
        return body


def _query(route: Route, request: web.Request) -> BaseModel:
    params: dict[str, str] = {}
    for key in request.query:
        values = request.query.getall(key)
        if len(values) > 1:
            raise bad_request(f"query parameter {key!r} given {len(values)} times")
        params[key] = values[0]
    try:
        return route.query_model.model_validate(params)
    except ValidationError as err:
        raise ApiError(400, "invalid_query", "invalid query parameters",
                       validation_details(err)) from err


async def _body(route: Route, request: web.Request) -> BaseModel | None:
    model = route.body_model
    if model is None:
        if request.can_read_body and request.content_length not in (None, 0):
            raise bad_request("this endpoint takes no request body")
        return None
    raw = await read_json(request)
    if not isinstance(raw, dict):
        raise ApiError(422, "invalid_body", "the request body must be a JSON object",
                       [{"field": "(body)", "problem": f"expected an object, got "
                         f"{type(raw).__name__}"}])
    try:
        return model.model_validate(raw)
    except ValidationError as err:
        raise ApiError(422, "invalid_body", "the request body does not match the schema",
                       validation_details(err)) from err


def wrap(route: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        if route.modules:
            await import_off_loop(route.modules)  # once: a no-op when they are loaded
        ctx = request.app[CTX]
        principal = await authenticate(request, ctx)
        authorize(ctx, request, principal, route.permission, changes_state=route.changes_state)
        if route.changes_state and route.csrf:
            check_csrf(ctx, request, principal)
        query = _query(route, request)
        body = await _body(route, request)
        return await route.handler_fn(ApiRequest(request, ctx, principal, query, body))

    handle.__name__ = route.name
    return handle


def add_routes(app: web.Application, routes: Sequence[Route]) -> None:
    for route in routes:
        app.router.add_route(route.method, route.full_path, wrap(route))


def ok(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=_dumps)


def _dumps(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False, allow_nan=False, default=str)
