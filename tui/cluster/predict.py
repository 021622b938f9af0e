"""Asking the deployed model API for predictions, over whichever route reaches it.

The form a client fills in is the served model's (``ModelForm``, from GET /model): named
fields, numeric or categorical; the answer is a class with probabilities or a value.

Routes, in order: the ``--api-url`` given; the Service's LoadBalancer address; its NodePort
on a node address; else the API server's service proxy with the kubeconfig's credentials,
which works wherever kubectl does (no port-forward). Direct routes are used only if they
answer within a second. Failures are a ``PredictError`` with one readable line.
"""

from __future__ import annotations

import base64
import csv
import json
import math
import os
import shlex
import ssl
import threading
import time
from collections.abc import Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from kubernetes import client

from tui.cluster.connection import Connection, call_json
from tui.cluster.names import API_SECRET, API_SERVICE, API_SERVICE_PORT

IRIS_FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")
API_KEY_ENV = "IRIS_API_KEY"
API_KEY_HEADER = "X-API-Key"
PROBE_TIMEOUT = 1.0
REQUEST_TIMEOUT = 10.0
CSV_CHUNK_ROWS = 1000

Value = float | str | None


class PredictError(Exception):
    """A failed prediction; ``str()`` is one readable line."""


@dataclass(frozen=True)
class Prediction:
    """A class with its probabilities, or for regression the predicted ``value``."""

    class_index: int | None
    class_name: str | None
    probabilities: dict[str, float]
    model_version: str
    latency_ms: float
    value: float | None = None


@dataclass(frozen=True)
class FormField:
    """One input of the served model as GET /model describes it."""

    name: str
    kind: str  # "numeric" or "categorical"
    nullable: bool = False
    minimum: float | None = None
    maximum: float | None = None
    bounds: tuple[float, float] | None = None
    categories: tuple[str, ...] = ()

    def problem(self, text: str) -> str | None:
        """Why ``text`` cannot be sent for this field, or None when it can."""
        text = text.strip()
        if not text:
            return None if self.nullable else "required"
        if self.kind == "categorical":
            if text in self.categories:
                return None
            return f"{text!r} is not one of {', '.join(self.categories)}"
        try:
            value = float(text)
        except ValueError:
            return f"{text!r} is not a number"
        if not math.isfinite(value):
            return f"{text!r} is not a finite number"
        if self.bounds is not None and not self.bounds[0] <= value <= self.bounds[1]:
            return f"must be between {self.bounds[0]:g} and {self.bounds[1]:g}"
        return None

    def value(self, text: str) -> Value:
        """The JSON value of a valid ``text`` (None for an empty nullable field)."""
        text = text.strip()
        if not text:
            return None
        return text if self.kind == "categorical" else float(text)


@dataclass(frozen=True)
class ModelForm:
    """What a prediction form needs to know about the served model."""

    version: str
    task: str
    target: str
    fields: tuple[FormField, ...]
    class_names: tuple[str, ...] = ()

    @property
    def signature(self) -> tuple[object, ...]:
        """Everything but the version: a new version with the same signature keeps the form."""
        return (self.task, self.target, self.fields, self.class_names)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @classmethod
    def from_info(cls, info: Mapping[str, Any]) -> ModelForm:
        """The form of a GET /model answer."""
        try:
            fields = tuple(_form_field(f) for f in info["features"])
            task = str(info["task"])
            if task not in ("classification", "regression") or not fields:
                raise ValueError(task)
            return cls(
                version=str(info["version"]),
                task=task,
                target=str(info["target"]),
                fields=fields,
                class_names=tuple(str(c) for c in info.get("class_names") or ()),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise PredictError("the API described its model in an unexpected way") from exc

    def problems(self, texts: Mapping[str, str]) -> dict[str, str]:
        """Why each field as typed cannot be sent (empty when all can)."""
        problems = {}
        for field in self.fields:
            problem = field.problem(texts.get(field.name) or "")
            if problem:
                problems[field.name] = problem
        return problems

    def values(self, texts: Mapping[str, str]) -> dict[str, Value]:
        """The request body of valid ``texts``; empty nullable fields are left out (imputed)."""
        body: dict[str, Value] = {}
        for field in self.fields:
            value = field.value(texts.get(field.name) or "")
            if value is not None:
                body[field.name] = value
        return body


def _form_field(data: Mapping[str, Any]) -> FormField:
    bounds = data.get("bounds")
    return FormField(
        name=str(data["name"]),
        kind=str(data["type"]) if data["type"] in ("numeric", "categorical") else _bad(data),
        nullable=bool(data.get("nullable", False)),
        minimum=None if data.get("min") is None else float(data["min"]),
        maximum=None if data.get("max") is None else float(data["max"]),
        bounds=(float(bounds[0]), float(bounds[1])) if bounds else None,
        categories=tuple(str(c) for c in data.get("categories") or ()),
    )


def _bad(data: Mapping[str, Any]) -> str:
    raise ValueError(f"feature {data.get('name')!r} of type {data.get('type')!r}")


# The kit's default model, as its API describes it: the form shown before the API answers.
IRIS_FORM = ModelForm(
    version="",
    task="classification",
    target="species",
    fields=tuple(
        FormField(name, "numeric", minimum=low, maximum=high, bounds=(0.0, 100.0))
        for name, low, high in zip(
            IRIS_FEATURES, (4.3, 2.0, 1.0, 0.1), (7.9, 4.4, 6.9, 2.5), strict=True
        )
    ),
    class_names=("setosa", "versicolor", "virginica"),
)


def read_csv_rows(path: Path, form: ModelForm = IRIS_FORM) -> list[dict[str, Value]]:
    """Each row of a CSV as a request object of the form's fields.

    Columns are taken by header name, in any order; other columns (an id) are not sent, since
    the API refuses unknown fields. A CSV without a header holds the fields in order.
    """
    try:
        with path.open(newline="") as handle:
            rows = [row for row in csv.reader(handle) if any(cell.strip() for cell in row)]
    except (OSError, UnicodeDecodeError) as exc:
        raise PredictError(f"cannot read {path}: {exc}") from exc
    if not rows:
        raise PredictError(f"{path} has no rows")
    header = [cell.strip() for cell in rows[0]]
    if any(name in header for name in form.names):
        missing = [f.name for f in form.fields if f.name not in header and not f.nullable]
        if missing:
            raise PredictError(f"{path.name} has no column {', '.join(missing)}")
        columns = {n: header.index(n) for n in form.names if n in header}
        data, first = rows[1:], 2
    elif any(_is_number(cell) for cell in rows[0]):
        columns = {n: i for i, n in enumerate(form.names)}
        data, first = rows, 1
    else:
        raise PredictError(f"{path.name}: the header names none of {', '.join(form.names)}")
    result = []
    for number, row in enumerate(data, start=first):
        texts = {n: row[i] if i < len(row) else "" for n, i in columns.items()}
        problems = form.problems(texts)
        if problems:
            detail = "; ".join(f"{name}: {why}" for name, why in problems.items())
            raise PredictError(f"{path.name} line {number}: {detail}")
        result.append(form.values(texts))
    if not result:
        raise PredictError(f"{path} has no data rows")
    return result


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class PredictClient:
    """An HTTP client for the Iris API; ``route`` says how it is reached."""

    def __init__(
        self,
        base_url: str,
        route: str,
        *,
        api_key: str | None = None,
        http: httpx.Client | None = None,
        kubectl_base: list[str] | None = None,
        proxy_path: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.route = route
        self.api_key = api_key
        self._kubectl_base = kubectl_base or ["kubectl"]
        self._proxy_path = proxy_path
        headers = {API_KEY_HEADER: api_key} if api_key else {}
        self._http = http or httpx.Client(timeout=REQUEST_TIMEOUT)
        self._http.headers.update(headers)

    @classmethod
    def for_cluster(
        cls,
        conn: Connection,
        api_url: str | None = None,
        api_key: str | None = None,
        *,
        service: str = API_SERVICE,
    ) -> PredictClient:
        """The first route that works (see the module docstring)."""
        key = api_key or os.environ.get(API_KEY_ENV) or _secret_api_key(conn)
        kubectl = conn.kubectl_base
        if api_url:
            return cls(api_url, f"--api-url {api_url}", api_key=key, kubectl_base=kubectl)
        for url, route in _direct_urls(conn, service):
            if _answers(url):
                return cls(url, route, api_key=key, kubectl_base=kubectl)
        path = f"/api/v1/namespaces/{conn.namespace}/services/{service}:{API_SERVICE_PORT}/proxy"
        return cls(
            conn.configuration.host.rstrip("/") + path,
            f"API server proxy ({conn.context})",
            api_key=key,
            http=_cluster_http(conn),
            kubectl_base=kubectl,
            proxy_path=path,
        )

    def close(self) -> None:
        self._http.close()

    def predict(self, features: Mapping[str, Value], target: str = "species") -> Prediction:
        """One row's answer; ``features`` are the named fields, ``target`` the label the
        answer is named after (GET /model says it)."""
        started = time.perf_counter()
        data = self._post("/predict", dict(features))
        latency = (time.perf_counter() - started) * 1000
        return _prediction(data, target, latency)

    def predict_rows(
        self, rows: Iterable[Mapping[str, Value] | Sequence[Value]]
    ) -> list[Prediction]:
        """The answers for many rows through /predict/batch: objects of named fields, or
        values in the signature's order (the API takes both)."""
        rows = [row if isinstance(row, Mapping) else list(row) for row in rows]
        predictions: list[Prediction] = []
        for start in range(0, len(rows), CSV_CHUNK_ROWS):
            chunk = rows[start : start + CSV_CHUNK_ROWS]
            began = time.perf_counter()
            data = self._post("/predict/batch", {"instances": chunk})
            latency = (time.perf_counter() - began) * 1000 / max(len(chunk), 1)
            predictions += _batch_predictions(data, latency)
        return predictions

    def model_form(self) -> ModelForm | None:
        """The served model's form, or None while none is loaded."""
        info = self.model_info()
        return None if info is None else ModelForm.from_info(info)

    def model_info(self) -> dict[str, Any] | None:
        """GET /model: the loaded model's description, or None while none is loaded."""
        try:
            response = self._http.get(f"{self.base_url}/model")
        except httpx.HTTPError as exc:
            raise PredictError(self._connection_failure(exc)) from exc
        if response.status_code in (404, 503):
            return None
        return self._json(response)

    def wait_for_new_version(
        self,
        old_version: str | None,
        *,
        timeout: float = 120,
        interval: float = 1.0,
        stop: threading.Event | None = None,
    ) -> str:
        """Wait until the API serves a model version other than ``old_version``; return it.

        Through a Service this is the first replica that has loaded it; the others follow
        within the API's reload interval.
        """
        stop = stop or threading.Event()
        deadline = time.monotonic() + timeout
        last_error = ""
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                info = self.model_info()
            except PredictError as error:
                info, last_error = None, str(error)
            if info and info.get("version") and info["version"] != old_version:
                return str(info["version"])
            stop.wait(interval)
        suffix = f" ({last_error})" if last_error else ""
        raise PredictError(f"the API did not load a new model within {timeout:g} s{suffix}")

    def command(self, path: str = "/predict", body: Mapping[str, Any] | None = None) -> str:
        """The equivalent shell command (the API key shown as $IRIS_API_KEY, never in clear)."""
        payload = json.dumps(dict(body) if body is not None else {})
        if self._proxy_path and not self.api_key:
            return f"echo {shlex.quote(payload)} | " + shlex.join(
                [*self._kubectl_base, "create", "--raw", self._proxy_path + path, "-f", "-"]
            )
        url = self.base_url + path
        if self._proxy_path:
            url = f"http://127.0.0.1:8001{self._proxy_path}{path}"
        parts = ["curl", "-s", "-X", "POST", "-H", "Content-Type: application/json"]
        key = f' -H "{API_KEY_HEADER}: ${API_KEY_ENV}"' if self.api_key else ""
        line = f"{shlex.join(parts)}{key} -d {shlex.quote(payload)} {shlex.quote(url)}"
        if self._proxy_path:
            return f"{shlex.join([*self._kubectl_base, 'proxy', '--port=8001'])} & {line}"
        return line

    def _post(self, path: str, body: Any) -> dict[str, Any]:
        try:
            response = self._http.post(f"{self.base_url}{path}", json=body)
        except httpx.HTTPError as exc:
            raise PredictError(self._connection_failure(exc)) from exc
        return self._json(response)

    def _json(self, response: httpx.Response) -> dict[str, Any]:
        if response.is_success:
            try:
                data = response.json()
            except ValueError as exc:
                raise PredictError(
                    f"the API answered {response.status_code} with non-JSON"
                ) from exc
            if isinstance(data, dict):
                return data
            raise PredictError("the API answered with an unexpected body")
        raise PredictError(self._http_failure(response))

    def _http_failure(self, response: httpx.Response) -> str:
        code = response.status_code
        detail = _detail(response)
        if code == 401 and self._proxy_path and _is_kubernetes_status(response):
            return "the cluster rejected the kubeconfig's credentials (401): log in again"
        if code == 401:
            if self.api_key:
                return f"the API rejected the API key (401): check {API_KEY_ENV} or {API_SECRET}"
            return f"the API requires an API key (401): set {API_KEY_ENV}"
        if code == 403 and self._proxy_path:
            return f"no permission to use the service proxy of {API_SERVICE} ({detail})"
        if code == 422:
            return f"invalid input: {detail}"
        if code == 503:
            return f"the API is not ready: {detail}"
        return f"the API answered {code}: {detail}"

    def _connection_failure(self, exc: httpx.HTTPError) -> str:
        if isinstance(exc, httpx.TimeoutException):
            return f"the API at {self.route} did not answer in time"
        return f"cannot reach the API at {self.route}: {exc or type(exc).__name__}"


def _prediction(data: Mapping[str, Any], target: str, latency_ms: float) -> Prediction:
    try:
        version = str(data["model_version"])
        if "probabilities" not in data:
            return Prediction(None, None, {}, version, latency_ms, value=float(data[target]))
        return Prediction(
            class_index=int(data[f"{target}_index"]),
            class_name=str(data[f"{target}_name"]),
            probabilities={str(k): float(v) for k, v in data["probabilities"].items()},
            model_version=version,
            latency_ms=latency_ms,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise PredictError(f"the API answered with an unexpected prediction: {data}") from exc


def _batch_predictions(data: Mapping[str, Any], latency_ms: float) -> list[Prediction]:
    """Rows of the column-wise /predict/batch answer (class indices, or regression values)."""
    try:
        version = str(data["model_version"])
        if "class_names" not in data:
            return [
                Prediction(None, None, {}, version, latency_ms, value=float(value))
                for value in data["predictions"]
            ]
        classes = [str(name) for name in data["class_names"]]
        return [
            Prediction(
                class_index=int(index),
                class_name=classes[int(index)],
                probabilities=dict(zip(classes, map(float, row), strict=True)),
                model_version=version,
                latency_ms=latency_ms,
            )
            for index, row in zip(data["predictions"], data["probabilities"], strict=True)
        ]
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise PredictError("the API answered /predict/batch with an unexpected body") from exc


def _is_kubernetes_status(response: httpx.Response) -> bool:
    """Whether the API server itself answered (a Status), not the Iris API behind it."""
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("kind") == "Status"


def _detail(response: httpx.Response) -> str:
    """One line from an error body: the API's field errors/detail, or a Kubernetes Status."""
    try:
        body = response.json()
    except ValueError:
        text = " ".join(response.text.split())
        return text[:200] or response.reason_phrase
    if not isinstance(body, dict):
        return str(body)[:200]
    errors = body.get("errors")
    if isinstance(errors, list) and errors:
        return "; ".join(f"{e.get('field', '?')}: {e.get('message', '')}" for e in errors)
    if isinstance(body.get("detail"), list):
        # FastAPI's own validation errors.
        return "; ".join(
            f"{'.'.join(str(p) for p in d.get('loc', [])[1:])}: {d.get('msg', '')}"
            for d in body["detail"]
        )
    reason = body.get("reason") if isinstance(body.get("reason"), str) else None
    return str(body.get("detail") or body.get("message") or reason or response.reason_phrase)


def _secret_api_key(conn: Connection) -> str | None:
    """API_KEY from the Secret, if it exists and the user may read it."""
    try:
        secret = call_json(
            client.CoreV1Api(conn.api_client).read_namespaced_secret, API_SECRET, conn.namespace
        )
    except Exception:
        # Absent, or not ours to read: the API then runs without a key or one is given.
        return None
    encoded = (secret.get("data") or {}).get("API_KEY")
    if not encoded:
        return None
    return base64.b64decode(encoded).decode("utf-8").strip() or None


def _direct_urls(conn: Connection, service: str) -> list[tuple[str, str]]:
    """Candidate direct URLs: LoadBalancer ingress, then NodePort on each node address."""
    core = client.CoreV1Api(conn.api_client)
    try:
        svc = call_json(core.read_namespaced_service, service, conn.namespace)
    except Exception:
        return []
    spec = svc.get("spec") or {}
    port = next(
        (p for p in spec.get("ports") or [] if p.get("name") == API_SERVICE_PORT),
        (spec.get("ports") or [{}])[0],
    )
    urls = []
    for ingress in ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []:
        host = ingress.get("ip") or ingress.get("hostname")
        if host and port.get("port"):
            urls.append((f"http://{host}:{port['port']}", f"LoadBalancer {host}:{port['port']}"))
    node_port = port.get("nodePort")
    if node_port and spec.get("type") in ("NodePort", "LoadBalancer"):
        try:
            nodes = call_json(core.list_node).get("items") or []
        except Exception:
            nodes = []
        for node in nodes:
            for address in (node.get("status") or {}).get("addresses") or []:
                if address.get("type") in ("ExternalIP", "InternalIP"):
                    host = address["address"]
                    urls.append((f"http://{host}:{node_port}", f"NodePort {host}:{node_port}"))
    return urls


def _answers(url: str) -> bool:
    """Whether an HTTP server answers at ``url`` within a second (any status will do)."""
    try:
        httpx.get(f"{url}/healthz", timeout=PROBE_TIMEOUT)
    except httpx.HTTPError:
        return False
    return True


class _ClusterAuth(httpx.Auth):
    """The kubeconfig's credentials on each request, refreshed as the kubernetes client does
    (exec plugins and cloud tokens expire while the TUI runs)."""

    def __init__(self, configuration: client.Configuration) -> None:
        self._configuration = configuration

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        configuration = self._configuration
        if configuration.refresh_api_key_hook is not None:
            configuration.refresh_api_key_hook(configuration)
        token = configuration.get_api_key_with_prefix("BearerToken")
        if token:
            request.headers["Authorization"] = token
        elif configuration.username and configuration.password:
            request.headers["Authorization"] = str(configuration.get_basic_auth_token())
        yield request


def _cluster_http(conn: Connection) -> httpx.Client:
    """An httpx client that talks to the API server as the kubernetes client does."""
    configuration = conn.configuration
    verify: ssl.SSLContext | bool = True
    if configuration.host.startswith("https"):
        context = ssl.create_default_context(cafile=configuration.ssl_ca_cert or None)
        if not configuration.verify_ssl:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if configuration.cert_file:
            context.load_cert_chain(configuration.cert_file, configuration.key_file or None)
        verify = context
    return httpx.Client(auth=_ClusterAuth(configuration), verify=verify, timeout=REQUEST_TIMEOUT)
