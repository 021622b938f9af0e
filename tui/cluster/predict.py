"""Asking the deployed Iris API for predictions, over whichever route reaches it.

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
from collections.abc import Generator, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from kubernetes import client

from tui.cluster.connection import Connection, call_json
from tui.cluster.names import API_SECRET, API_SERVICE, API_SERVICE_PORT

FEATURE_NAMES = ("sepal_length", "sepal_width", "petal_length", "petal_width")
MAX_MEASUREMENT_CM = 100.0
API_KEY_ENV = "IRIS_API_KEY"
API_KEY_HEADER = "X-API-Key"
PROBE_TIMEOUT = 1.0
REQUEST_TIMEOUT = 10.0
CSV_CHUNK_ROWS = 1000


class PredictError(Exception):
    """A failed prediction; ``str()`` is one readable line."""


@dataclass(frozen=True)
class Prediction:
    species_index: int
    species_name: str
    probabilities: dict[str, float]
    model_version: str
    latency_ms: float


def validate(texts: Mapping[str, str]) -> dict[str, str]:
    """Errors by field for the four measurements as typed (empty when all are valid)."""
    errors = {}
    for name in FEATURE_NAMES:
        text = (texts.get(name) or "").strip()
        if not text:
            errors[name] = "required"
            continue
        try:
            value = float(text)
        except ValueError:
            errors[name] = f"{text!r} is not a number"
            continue
        if not math.isfinite(value) or not 0 <= value <= MAX_MEASUREMENT_CM:
            errors[name] = f"must be between 0 and {MAX_MEASUREMENT_CM:g} cm"
    return errors


def read_csv_rows(path: Path) -> list[list[float]]:
    """Rows of four measurements from a CSV: by header names if it has them, else the first
    four columns."""
    try:
        with path.open(newline="") as handle:
            rows = [row for row in csv.reader(handle) if any(cell.strip() for cell in row)]
    except (OSError, UnicodeDecodeError) as exc:
        raise PredictError(f"cannot read {path}: {exc}") from exc
    if not rows:
        raise PredictError(f"{path} has no rows")
    header = [cell.strip().lower() for cell in rows[0]]
    if all(name in header for name in FEATURE_NAMES):
        columns = [header.index(name) for name in FEATURE_NAMES]
    else:
        columns = [0, 1, 2, 3]
    # A header is a first row without a single number in it.
    has_header = not any(_is_number(cell) for cell in rows[0])
    result = []
    for number, row in enumerate(rows[1:] if has_header else rows, start=2 if has_header else 1):
        cells = {
            n: row[i] if i < len(row) else "" for n, i in zip(FEATURE_NAMES, columns, strict=True)
        }
        errors = validate(cells)
        if errors:
            detail = "; ".join(f"{name}: {why}" for name, why in errors.items())
            raise PredictError(f"{path.name} line {number}: {detail}")
        result.append([float(cells[name]) for name in FEATURE_NAMES])
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

    def predict(self, features: Mapping[str, float]) -> Prediction:
        """One flower's species; ``features`` holds the four measurements in centimetres."""
        body = {name: features[name] for name in FEATURE_NAMES}
        started = time.perf_counter()
        data = self._post("/predict", body)
        latency = (time.perf_counter() - started) * 1000
        return _prediction(data, str(data.get("model_version", "")), latency)

    def predict_rows(self, rows: Iterable[list[float]]) -> list[Prediction]:
        """Species of many flowers through /predict/batch (in chunks)."""
        rows = list(rows)
        predictions: list[Prediction] = []
        for start in range(0, len(rows), CSV_CHUNK_ROWS):
            chunk = rows[start : start + CSV_CHUNK_ROWS]
            began = time.perf_counter()
            data = self._post("/predict/batch", {"instances": chunk})
            latency = (time.perf_counter() - began) * 1000 / max(len(chunk), 1)
            predictions += _batch_predictions(data, latency)
        return predictions

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


def _prediction(data: Mapping[str, Any], version: str, latency_ms: float) -> Prediction:
    try:
        return Prediction(
            species_index=int(data["species_index"]),
            species_name=str(data["species_name"]),
            probabilities={str(k): float(v) for k, v in (data.get("probabilities") or {}).items()},
            model_version=version,
            latency_ms=latency_ms,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise PredictError(f"the API answered with an unexpected prediction: {data}") from exc


def _batch_predictions(data: Mapping[str, Any], latency_ms: float) -> list[Prediction]:
    """Rows of the column-wise /predict/batch answer."""
    try:
        classes = [str(name) for name in data["class_names"]]
        return [
            Prediction(
                species_index=int(index),
                species_name=str(name),
                probabilities=dict(zip(classes, map(float, row), strict=True)),
                model_version=str(data["model_version"]),
                latency_ms=latency_ms,
            )
            for index, name, row in zip(
                data["predictions"], data["species_names"], data["probabilities"], strict=True
            )
        ]
    except (KeyError, TypeError, ValueError) as exc:
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
