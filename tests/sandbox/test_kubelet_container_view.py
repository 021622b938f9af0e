"""The container's view, with the real kubectl: exec and cp see the pod's paths, and each pod
answers at an address of its own."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import subprocess
import tempfile
import urllib.request
import uuid
from pathlib import Path

import pytest

from sandbox import paths
from sandbox.kubelet import containerview, podspec
from sandbox.testing import SandboxProcess, start_sandbox

pytestmark = pytest.mark.slow

NS = "view"
# The kit's layout: a claim at /models (read-only) and, through a subPath, at /data; an
# emptyDir at /tmp; a working directory the host does not have.
POD = f"""
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {{name: store, namespace: {NS}}}
spec:
  accessModes: [ReadWriteOnce]
  resources: {{requests: {{storage: 1Gi}}}}
---
apiVersion: v1
kind: Pod
metadata: {{name: box, namespace: {NS}}}
spec:
  containers:
    - name: box
      image: lab:1
      command: ["python", "-c", "import time; time.sleep(100000)"]
      workingDir: /srv/app
      env:
        - {{name: MODEL_DIR, value: /models}}
      volumeMounts:
        - {{name: store, mountPath: /models, subPath: models, readOnly: true}}
        - {{name: store, mountPath: /data, subPath: batch}}
        - {{name: tmp, mountPath: /tmp}}
  volumes:
    - name: store
      persistentVolumeClaim: {{claimName: store}}
    - name: tmp
      emptyDir: {{}}
"""
# Two replicas of one server on one containerPort: each must listen at its own address.
WEB = f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: {NS}}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers:
        - name: web
          image: lab:1
          command:
            - python
            - -c
            - |
              import http.server, os
              class Me(http.server.BaseHTTPRequestHandler):
                  def do_GET(self):
                      body = os.environ["HOSTNAME"].encode()
                      self.send_response(200)
                      self.send_header("Content-Length", str(len(body)))
                      self.end_headers()
                      self.wfile.write(body)
              http.server.HTTPServer((os.environ["HOST"], 8080), Me).serve_forever()
          ports: [{{name: http, containerPort: 8080}}]
          readinessProbe:
            httpGet: {{path: /, port: http}}
            periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata: {{name: web, namespace: {NS}}}
spec:
  selector: {{app: web}}
  ports: [{{port: 80, targetPort: http}}]
"""


@pytest.fixture(scope="module")
def box(shared_sandbox: SandboxProcess) -> SandboxProcess:
    shared_sandbox.load_image("lab:1")
    shared_sandbox.ready_pod(NS, POD, "box")
    return shared_sandbox


def _exec(sandbox: SandboxProcess, *command: str, check: bool = True) -> str:
    done = sandbox.kubectl("exec", "-n", NS, "box", "--", *command, check=check)
    return done.stdout if check else done.stderr


def _pod_dir(sandbox: SandboxProcess, name: str) -> Path:
    uid = sandbox.kubectl("get", "pod", name, "-n", NS, "-o", "jsonpath={.metadata.uid}").stdout
    return paths.pod_dir(sandbox.state_dir, NS, name, uid)


@pytest.mark.container_view
def test_exec_sees_the_mounts_the_working_directory_and_the_env(box: SandboxProcess) -> None:
    claim = box.claim_dir(NS, "store")
    (claim / "models" / "v1").mkdir(parents=True)
    (claim / "models" / "v1" / "model.joblib").write_bytes(b"weights")
    (claim / "batch" / "input.csv").write_text("1,2\n")
    assert _exec(box, "ls", "/models").split() == ["v1"]
    assert _exec(box, "ls", "/data").split() == ["input.csv"]  # the subPath, not the claim
    assert _exec(box, "pwd") == "/srv/app\n"
    assert _exec(box, "sh", "-c", "echo $MODEL_DIR $HOME") == "/models /tmp\n"
    refused = _exec(box, "touch", "/models/v2", check=False)
    assert "touch: cannot touch '/models/v2': Read-only file system" in refused
    assert not (claim / "models" / "v2").exists()
    assert not Path("/srv/app").exists()  # made in the view, not on the host


@pytest.mark.container_view
def test_exec_writes_land_in_the_pods_emptydir_not_the_hosts_tmp(box: SandboxProcess) -> None:
    name = f"iris-view-{uuid.uuid4().hex}"
    _exec(box, "sh", "-c", f"echo hi > /tmp/{name}")
    assert (_pod_dir(box, "box") / "volumes" / "tmp" / name).read_text() == "hi\n"
    assert not Path("/tmp", name).exists()
    assert _exec(box, "cat", f"/tmp/{name}") == "hi\n"


@pytest.mark.container_view
def test_kubectl_cp_in_and_out_is_byte_exact(box: SandboxProcess, tmp_path: Path) -> None:
    payload = bytes(range(256)) * 4099 + os.urandom(70_001)  # every byte value, and odd sizes
    source = tmp_path / "in.bin"
    source.write_bytes(payload)
    box.kubectl("cp", str(source), f"{NS}/box:/data/in.bin")
    assert (box.claim_dir(NS, "store") / "batch" / "in.bin").read_bytes() == payload
    digest = _exec(box, "sha256sum", "/data/in.bin").split()[0]
    assert digest == hashlib.sha256(payload).hexdigest()

    current = box.claim_dir(NS, "store") / "models" / "current"
    (current / "nested").mkdir(parents=True)
    (current / "model.joblib").write_bytes(payload[::-1])
    (current / "nested" / "meta.json").write_text('{"accuracy": 0.97}')
    out = tmp_path / "out"
    box.kubectl("cp", f"{NS}/box:/models/current", str(out))
    assert (out / "model.joblib").read_bytes() == payload[::-1]
    assert (out / "nested" / "meta.json").read_text() == '{"accuracy": 0.97}'


def _jsonpath(sandbox: SandboxProcess, *args: str) -> str:
    return sandbox.kubectl("get", "-n", NS, *args).stdout


def test_each_pod_answers_at_its_own_address_and_the_endpoints_say_so(
    box: SandboxProcess,
) -> None:
    box.kubectl("apply", "-f", "-", input=WEB)
    box.kubectl("rollout", "status", "-n", NS, "deployment/web", "--timeout=60s", timeout=70)
    pods = json.loads(_jsonpath(box, "pods", "-l", "app=web", "-o", "json"))["items"]
    ips = {p["metadata"]["name"]: p["status"]["podIP"] for p in pods}
    assert len(set(ips.values())) == 2
    cidr = ipaddress.ip_network(_jsonpath(box, "node", "sandbox", "-o", "jsonpath={.spec.podCIDR}"))
    assert all(ipaddress.ip_address(ip) in cidr for ip in ips.values())
    assert all(p["status"]["podIPs"] == [{"ip": p["status"]["podIP"]}] for p in pods)
    # the address kubectl shows is the one that answers, on the declared containerPort
    wide = _jsonpath(box, "pods", "-l", "app=web", "-o", "wide").splitlines()[1:]
    for line in wide:
        name, ip = line.split()[0], line.split()[5]
        assert ip == ips[name]
        with urllib.request.urlopen(f"http://{ip}:8080/", timeout=10) as answer:
            assert answer.read().decode() == name
    endpoints = json.loads(_jsonpath(box, "endpoints", "web", "-o", "json"))
    (subset,) = endpoints["subsets"]
    assert [a["ip"] for a in subset["addresses"]] == sorted(ips.values())
    assert {a["targetRef"]["name"]: a["ip"] for a in subset["addresses"]} == ips
    assert subset["ports"] == [{"port": 8080, "protocol": "TCP"}]
    (endpoint_slice,) = json.loads(
        _jsonpath(box, "endpointslices", "-l", "kubernetes.io/service-name=web", "-o", "json")
    )["items"]
    assert {e["targetRef"]["name"]: e["addresses"] for e in endpoint_slice["endpoints"]} == {
        name: [ip] for name, ip in ips.items()
    }
    # and the Service proxy reaches them there
    answers = {
        box.kubectl("get", "--raw", f"/api/v1/namespaces/{NS}/services/web:80/proxy/").stdout
        for _ in range(6)
    }
    assert answers == set(ips)


def test_without_namespaces_the_host_view_is_used_and_said_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(containerview.HOST_VIEW_ENV, "1")
    with start_sandbox(tmp_path / "state") as sandbox:
        assert "host's paths" in sandbox.output()  # said when it starts, before any pod
        sandbox.load_image("lab:1")
        sandbox.ready_pod(NS, POD, "box")
        claim = sandbox.claim_dir(NS, "store")
        (claim / "batch" / "input.csv").write_text("1,2\n")
        # the mountPath is rewritten to the folder behind it, as before
        assert _exec(sandbox, "ls", "/data").split() == ["input.csv"]
        assert _exec(sandbox, "printenv", "MODEL_DIR") == f"{claim / 'models'}\n"
        _exec(sandbox, "true")
        notices = [line for line in sandbox.output().splitlines() if "host's paths" in line]
        assert len(notices) == 1, sandbox.output()
        assert f"{containerview.HOST_VIEW_ENV}=1" in notices[0]


@pytest.mark.container_view
def test_a_mountpoint_the_host_lacks_is_made_in_the_view_only(tmp_path: Path) -> None:
    # /etc/<new>/conf: the folders on the way are mirrored, so nothing is made in the host's /etc
    new = f"/etc/iris-view-{uuid.uuid4().hex}"
    volume, tmp, root = tmp_path / "volume", tmp_path / "tmp", tmp_path / "root"
    for folder in (volume, tmp, root):
        folder.mkdir()
    (volume / "app.conf").write_text("level=debug\n")
    mounts = [podspec.Mount(f"{new}/conf", volume, read_only=True)]
    view = containerview.ContainerView(mounts, tmp, "/srv/iris-view-app", root, isolated=True)
    done = subprocess.run(
        ["sh", "-c", f"pwd; cat {new}/conf/app.conf; ls /etc/hostname; echo made > /tmp/seen"],
        preexec_fn=view.preexec(),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert done.stdout == "/srv/iris-view-app\nlevel=debug\n/etc/hostname\n", done.stderr
    assert (tmp / "seen").read_text() == "made\n"
    assert not Path(new).exists() and not Path("/srv/iris-view-app").exists()
    assert os.listdir(root) == []  # the private root showed nowhere but in the view


@pytest.mark.container_view
def test_a_view_that_cannot_be_entered_says_why(tmp_path: Path) -> None:
    volume, tmp, root = tmp_path / "volume", tmp_path / "tmp", tmp_path / "root"
    for folder in (volume, tmp, root):
        folder.mkdir()
    mounts = [podspec.Mount("/models", volume, read_only=True)]
    view = containerview.ContainerView(mounts, tmp, "/models/missing", root, isolated=True)
    with pytest.raises(OSError) as error:
        view.popen(["true"])
    assert str(error.value) == (
        "cannot enter the container's view: [Errno 2] No such file or directory: '/models/missing'"
    )


@pytest.mark.container_view
def test_an_image_folder_under_tmp_is_seen_through_the_pods_tmp(tmp_path: Path) -> None:
    # a checkout under /tmp: the pod's /tmp hides it unless the view binds it again
    image, root = tmp_path / "checkout", tmp_path / "root"
    for folder in (image, root):
        folder.mkdir()
    (image / "code.py").write_text("print('from the image')\n")
    (tmp_path / "beside").write_text("the host's /tmp\n")
    script = f"cat {image / 'code.py'}; ls /tmp; cat {tmp_path / 'beside'}"

    def run(folders: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
        tmp = Path(tempfile.mkdtemp(dir=tmp_path, prefix="pod-tmp-"))
        view = containerview.ContainerView([], tmp, "", root, isolated=True, image=folders)
        return subprocess.run(
            ["sh", "-c", script],
            preexec_fn=view.preexec(),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    seen = run((str(image),))
    # the image's folder is there; the rest of the host's /tmp is not, and the pod's /tmp holds
    # only the folders on the way to it
    assert seen.stdout == f"print('from the image')\n{image.parts[2]}\n", seen.stderr
    assert "beside: No such file" in seen.stderr
    hidden = run(())
    assert hidden.stdout == "" and "code.py: No such file" in hidden.stderr
