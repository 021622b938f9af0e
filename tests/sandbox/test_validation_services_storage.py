"""Services, claims, namespaces, autoscalers, disruption budgets and network policies refused
as kube-apiserver 1.32 refuses them, checked with the real kubectl's printed message."""

from __future__ import annotations

import re

import pytest

from sandbox.testing import SandboxProcess
from tests.sandbox.refusals import LABEL_RULE, accepted, refused

NS = "v-services"


@pytest.fixture(scope="module")
def cluster(shared_sandbox: SandboxProcess) -> SandboxProcess:
    shared_sandbox.kubectl("create", "namespace", NS)
    return shared_sandbox


def _service(name: str, spec: str) -> str:
    return f"apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: {NS}}}\n{spec}"


def test_service_ports_and_type(cluster: SandboxProcess) -> None:
    spec = """spec:
  type: Bogus
  selector: {app: web}
  ports: [{port: 0, targetPort: 70000}, {port: 80, protocol: ICMP, targetPort: http_port}]
"""
    assert refused(cluster, _service("web", spec)) == [
        'The Service "web" is invalid: ',
        "* spec.ports[0].name: Required value",
        "* spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
        "* spec.ports[0].targetPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
        "* spec.ports[1].name: Required value",
        '* spec.ports[1].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", '
        '"UDP"',
        '* spec.ports[1].targetPort: Invalid value: "http_port": must contain only '
        "alpha-numeric characters (a-z, 0-9), and hyphens (-)",
        '* spec.type: Unsupported value: "Bogus": supported values: "ClusterIP", "ExternalName", '
        '"LoadBalancer", "NodePort"',
    ]


def test_node_ports_come_from_the_node_port_range(cluster: SandboxProcess) -> None:
    node_port = "spec:\n  type: NodePort\n  ports: [{{port: 80, nodePort: {0}}}]\n"
    assert refused(cluster, _service("np", node_port.format(80))) == [
        'The Service "np" is invalid: spec.ports[0].nodePort: Invalid value: 80: provided port '
        "is not in the valid range. The range of valid ports is 30000-32767"
    ]
    accepted(cluster, _service("np", node_port.format(30080)))
    assert refused(cluster, _service("np2", node_port.format(30080))) == [
        'The Service "np2" is invalid: spec.ports[0].nodePort: Invalid value: 30080: provided '
        "port is already allocated"
    ]
    cluster_ip = "spec:\n  ports: [{port: 80, nodePort: 30081}]\n"
    assert refused(cluster, _service("plain", cluster_ip)) == [
        'The Service "plain" is invalid: spec.ports[0].nodePort: Forbidden: may not be used when '
        "`type` is 'ClusterIP'"
    ]


def test_service_and_namespace_names(cluster: SandboxProcess) -> None:
    assert refused(cluster, _service("1web", "spec:\n  ports: [{port: 80}]\n")) == [
        'The Service "1web" is invalid: metadata.name: Invalid value: "1web": a DNS-1035 label '
        "must consist of lower case alphanumeric characters or '-', start with an alphabetic "
        "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
        "regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
    ]
    result = cluster.kubectl("create", "namespace", "my.team", check=False)
    assert result.stderr.strip() == (
        f'The Namespace "my.team" is invalid: metadata.name: Invalid value: "my.team": {LABEL_RULE}'
    )


def _claim(name: str, spec: str) -> str:
    return (
        f"apiVersion: v1\nkind: PersistentVolumeClaim\n"
        f"metadata: {{name: {name}, namespace: {NS}}}\n{spec}"
    )


def test_a_claim_needs_access_modes_and_a_size(cluster: SandboxProcess) -> None:
    spec = "spec:\n  accessModes: [ReadWriteSometimes]\n  resources: {requests: {}}\n"
    assert refused(cluster, _claim("data", spec)) == [
        'The PersistentVolumeClaim "data" is invalid: ',
        '* spec.accessModes: Unsupported value: "ReadWriteSometimes": supported values: '
        '"ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"',
        "* spec.resources[storage]: Required value",
    ]
    assert refused(cluster, _claim("data", "spec:\n  resources: {requests: {storage: 0}}\n")) == [
        'The PersistentVolumeClaim "data" is invalid: ',
        "* spec.accessModes: Required value: at least 1 access mode is required",
        '* spec.resources[storage]: Invalid value: "0": must be greater than zero',
    ]


def test_a_bound_claims_spec_is_fixed_but_its_size(cluster: SandboxProcess) -> None:
    spec = "spec:\n  accessModes: [ReadWriteOnce]\n  resources: {{requests: {{storage: {0}}}}}\n"
    accepted(cluster, _claim("kept", spec.format("1Gi")))
    cluster.kubectl(
        "wait", "-n", NS, "--for=jsonpath={.status.phase}=Bound", "pvc/kept", "--timeout=30s"
    )
    changed = spec.format("1Gi").replace("ReadWriteOnce", "ReadWriteMany")
    assert refused(cluster, _claim("kept", changed)) == [
        'The PersistentVolumeClaim "kept" is invalid: spec: Forbidden: spec is immutable after '
        "creation except resources.requests and volumeAttributesClassName for bound claims"
    ]
    # minikube's "standard" class says nothing of allowVolumeExpansion: no growing
    assert refused(cluster, "", *_resize("kept", "2Gi")) == [
        'Error from server (Forbidden): persistentvolumeclaims "kept" is forbidden: only '
        "dynamically provisioned pvc can be resized and the storageclass that provisions the "
        "pvc must support resize"
    ]
    assert refused(cluster, "", *_resize("kept", "512Mi")) == [
        'The PersistentVolumeClaim "kept" is invalid: spec.resources.requests.storage: '
        "Forbidden: field can not be less than status.capacity"
    ]


def _resize(claim: str, size: str) -> tuple[str, ...]:
    patch = f'{{"spec":{{"resources":{{"requests":{{"storage":"{size}"}}}}}}}}'
    return ("patch", "-n", NS, "pvc", claim, "-p", patch)


def test_a_claim_of_an_expandable_class_grows(cluster: SandboxProcess) -> None:
    accepted(
        cluster,
        "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: expandable}\n"
        "provisioner: k8s.io/minikube-hostpath\nallowVolumeExpansion: true\n",
    )
    spec = (
        "spec:\n  storageClassName: expandable\n  accessModes: [ReadWriteOnce]\n"
        "  resources: {requests: {storage: 1Gi}}\n"
    )
    accepted(cluster, _claim("growing", spec))
    cluster.kubectl(
        "wait", "-n", NS, "--for=jsonpath={.status.phase}=Bound", "pvc/growing", "--timeout=30s"
    )
    assert cluster.kubectl(*_resize("growing", "3Gi")).stdout.strip() == (
        "persistentvolumeclaim/growing patched"
    )
    cluster.kubectl(
        "wait",
        "-n",
        NS,
        "--for=jsonpath={.status.capacity.storage}=3Gi",
        "pvc/growing",
        "--timeout=30s",
    )
    volume = cluster.kubectl(
        "get", "-n", NS, "pvc", "growing", "-o", "jsonpath={.spec.volumeName}"
    ).stdout
    assert (
        cluster.kubectl("get", "pv", volume, "-o", "jsonpath={.spec.capacity.storage}").stdout
        == "3Gi"
    )
    cluster.kubectl("delete", "-n", NS, "pvc", "growing")
    cluster.kubectl("delete", "storageclass", "expandable")


def test_autoscaler_replica_bounds(cluster: SandboxProcess) -> None:
    def manifest(low: int, high: int) -> str:
        return f"""
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {{name: scaler, namespace: {NS}}}
spec:
  minReplicas: {low}
  maxReplicas: {high}
  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: web}}
"""

    assert refused(cluster, manifest(5, 2)) == [
        'The HorizontalPodAutoscaler "scaler" is invalid: spec.maxReplicas: Invalid value: 2: '
        "must be greater than or equal to `minReplicas`"
    ]
    assert refused(cluster, manifest(0, 0)) == [
        'The HorizontalPodAutoscaler "scaler" is invalid: ',
        "* spec.minReplicas: Invalid value: 0: must be greater than or equal to 1",
        "* spec.maxReplicas: Invalid value: 0: must be greater than 0",
    ]


def test_a_budget_has_min_available_or_max_unavailable(cluster: SandboxProcess) -> None:
    manifest = f"""
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {{name: budget, namespace: {NS}}}
spec:
  minAvailable: 1
  maxUnavailable: "150%"
  selector: {{matchLabels: {{app: web}}}}
"""
    header, both, percent = refused(cluster, manifest)
    assert header == 'The PodDisruptionBudget "budget" is invalid: '
    # Go prints the spec's pointer fields as addresses.
    address = "0xc[0-9a-f]{9}"
    assert re.fullmatch(
        r"\* spec: Invalid value: policy\.PodDisruptionBudgetSpec\{"
        rf"MinAvailable:\(\*intstr\.IntOrString\)\({address}\), "
        rf"Selector:\(\*v1\.LabelSelector\)\({address}\), "
        rf"MaxUnavailable:\(\*intstr\.IntOrString\)\({address}\), "
        r"UnhealthyPodEvictionPolicy:\(\*policy\.UnhealthyPodEvictionPolicyType\)\(nil\)\}: "
        "minAvailable and maxUnavailable cannot be both set",
        both,
    ), both
    assert percent == (
        '* spec.maxUnavailable: Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:"150%"}'
        ": must not be greater than 100%"
    )


def test_network_policy_selectors_and_types(cluster: SandboxProcess) -> None:
    manifest = f"""
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: fence, namespace: {NS}}}
spec:
  podSelector: {{matchExpressions: [{{key: app, operator: Within, values: [a]}}]}}
  policyTypes: [Sideways]
"""
    assert refused(cluster, manifest) == [
        'The NetworkPolicy "fence" is invalid: ',
        '* spec.podSelector.matchExpressions[0].operator: Invalid value: "Within": not a valid '
        "selector operator",
        '* spec.policyTypes[0]: Unsupported value: "Sideways": supported values: "Ingress", '
        '"Egress"',
    ]
