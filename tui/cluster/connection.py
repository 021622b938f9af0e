"""The connection to a cluster: the kubeconfig as kubectl reads it, and readable errors.

Everything the cluster layer raises for the user is a ``ClusterError`` whose text is one line
that says what went wrong and, where it helps, what to do about it.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import urllib3
import yaml
from kubernetes import client, config
from kubernetes.client.rest import ApiException
from kubernetes.config.config_exception import ConfigException

DEFAULT_KUBECONFIG = "~/.kube/config"
# Several watch streams, a log stream and actions share one client; a pool smaller than that
# makes urllib3 drop and reopen connections (and log a warning for each).
CONNECTION_POOL_SIZE = 32
# (connect, read) seconds for ordinary requests; streams set their own.
REQUEST_TIMEOUT = (5.0, 30.0)


class ClusterError(Exception):
    """A failure to show the user as is: ``str()`` is one readable line."""


@dataclass
class Connection:
    """An authenticated client for one context and the namespace the TUI works in."""

    context: str
    namespace: str
    server: str
    api_client: client.ApiClient
    kubectl_base: list[str]
    kubeconfig: str | None = None

    @property
    def configuration(self) -> client.Configuration:
        return self.api_client.configuration

    def kubectl(self, *args: str) -> list[str]:
        """The argv of a kubectl command against this context and namespace."""
        return [*self.kubectl_base, *args]


def kubeconfig_paths(kubeconfig: str | None = None) -> str:
    """The kubeconfig file(s) kubectl would read: the argument, $KUBECONFIG, or the default."""
    return kubeconfig or os.environ.get("KUBECONFIG") or DEFAULT_KUBECONFIG


def connect(context: str | None, namespace: str, kubeconfig: str | None = None) -> Connection:
    """Load the kubeconfig and build a client for ``context`` (default: the current context).

    Does not contact the server (see ``check_reachable``). Raises ``ClusterError`` when the
    kubeconfig is missing or broken or names no such context.
    """
    paths = kubeconfig_paths(kubeconfig)
    existing = [p for p in paths.split(os.pathsep) if p and Path(p).expanduser().is_file()]
    if not existing:
        raise ClusterError(
            f"no kubeconfig found at {paths}: start a cluster (minikube start) or set KUBECONFIG"
        )
    config_file = os.pathsep.join(existing)
    try:
        contexts, current = config.list_kube_config_contexts(config_file=config_file)
    except (ConfigException, yaml.YAMLError, OSError) as exc:
        raise ClusterError(f"cannot read the kubeconfig {config_file}: {_first_line(exc)}") from exc
    except (TypeError, AttributeError) as exc:
        raise ClusterError(f"{config_file} is not a kubeconfig (no clusters/contexts)") from exc
    names = [c["name"] for c in contexts or []]
    if context is None:
        if not current:
            raise ClusterError(f"{config_file} has no current context: pass --context")
        context = current["name"]
    elif context not in names:
        known = ", ".join(names) or "none"
        raise ClusterError(f"no context {context!r} in the kubeconfig (known: {known})")

    configuration = client.Configuration()
    try:
        config.load_kube_config(
            config_file=config_file,
            context=context,
            client_configuration=configuration,
            persist_config=False,
        )
    except (ConfigException, yaml.YAMLError, OSError, TypeError, ValueError) as exc:
        raise ClusterError(f"cannot use context {context!r}: {_first_line(exc)}") from exc
    configuration.connection_pool_maxsize = CONNECTION_POOL_SIZE
    # Retrying is the watchers' job (with back-off and a visible state), not urllib3's.
    configuration.retries = False

    kubectl_base = ["kubectl"]
    if kubeconfig:
        kubectl_base += ["--kubeconfig", kubeconfig]
    kubectl_base += ["--context", context, "-n", namespace]
    return Connection(
        context=context,
        namespace=namespace,
        server=configuration.host,
        api_client=client.ApiClient(configuration),
        kubectl_base=kubectl_base,
        kubeconfig=kubeconfig,
    )


def check_reachable(conn: Connection) -> str:
    """Ask the server for its version and whether we may list pods; return the version.

    Raises ``ClusterError`` when the server cannot be reached, rejects the credentials, or
    forbids reading the namespace.
    """
    try:
        info = client.VersionApi(conn.api_client).get_code(_request_timeout=REQUEST_TIMEOUT)
    except Exception as exc:
        raise cluster_error(exc, f"reach the cluster at {conn.server}") from exc
    try:
        # Only the status matters: the body is not turned into models (a server that ignores
        # the limit would send every pod, and building those objects took longer than
        # listing them).
        response = call_raw(
            client.CoreV1Api(conn.api_client).list_namespaced_pod, conn.namespace, limit=1
        )
        response.drain_conn()
        response.release_conn()
    except Exception as exc:
        raise cluster_error(exc, f"list pods in {conn.namespace}") from exc
    return str(info.git_version)


def call_raw(method: Callable[..., Any], *args: Any, **kwargs: Any) -> urllib3.HTTPResponse:
    """Call a generated API method for its undecoded response (a stream, or JSON to parse)."""
    kwargs.setdefault("_request_timeout", REQUEST_TIMEOUT)
    return cast(urllib3.HTTPResponse, method(*args, _preload_content=False, **kwargs))


def call_json(method: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Call a generated API method and return the object as the API's JSON (a plain dict)."""
    response = call_raw(method, *args, **kwargs)
    try:
        return cast(dict[str, Any], json.loads(response.data))
    finally:
        response.release_conn()


def kubectl_available() -> bool:
    """Whether a kubectl binary is on PATH (deploy, diff and apply run it)."""
    return shutil.which("kubectl") is not None


def api_error_message(exc: ApiException) -> str:
    """The server's own message from a Status body, else the HTTP reason."""
    body = exc.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if body:
        try:
            status = json.loads(body)
        except ValueError:
            return _first_line(body)
        if isinstance(status, dict) and status.get("message"):
            return with_causes(_first_line(str(status["message"])), status)
    return f"{exc.status} {exc.reason}"


def with_causes(message: str, status: dict[str, Any]) -> str:
    """``message`` followed by the Status's ``details.causes`` it does not already say."""
    causes = (status.get("details") or {}).get("causes") or []
    extra = []
    for cause in causes if isinstance(causes, list) else []:
        text = str(cause.get("message") or cause.get("reason") or "")
        field = str(cause.get("field") or "")
        if text and text not in message:
            extra.append(f"{field}: {text}" if field else text)
    return "; ".join([message, *extra])


def cluster_error(exc: BaseException, doing: str) -> ClusterError:
    """Turn a client, HTTP or socket failure into one readable line about ``doing``."""
    if isinstance(exc, ClusterError):
        return exc
    if isinstance(exc, ApiException):
        if exc.status == 401:
            return ClusterError(
                f"cannot {doing}: the cluster rejected the credentials (401); "
                "log in again or refresh the kubeconfig"
            )
        if exc.status == 403:
            return ClusterError(f"no permission to {doing} ({api_error_message(exc)})")
        if exc.status == 0:
            return ClusterError(f"cannot {doing}: {exc.reason}")
        return ClusterError(f"cannot {doing}: {api_error_message(exc)}")
    if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
        exc = exc.reason
    if isinstance(exc, urllib3.exceptions.NewConnectionError):
        return ClusterError(f"cannot {doing}: connection refused or no route to the server")
    if isinstance(exc, urllib3.exceptions.TimeoutError):
        return ClusterError(f"cannot {doing}: the server did not answer in time")
    if isinstance(exc, urllib3.exceptions.ProtocolError):
        return ClusterError(f"cannot {doing}: the connection to the server was lost")
    if isinstance(exc, urllib3.exceptions.SSLError):
        return ClusterError(f"cannot {doing}: TLS failed ({_first_line(exc)})")
    if isinstance(exc, urllib3.exceptions.HTTPError | OSError):
        return ClusterError(f"cannot {doing}: {_first_line(exc)}")
    return ClusterError(f"cannot {doing}: {type(exc).__name__}: {_first_line(exc)}")


def _first_line(value: object) -> str:
    text = str(value).strip()
    return text.splitlines()[0] if text else type(value).__name__
