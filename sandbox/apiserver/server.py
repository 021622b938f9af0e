"""The HTTP layer: Kubernetes API paths mapped onto the store, served with Starlette.

Discovery and OpenAPI documents, CRUD on every resource, list and watch (with Table output
for kubectl), patches of all four types, the status and scale subresources, pods/log, the
service and pod proxies, pods/portforward and pods/exec.  Errors are Kubernetes ``Status`` objects.
Objects go out in the version the path names (converted when it is not the stored one).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from sandbox.apimachinery.errors import ApiError
from sandbox.apimachinery.selectors import SelectorError
from sandbox.apiserver import (
    auth,
    binding,
    conversion,
    decoding,
    discovery,
    listing,
    logs,
    openapi,
    protobuf,
    proxy,
    tables,
)
from sandbox.apiserver import exec as pod_exec
from sandbox.apiserver.objects import ObjectApi, WriteOptions, decode_body
from sandbox.apiserver.patch import PATCH_TYPES
from sandbox.apiserver.portforward import SUBPROTOCOL, PortForwardSession
from sandbox.apiserver.watch import WatchRequest, watch_events
from sandbox.resources import Resource, find
from sandbox.storage.store import Store

log = logging.getLogger(__name__)

Obj = dict[str, Any]

DEFAULT_WATCH_TIMEOUT = 1800.0
PROTOBUF = "application/vnd.kubernetes.protobuf"
_STREAMING = re.compile(r"^/api/v1/namespaces/([^/]+)/pods/([^/]+)/(exec|attach|portforward)$")
PORT_FORWARD_PATH = "/api/v1/namespaces/{namespace}/pods/{name}/portforward"
EXEC_PATH = "/api/v1/namespaces/{namespace}/pods/{name}/exec"
# kube-apiserver's --max-request-bytes default: limitedReadBody refuses a larger write.
MAX_REQUEST_BODY = 3 * 1024 * 1024


@dataclass
class Target:
    """What an API path names."""

    resource: Resource
    namespace: str | None
    name: str | None
    subresource: str | None
    rest: str


def parse_path(path: str) -> Target | None:
    """What an API path such as /apis/apps/v1/namespaces/NS/deployments/NAME/scale names."""
    parts = [part for part in path.split("/") if part]
    if parts[:2] == ["api", "v1"]:
        group, version, rest = "", "v1", parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    namespace = None
    if len(rest) >= 3 and rest[0] == "namespaces":
        scoped = find(group, version, rest[2])
        if scoped and scoped.namespaced:
            namespace, rest = rest[1], rest[2:]
    if not rest:
        return None
    resource = find(group, version, rest[0])
    if resource is None or (len(rest) > 3 and rest[2] != "proxy"):
        return None
    name = rest[1] if len(rest) > 1 else None
    subresource = rest[2] if len(rest) > 2 else None
    if subresource and subresource not in resource.subresources:
        return None
    return Target(resource, namespace, name, subresource, "/".join(rest[3:]))


def json_response(body: Any, status: int = 200) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":")), status_code=status, media_type="application/json"
    )


def error_response(error: ApiError) -> Response:
    return json_response(error.status(), error.code)


def _flag(request: Request, name: str) -> bool:
    return request.query_params.get(name, "").lower() in ("true", "1")


def _int_param(request: Request, name: str) -> int | None:
    value = request.query_params.get(name)
    if value in (None, ""):
        return None
    try:
        return int(str(value))
    except ValueError as error:
        raise ApiError.bad_request(f"{name} must be an integer, not {value!r}") from error


def _wants_table(request: Request) -> bool:
    return "as=Table" in request.headers.get("accept", "")


def _table_include(request: Request) -> str:
    """What each Table row carries of its object (?includeObject=, Metadata by default)."""
    include = request.query_params.get("includeObject") or "Metadata"
    if include not in tables.INCLUDE_OBJECT:
        choices = ", ".join(tables.INCLUDE_OBJECT)
        raise ApiError.bad_request(f"includeObject must be one of {choices}, not {include!r}")
    return include


# The options type each write method decodes its query parameters into.
_OPTIONS = {"POST": "CreateOptions", "PUT": "UpdateOptions", "PATCH": "PatchOptions"}


def _write_options(request: Request) -> WriteOptions:
    field_manager = request.query_params.get("fieldManager", "")
    user_agent = request.headers.get("user-agent", "").split("/")[0][:128]
    validation = decoding.WARN
    if request.method in _OPTIONS:
        validation = decoding.directive_of(
            request.query_params.get("fieldValidation"), _OPTIONS[request.method]
        )
    return WriteOptions(
        dry_run=request.query_params.get("dryRun") == "All",
        field_manager=field_manager,
        manager=field_manager or user_agent or "unknown",
        force=_flag(request, "force"),
        validation=validation,
    )


class ApiServer:
    """Request handling around one store and the state folder the runtime writes logs to."""

    def __init__(self, store: Store, state_dir: Path):
        self.store = store
        self.state_dir = state_dir
        self.objects = ObjectApi(store)
        self.http = httpx.AsyncClient(timeout=30.0)

    # -------------------------------------------------------------- dispatch

    async def handle(self, request: Request) -> Response:
        try:
            return await self._handle(request)
        except ApiError as error:
            return error_response(error)
        except SelectorError as error:
            return error_response(ApiError.bad_request(str(error)))
        except Exception as error:
            log.exception("internal error on %s %s", request.method, request.url.path)
            return error_response(ApiError(500, "InternalError", f"internal error: {error}"))

    async def _handle(self, request: Request) -> Response:
        path = request.url.path.rstrip("/") or "/"
        fixed = self._fixed(path)
        if fixed is not None:
            return fixed
        target = parse_path(path)
        if target is None:
            streaming = _STREAMING.match(path)
            if streaming:
                # kubectl lands here after a refused WebSocket: say why it was refused.
                await self._streamable_pod(streaming[1], streaming[2])
                raise ApiError.bad_request(
                    "the sandbox cannot attach to a pod's process; exec and port-forward "
                    "need kubectl 1.31 or later (they speak WebSockets); reach a pod's port "
                    "through the service proxy "
                    "(kubectl get --raw /api/v1/namespaces/NS/services/NAME:PORT/proxy/PATH) "
                    "or at the pod's own address, its status.podIP and containerPort"
                )
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if target.subresource == "proxy":
            return await self._proxy(request, target)
        content_type = request.headers.get("content-type", "").split(";")[0].strip()
        body = await request.body()
        if len(body) > MAX_REQUEST_BODY:
            raise ApiError(
                413,
                "RequestEntityTooLarge",
                f"Request entity too large: limit is {MAX_REQUEST_BODY}",
            )
        if target.resource.plural in auth.REVIEWS:
            if request.method != "POST" or target.name is not None:
                raise ApiError(
                    405,
                    "MethodNotAllowed",
                    "the server does not allow this method on the requested resource",
                )
            sent = decode_body(body) if content_type == "application/json" else None
            return json_response(auth.review(target.resource.plural, sent), 201)
        if content_type == PROTOBUF:
            # kubectl's typed clients (kubectl create ...) send protobuf; the rest is JSON.
            body = json.dumps(await run_in_threadpool(protobuf.decode, body)).encode()
            content_type = "application/json"
        if request.method == "GET" and target.subresource == "log":
            return await self._logs(request, target)
        if request.method == "GET" and target.name is None and _flag(request, "watch"):
            return self._watch(request, target)
        return await run_in_threadpool(self._sync, request, target, content_type, body)

    def _fixed(self, path: str) -> Response | None:
        if path == "/version":
            return json_response(discovery.VERSION_INFO)
        if path in ("/healthz", "/livez", "/readyz"):
            return Response("ok", media_type="text/plain")
        if path == "/api":
            return json_response(discovery.core_versions())
        if path == "/apis":
            return json_response(discovery.api_groups())
        if path == "/openapi/v3":
            return json_response(openapi.index())
        if path.startswith("/openapi/v3/"):
            group_version = openapi.group_version_of(path[len("/openapi/v3/") :])
            document = openapi.document(group_version) if group_version else None
            if document is None:
                raise ApiError(404, "NotFound", "no OpenAPI document for that group version")
            return Response(document, media_type="application/json")
        if path == "/api/v1":
            return json_response(discovery.resource_list("v1"))
        parts = path.strip("/").split("/")
        if parts[0] == "apis" and len(parts) == 3:
            listing = discovery.resource_list(f"{parts[1]}/{parts[2]}")
            if listing is None:
                raise ApiError(404, "NotFound", f"no API group version {parts[1]}/{parts[2]}")
            return json_response(listing)
        if parts[0] == "apis" and len(parts) == 2:
            group = next(
                (g for g in discovery.api_groups()["groups"] if g["name"] == parts[1]), None
            )
            if group is None:
                raise ApiError(404, "NotFound", f"no API group {parts[1]}")
            return json_response({"kind": "APIGroup", "apiVersion": "v1", **group})
        return None

    # ------------------------------------------------------------ plain calls

    def _sync(self, request: Request, target: Target, content_type: str, body: bytes) -> Response:
        with decoding.collecting_warnings() as warnings:
            response = self._call(request, target, content_type, body)
        for warning in warnings:
            response.headers.append("Warning", decoding.warning_header(warning))
        return response

    def _call(self, request: Request, target: Target, content_type: str, body: bytes) -> Response:
        method, resource = request.method, target.resource
        ns, name, sub = target.namespace, target.name, target.subresource
        if resource.namespaced and ns is None and (name or method not in ("GET",)):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        params = request.query_params

        def served(obj: Obj) -> Obj:
            return conversion.to_served(resource, obj)

        if method == "GET" and name is None:
            page = listing.list_page(
                self.store,
                listing.ListRequest(
                    resource.plural,
                    ns,
                    label_selector=params.get("labelSelector"),
                    field_selector=params.get("fieldSelector"),
                    limit=_int_param(request, "limit") or 0,
                    continue_token=params.get("continue") or "",
                    resource_version=params.get("resourceVersion") or "",
                ),
            )
            if _wants_table(request):
                rendered = tables.table(
                    resource.plural, page.items, page.resource_version, _table_include(request)
                )
                rendered["metadata"] = page.metadata()
                return json_response(rendered)
            return json_response(
                {
                    "kind": f"{resource.kind}List",
                    "apiVersion": resource.api_version,
                    "metadata": page.metadata(),
                    "items": [served(item) for item in page.items],
                }
            )
        if method == "GET":
            assert name is not None
            if sub == "scale":
                return json_response(self.objects.scale(resource, ns, name))
            obj = self.store.get(resource.plural, ns, name)
            if _wants_table(request):
                return json_response(
                    tables.table(
                        resource.plural, [obj], self.store.resource_version, _table_include(request)
                    )
                )
            return json_response(served(obj))
        options = _write_options(request)
        if method == "POST" and sub == "binding" and name is not None and ns is not None:
            return json_response(binding.bind(self.store, ns, name, decode_body(body)), 201)
        if method == "POST" and name is None:
            sent = decoding.decode_object(resource, body, options.validation)
            return json_response(served(self.objects.create(resource, ns, sent, options)), 201)
        if method == "PUT" and name is not None:
            # A scale subresource takes a Scale, which the scale handler reads itself.
            sent = (
                decode_body(body)
                if sub == "scale"
                else decoding.decode_object(resource, body, options.validation)
            )
            return json_response(
                served(self.objects.replace(resource, ns, name, sent, sub, options))
            )
        if method == "PATCH" and name is not None:
            if content_type not in PATCH_TYPES:
                raise ApiError(
                    415,
                    "UnsupportedMediaType",
                    f"the body of the request was in an unknown format - accepted media types "
                    f"include: {', '.join(PATCH_TYPES)}",
                )
            patched, was_created = self.objects.patch(
                resource, ns, name, content_type, body, sub, options
            )
            return json_response(served(patched), 201 if was_created else 200)
        if method == "DELETE":
            delete_options = decode_body(body) if body.strip() else {}
            if not isinstance(delete_options, dict):
                raise ApiError.bad_request("the DeleteOptions body must be a JSON object")
            propagation = params.get("propagationPolicy") or delete_options.get("propagationPolicy")
            orphan = params.get("orphanDependents") or delete_options.get("orphanDependents")
            if propagation is None and orphan is not None:
                propagation = "Orphan" if str(orphan).lower() == "true" else "Background"
            dry_run = options.dry_run or "All" in (delete_options.get("dryRun") or [])
            grace = params.get("gracePeriodSeconds", delete_options.get("gracePeriodSeconds"))
            try:
                grace_period = None if grace is None else int(grace)
            except ValueError as error:
                raise ApiError.bad_request(f"invalid gracePeriodSeconds: {grace}") from error
            if name is None:
                deleted = self.objects.delete_collection(
                    resource,
                    ns,
                    params.get("labelSelector"),
                    params.get("fieldSelector"),
                    propagation,
                    dry_run,
                    grace_period,
                )
                deleted["items"] = [served(item) for item in deleted["items"]]
                return json_response(deleted)
            return json_response(
                served(self.objects.delete(resource, ns, name, propagation, dry_run, grace_period))
            )
        raise ApiError(405, "MethodNotAllowed", f"{method} is not supported on this path")

    # ---------------------------------------------------------------- streams

    def _watch(self, request: Request, target: Target) -> Response:
        params = request.query_params
        resource = target.resource
        timeout = _int_param(request, "timeoutSeconds")
        watch = WatchRequest(
            resource=resource.plural,
            kind=resource.kind,
            api_version=resource.api_version,
            namespace=target.namespace,
            label_selector=params.get("labelSelector"),
            field_selector=params.get("fieldSelector"),
            resource_version=params.get("resourceVersion"),
            timeout=float(timeout) if timeout else DEFAULT_WATCH_TIMEOUT,
            bookmarks=_flag(request, "allowWatchBookmarks"),
        )
        # Parse the selectors now, so bad ones fail with a 400 instead of a broken stream.
        self.store.list(
            resource.plural,
            "\0",
            label_selector=watch.label_selector,
            field_selector=watch.field_selector,
        )
        as_table = _wants_table(request)
        include = _table_include(request) if as_table else "Metadata"

        def render(event: str, obj: Obj) -> Obj:
            if as_table:
                version = obj["metadata"]["resourceVersion"]
                return tables.table(resource.plural, [obj], version, include)
            return conversion.to_served(resource, obj)

        return StreamingResponse(
            watch_events(self.store, watch, render), media_type="application/json"
        )

    async def _logs(self, request: Request, target: Target) -> Response:
        assert target.name is not None and target.namespace is not None
        log_request = logs.LogRequest(
            namespace=target.namespace,
            pod=target.name,
            container=request.query_params.get("container"),
            follow=_flag(request, "follow"),
            previous=_flag(request, "previous"),
            timestamps=_flag(request, "timestamps"),
            tail_lines=_int_param(request, "tailLines"),
            since_seconds=_int_param(request, "sinceSeconds"),
            limit_bytes=_int_param(request, "limitBytes"),
        )
        where = await run_in_threadpool(logs.resolve, self.store, self.state_dir, log_request)
        return StreamingResponse(
            logs.stream(self.store, log_request, where), media_type="text/plain"
        )

    async def _proxy(self, request: Request, target: Target) -> Response:
        assert target.name is not None and target.namespace is not None
        if target.resource.plural == "services":
            base = await run_in_threadpool(
                proxy.service_upstream, self.store, target.namespace, target.name
            )
        else:
            base = await run_in_threadpool(
                proxy.pod_upstream, self.store, target.namespace, target.name
            )
        status, headers, body = await proxy.forward(
            self.http,
            base,
            request.method,
            target.rest,
            request.url.query,
            list(request.headers.items()),
            await request.body(),
        )
        response = Response(body, status_code=status)
        for key, value in headers:
            response.headers.append(key, value)
        return response

    async def _streamable_pod(self, namespace: str, name: str) -> Obj:
        """The pod exec and port-forward would reach; ApiError if it is gone or not running."""
        pod = await run_in_threadpool(self.store.get, "pods", namespace, name)
        phase = (pod.get("status") or {}).get("phase", "Pending")
        if phase != "Running":
            raise ApiError.bad_request(f'pod "{name}" is not running (phase {phase})')
        return pod

    async def _accept(self, websocket: WebSocket, subprotocol: str) -> Obj | None:
        """The pod of a pods/NAME/exec or /portforward WebSocket, accepted; None if refused."""
        params = websocket.path_params
        try:
            if subprotocol not in websocket.scope.get("subprotocols", []):
                raise ApiError.bad_request(f"this endpoint speaks the subprotocol {subprotocol}")
            pod = await self._streamable_pod(params["namespace"], params["name"])
        except ApiError as error:
            await websocket.send_denial_response(error_response(error))
            return None
        await websocket.accept(subprotocol=subprotocol)
        return pod

    async def exec(self, websocket: WebSocket) -> None:
        """kubectl exec: a local process with the container's environment, over a WebSocket."""
        request = pod_exec.exec_request(websocket.query_params)
        pod = await self._accept(websocket, pod_exec.SUBPROTOCOL)
        if pod is not None:
            await pod_exec.ExecSession(websocket, self.store, self.state_dir, pod, request).run()

    async def port_forward(self, websocket: WebSocket) -> None:
        """kubectl port-forward: SPDY streams in a WebSocket, joined to the pod's ports."""
        pod = await self._accept(websocket, SUBPROTOCOL)
        if pod is not None:
            await PortForwardSession(websocket, self.store, pod).run()


def create_app(
    store: Store, state_dir: Path, on_started: Callable[[], None] | None = None
) -> Starlette:
    """The ASGI application serving the Kubernetes API over ``store``."""
    server = ApiServer(store, state_dir)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if on_started:
            on_started()
        yield
        await server.http.aclose()

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
    app = Starlette(
        routes=[
            WebSocketRoute(PORT_FORWARD_PATH, server.port_forward),
            WebSocketRoute(EXEC_PATH, server.exec),
            Route("/{path:path}", server.handle, methods=methods),
        ],
        lifespan=lifespan,
    )
    app.state.api = server
    return app
