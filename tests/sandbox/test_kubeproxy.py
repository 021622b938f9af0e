"""kube-proxy through the real kubectl and curl: the node's InternalIP answers on a NodePort
(or LoadBalancer) service's nodePort with one of its ready pods, as `minikube service` reaches
it, refuses while the service has no endpoint, and stops when the service goes."""

from __future__ import annotations

import random
import socket
import subprocess

import pytest

from sandbox.kubeproxy.proxier import RETRY_SECONDS, KubeProxy
from sandbox.resources import NODE_NAME
from sandbox.testing import SandboxProcess
from tests.polling import eventually
from tests.sandbox.unit import NAMESPACE, bench

NS = "nodeport-test"
# Each pod serves name.txt holding its own name, so the test sees which pod answered.
SERVE = (
    "import http.server, os, functools; os.makedirs('site', exist_ok=True); "
    "open('site/name.txt', 'w').write(os.environ['HOSTNAME']); "
    "handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory='site'); "
    "http.server.ThreadingHTTPServer((os.environ['HOST'], int(os.environ['PORT'])), handler)"
    ".serve_forever()"
)
POD = """
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  namespace: {ns}
  labels: {{app: web}}
spec:
  containers:
    - name: web
      image: lab:1
      command: ["python", "-c", "{serve}"]
      ports:
        - name: http
          containerPort: 8000
      readinessProbe:
        httpGet: {{path: /name.txt, port: http}}
        periodSeconds: 1
"""
SERVICE = """
apiVersion: v1
kind: Service
metadata:
  name: {name}
  namespace: {ns}
spec:
  type: {type}
  selector: {{app: {app}}}
  ports:
    - name: http
      port: 80
      targetPort: http
"""


@pytest.fixture(scope="module")
def web(shared_sandbox: SandboxProcess) -> SandboxProcess:
    shared_sandbox.load_image("lab:1")
    shared_sandbox.kubectl("create", "namespace", NS)
    pods = "---".join(POD.format(name=name, ns=NS, serve=SERVE) for name in ("web-a", "web-b"))
    shared_sandbox.kubectl("apply", "-f", "-", input=pods)
    shared_sandbox.kubectl(
        "wait", "-n", NS, "--for=condition=ready", "pod/web-a", "pod/web-b", "--timeout=60s"
    )
    return shared_sandbox


def _service(sandbox: SandboxProcess, name: str, type_: str, app: str = "web") -> str:
    """Create the service; the node address and nodePort that reach it."""
    sandbox.kubectl("apply", "-f", "-", input=SERVICE.format(name=name, ns=NS, type=type_, app=app))
    return f"{_node_ip(sandbox)}:{_node_port(sandbox, name)}"


def _node_ip(sandbox: SandboxProcess) -> str:
    path = '{.items[0].status.addresses[?(@.type=="InternalIP")].address}'
    address = sandbox.kubectl("get", "nodes", "-o", f"jsonpath={path}").stdout
    wide = sandbox.kubectl("get", "nodes", "-o", "wide").stdout.splitlines()
    assert wide[0].split()[5:7] == ["INTERNAL-IP", "EXTERNAL-IP"]
    assert wide[1].split()[5:7] == [address, "<none>"]
    return address


def _node_port(sandbox: SandboxProcess, name: str) -> str:
    path = "{.spec.ports[0].nodePort}"
    return sandbox.kubectl("get", "-n", NS, "svc", name, "-o", f"jsonpath={path}").stdout


def curl(address: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["curl", "-sS", "--max-time", "10", f"http://{address}/name.txt"],
        capture_output=True,
        text=True,
        timeout=20,
    )


def _answered_by(address: str) -> str | None:
    result = curl(address)
    return result.stdout if result.returncode == 0 else None


def _refused(address: str) -> bool:
    return curl(address).returncode == 7  # curl's "Failed to connect"


def test_the_node_address_answers_on_a_node_port(web: SandboxProcess) -> None:
    address = _service(web, "web", "NodePort")
    # the node has a loopback address of its own, the one its pods report as hostIP
    host_ip = web.kubectl("get", "-n", NS, "pod", "web-a", "-o", "jsonpath={.status.hostIP}")
    assert address.startswith(f"{host_ip.stdout}:") and host_ip.stdout != "127.0.0.1"
    seen = {eventually(lambda: _answered_by(address), f"a pod answering on {address}")}
    # kube-proxy spreads connections over the endpoints at random
    for _ in range(40):
        if len(seen) == 2:
            break
        answer = _answered_by(address)
        assert answer is not None
        seen.add(answer)
    assert seen == {"web-a", "web-b"}

    web.kubectl("delete", "-n", NS, "svc", "web")
    eventually(lambda: _refused(address), f"{address} refusing once the service is gone")


def test_a_changed_node_port_moves_the_listener(web: SandboxProcess) -> None:
    old = _service(web, "moving", "NodePort")
    eventually(lambda: _answered_by(old), f"a pod answering on {old}")
    node_ip = old.split(":")[0]
    taken = web.kubectl(
        "get", "svc", "-A", "-o", "jsonpath={.items[*].spec.ports[*].nodePort}"
    ).stdout.split()
    new_port = random.choice([p for p in range(31000, 32000) if str(p) not in taken])
    patch = f'{{"spec":{{"ports":[{{"port":80,"nodePort":{new_port}}}]}}}}'
    web.kubectl("patch", "-n", NS, "svc", "moving", "-p", patch)
    new = f"{node_ip}:{new_port}"
    eventually(lambda: _answered_by(new), f"a pod answering on {new}")
    assert _refused(old)
    web.kubectl("delete", "-n", NS, "svc", "moving")


def test_a_service_without_endpoints_refuses(web: SandboxProcess) -> None:
    address = _service(web, "nobody", "NodePort", app="nobody")
    endpoints = web.kubectl("get", "-n", NS, "endpoints", "nobody").stdout
    assert "<none>" in endpoints
    result = curl(address)
    assert result.returncode == 7, result
    web.kubectl("delete", "-n", NS, "svc", "nobody")


def test_a_load_balancer_stays_pending_and_answers_on_its_node_port(web: SandboxProcess) -> None:
    address = _service(web, "lb", "LoadBalancer")
    listing = web.kubectl("get", "-n", NS, "svc", "lb").stdout.splitlines()
    assert listing[0].split()[:4] == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP"]
    assert listing[1].split()[3] == "<pending>"  # as minikube's without `minikube tunnel`
    assert eventually(lambda: _answered_by(address), f"a pod answering on {address}") in {
        "web-a",
        "web-b",
    }
    web.kubectl("delete", "-n", NS, "svc", "lb")


def _free_node_port(node_ip: str) -> int:
    for port in random.sample(range(30000, 32768), 200):
        with socket.socket() as probe:
            try:
                probe.bind((node_ip, port))
            except OSError:
                continue
            return port
    raise AssertionError(f"no free port in the NodePort range on {node_ip}")


def test_a_port_another_process_holds_is_tried_again_and_freed_on_delete() -> None:
    unit = bench(node=True)
    node = unit.get("nodes", NODE_NAME, namespace=None)
    assert node is not None
    node_ip = node["status"]["addresses"][0]["address"]
    with socket.create_server(("127.0.0.1", 0)) as upstream:
        node_port = _free_node_port(node_ip)
        unit.create(
            "services",
            {
                "metadata": {"name": "echo"},
                "spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": node_port}]},
            },
        )
        unit.create(
            "endpoints",
            {
                "metadata": {"name": "echo"},
                "subsets": [
                    {
                        "addresses": [{"ip": "127.0.0.1"}],
                        "ports": [{"port": upstream.getsockname()[1]}],
                    }
                ],
            },
        )
        proxy = KubeProxy(unit.ctx)
        with socket.create_server((node_ip, node_port)):
            assert proxy.reconcile(NAMESPACE, "echo") == RETRY_SECONDS
        assert proxy.reconcile(NAMESPACE, "echo") is None
        with socket.create_connection((node_ip, node_port), timeout=5) as client:
            accepted, _ = upstream.accept()
            with accepted:
                client.sendall(b"ping")
                assert accepted.recv(4) == b"ping"
        unit.store.delete("services", NAMESPACE, "echo")
        assert proxy.reconcile(NAMESPACE, "echo") is None
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((node_ip, node_port), timeout=5).close()
