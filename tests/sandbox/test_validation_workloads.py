"""Deployments, ReplicaSets and Pods refused as kube-apiserver 1.32 refuses them, checked with
the real kubectl's printed message."""

from __future__ import annotations

import json
import re

import pytest

from sandbox.testing import SandboxProcess
from tests.sandbox.refusals import LABEL_RULE, NAME_PART_RULE, SUBDOMAIN_RULE, accepted, refused

NS = "v-workloads"
C = "spec.template.spec.containers[0]"


@pytest.fixture(scope="module")
def cluster(shared_sandbox: SandboxProcess) -> SandboxProcess:
    shared_sandbox.kubectl("create", "namespace", NS)
    return shared_sandbox


def _deployment(name: str, pod_spec: str, extra: str = "", labels: str = "{app: a}") -> str:
    return f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: {NS}}}
spec:
{extra}
  selector: {{matchLabels: {{app: a}}}}
  template:
    metadata: {{labels: {labels}}}
    spec:
{pod_spec}
"""


def test_one_422_names_every_broken_field_in_the_servers_order(cluster: SandboxProcess) -> None:
    pod_spec = """
      restartPolicy: Never
      containers:
      - name: c
        image: busybox
        imagePullPolicy: Sometimes
        ports:
        - {containerPort: 70000, protocol: HTTP, name: Web}
        - {containerPort: 80, name: http}
        - {containerPort: 81, name: http}
        resources: {requests: {cpu: "2"}, limits: {cpu: "1", memory: "-1Gi"}}
        livenessProbe: {httpGet: {port: 8080}, successThreshold: 2, periodSeconds: -1}
"""
    manifest = _deployment("everything", pod_spec).replace(
        f"namespace: {NS}}}", f'namespace: {NS}, labels: {{"bad label": x}}}}'
    )
    assert refused(cluster, manifest) == [
        'The Deployment "everything" is invalid: ',
        f'* metadata.labels: Invalid value: "bad label": {NAME_PART_RULE}',
        f'* {C}.ports[0].name: Invalid value: "Web": must contain only alpha-numeric characters '
        "(a-z, 0-9), and hyphens (-)",
        f"* {C}.ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, "
        "inclusive",
        f'* {C}.ports[0].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", '
        '"UDP"',
        f'* {C}.ports[2].name: Duplicate value: "http"',
        f'* {C}.imagePullPolicy: Unsupported value: "Sometimes": supported values: "Always", '
        '"IfNotPresent", "Never"',
        f'* {C}.resources.limits[memory]: Invalid value: "-1Gi": must be greater than or equal '
        "to 0",
        f'* {C}.resources.requests: Invalid value: "2": must be less than or equal to cpu limit '
        "of 1",
        f"* {C}.livenessProbe.periodSeconds: Invalid value: -1: must be greater than or equal to 0",
        f"* {C}.livenessProbe.successThreshold: Invalid value: 2: must be 1",
        '* spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: '
        '"Always"',
    ]
    assert "everything" not in cluster.kubectl("get", "deploy", "-n", NS).stdout


def test_requests_are_compared_to_limits_as_quantities(cluster: SandboxProcess) -> None:
    pod_spec = """
      containers:
      - name: c
        image: busybox
        resources: {requests: {cpu: 1500m, memory: 2048Mi}, limits: {cpu: "1", memory: 1Gi}}
"""
    assert refused(cluster, _deployment("greedy", pod_spec)) == [
        'The Deployment "greedy" is invalid: ',
        f'* {C}.resources.requests: Invalid value: "1500m": must be less than or equal to cpu '
        "limit of 1",
        f'* {C}.resources.requests: Invalid value: "2Gi": must be less than or equal to memory '
        "limit of 1Gi",
    ]
    fitting = pod_spec.replace("1500m", "500m").replace("2048Mi", "1024Mi")
    assert accepted(cluster, _deployment("greedy", fitting)) == "deployment.apps/greedy created"


def test_a_deployments_selector_never_changes(cluster: SandboxProcess) -> None:
    pod_spec = "      containers: [{name: c, image: busybox}]"
    accepted(cluster, _deployment("fixed", pod_spec))
    changed = _deployment("fixed", pod_spec, labels="{app: a, tier: web}").replace(
        "matchLabels: {app: a}", "matchLabels: {app: a, tier: web}"
    )
    assert refused(cluster, changed) == [
        'The Deployment "fixed" is invalid: spec.selector: Invalid value: '
        'v1.LabelSelector{MatchLabels:map[string]string{"app":"a", "tier":"web"}, '
        "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"
    ]


def test_selectors_are_validated_and_must_select_the_template(cluster: SandboxProcess) -> None:
    manifest = f"""
apiVersion: apps/v1
kind: ReplicaSet
metadata: {{name: odd, namespace: {NS}}}
spec:
  selector:
    matchExpressions:
    - {{key: app, operator: Within, values: [a]}}
    - {{key: tier, operator: In}}
    - {{key: zone, operator: Exists, values: [b]}}
  template:
    metadata: {{labels: {{app: a}}}}
    spec: {{containers: [{{name: c, image: busybox}}]}}
"""
    where = "spec.selector.matchExpressions"
    assert refused(cluster, manifest) == [
        'The ReplicaSet "odd" is invalid: ',
        f'* {where}[0].operator: Invalid value: "Within": not a valid selector operator',
        f"* {where}[1].values: Required value: must be specified when `operator` is 'In' or "
        "'NotIn'",
        f"* {where}[2].values: Forbidden: may not be specified when `operator` is 'Exists' or "
        "'DoesNotExist'",
        '* spec.template.metadata.labels: Invalid value: map[string]string{"app":"a"}: '
        "`selector` does not match template `labels`",
    ]
    empty = _deployment("empty", "      containers: [{name: c, image: busybox}]").replace(
        "selector: {matchLabels: {app: a}}", "selector: {}"
    )
    assert refused(cluster, empty) == [
        'The Deployment "empty" is invalid: spec.selector: Invalid value: v1.LabelSelector'
        "{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)"
        "}: empty selector is invalid for deployment"
    ]


def test_a_pod_is_checked_container_by_container(cluster: SandboxProcess) -> None:
    manifest = f"""
apiVersion: v1
kind: Pod
metadata: {{name: busy, namespace: {NS}, annotations: {{"a/b/c": x}}}}
spec:
  restartPolicy: Sometimes
  volumes: [{{name: data, emptyDir: {{}}}}, {{name: data, emptyDir: {{}}}}, {{name: cfg}}]
  containers:
  - name: Main
    image: " busybox"
    readinessProbe: {{exec: {{command: ["true"]}}, terminationGracePeriodSeconds: 5}}
    startupProbe: {{tcpSocket: {{port: 99999}}, httpGet: {{port: 80}}}}
    volumeMounts: [{{name: cache, mountPath: /c}}, {{name: data, mountPath: /c}}]
"""
    qualified = NAME_PART_RULE.removeprefix("name part ")
    assert refused(cluster, manifest) == [
        'The Pod "busy" is invalid: ',
        f'* metadata.annotations: Invalid value: "a/b/c": a qualified name {qualified} with an '
        "optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
        '* spec.volumes[1].name: Duplicate value: "data"',
        "* spec.volumes[2]: Required value: must specify a volume type",
        f'* spec.containers[0].name: Invalid value: "Main": {LABEL_RULE}',
        '* spec.containers[0].volumeMounts[0].name: Not found: "cache"',
        '* spec.containers[0].volumeMounts[1].mountPath: Invalid value: "/c": must be unique',
        "* spec.containers[0].readinessProbe.terminationGracePeriodSeconds: Invalid value: 5: "
        "must not be set for readinessProbes",
        "* spec.containers[0].startupProbe.tcpSocket: Forbidden: may not specify more than 1 "
        "handler type",
        '* spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", '
        '"OnFailure", "Never"',
        '* spec.containers[0].image: Invalid value: " busybox": must not have leading or '
        "trailing whitespace",
    ]


def test_extended_resources_cannot_be_overcommitted(cluster: SandboxProcess) -> None:
    manifest = f"""
apiVersion: v1
kind: Pod
metadata: {{name: gpu, namespace: {NS}}}
spec:
  containers:
  - name: c
    image: busybox
    resources: {{limits: {{nvidia.com/gpu: 1}}, requests: {{nvidia.com/gpu: 2, gpu: 1}}}}
  - name: d
    image: busybox
    resources: {{requests: {{example.com/dongle: 1}}}}
"""
    where = "spec.containers[0].resources"
    assert refused(cluster, manifest) == [
        'The Pod "gpu" is invalid: ',
        f'* {where}.requests[gpu]: Invalid value: "gpu": must be a standard resource type or '
        "fully qualified",
        f'* {where}.requests[gpu]: Invalid value: "gpu": must be a standard resource for '
        "containers",
        f'* {where}.requests: Invalid value: "2": must be equal to nvidia.com/gpu limit of 1',
        "* spec.containers[1].resources.limits: Required value: Limit must be set for non "
        "overcommitable resources",
    ]


def test_a_pod_gets_its_defaults_and_qos_class(cluster: SandboxProcess) -> None:
    manifest = f"""
apiVersion: v1
kind: Pod
metadata: {{name: sized, namespace: {NS}}}
spec:
  containers:
  - name: c
    image: registry.local:5000/app
    resources: {{limits: {{cpu: 500m, memory: 64Mi}}}}
    readinessProbe: {{httpGet: {{port: 80}}}}
"""
    accepted(cluster, manifest)
    pod = json.loads(cluster.kubectl("get", "pod", "sized", "-n", NS, "-o", "json").stdout)
    container = pod["spec"]["containers"][0]
    assert container["resources"]["requests"] == {"cpu": "500m", "memory": "64Mi"}
    assert container["imagePullPolicy"] == "Always"  # no tag: latest (the port is no tag)
    assert container["readinessProbe"] == {
        "httpGet": {"port": 80, "path": "/", "scheme": "HTTP"},
        "timeoutSeconds": 1,
        "periodSeconds": 10,
        "successThreshold": 1,
        "failureThreshold": 3,
    }
    assert pod["spec"]["restartPolicy"] == "Always"
    assert pod["status"]["qosClass"] == "Guaranteed"


def test_object_names_follow_each_kinds_rule(cluster: SandboxProcess) -> None:
    pod = f"apiVersion: v1\nkind: Pod\nmetadata: {{generateName: Web-, namespace: {NS}}}\n"
    pod += "spec: {containers: [{name: c, image: busybox}]}\n"
    first, *causes = refused(cluster, pod, "create", "-f", "-")
    # The server names the object before validating it: five random characters.
    generated = first.removeprefix('The Pod "').removesuffix('" is invalid: ')
    assert re.fullmatch("Web-[bcdfghjklmnpqrstvwxz2456789]{5}", generated), first
    assert causes == [
        f'* metadata.generateName: Invalid value: "Web-": {SUBDOMAIN_RULE}',
        f'* metadata.name: Invalid value: "{generated}": {SUBDOMAIN_RULE}',
    ]
    # A dot is fine in a subdomain (a ConfigMap), not in a label (a container).
    config = f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: my.config, namespace: {NS}}}\n"
    assert accepted(cluster, config) == "configmap/my.config created"


def test_a_pods_spec_changes_only_in_its_images_deadline_and_tolerations(
    cluster: SandboxProcess,
) -> None:
    manifest = f"""
apiVersion: v1
kind: Pod
metadata: {{name: settled, namespace: {NS}}}
spec:
  activeDeadlineSeconds: 600
  containers: [{{name: c, image: busybox:1, env: [{{name: A, value: "1"}}]}}]
"""
    accepted(cluster, manifest)
    cluster.kubectl("set", "image", "-n", NS, "pod/settled", "c=busybox:2")
    cluster.kubectl("label", "-n", NS, "pod/settled", "tier=web")
    changed = manifest.replace('value: "1"', 'value: "2"').replace("busybox:1", "busybox:2")
    assert refused(cluster, changed) == [
        'The Pod "settled" is invalid: spec: Forbidden: pod updates may not change fields other '
        "than `spec.containers[*].image`,`spec.initContainers[*].image`,"
        "`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing "
        "tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was "
        "previously negative)"
    ]
    longer = manifest.replace("600", "900").replace("busybox:1", "busybox:2")
    assert refused(cluster, longer) == [
        'The Pod "settled" is invalid: spec.activeDeadlineSeconds: Invalid value: 900: must be '
        "less than or equal to previous value"
    ]
    shorter = manifest.replace("600", "300").replace("busybox:1", "busybox:2")
    assert accepted(cluster, shorter) == "pod/settled configured"
