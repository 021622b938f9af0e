"""API warnings on writes of pods, their templates' owners and services: the strategies'
WarningsOnCreate/WarningsOnUpdate as unit results, and as the ``Warning:`` lines kubectl prints
(the write still goes through, dry runs and server-side apply included)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sandbox.apiserver import registry
from sandbox.apiserver.registry import podwarnings
from sandbox.resources import BY_PLURAL
from sandbox.storage.store import Store
from sandbox.testing import SandboxProcess

NS = "warnings"
DUPLICATE_PORT = (
    "Warning: spec.template.spec.containers[0].ports[1]: duplicate port definition with "
    "spec.template.spec.containers[0].ports[0]\n"
)
DEPRECATED_ARCH = (
    "Warning: spec.nodeSelector[beta.kubernetes.io/arch]: deprecated since v1.14; use "
    '"kubernetes.io/arch" instead\n'
)
NEGATIVE_GRACE = (
    "Warning: spec.terminationGracePeriodSeconds: must be >= 0; negative values are invalid "
    "and will be treated as 1\n"
)


def _prepared(plural: str, obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[str]:
    """The warnings of a write that the registry accepts (defaulted and validated first)."""
    resource = BY_PLURAL[plural]
    store = Store(None)
    if old is not None:
        old = registry.prepare(resource, old, None, store)
        obj["metadata"]["uid"] = old["metadata"]["uid"]
    prepared = registry.prepare(resource, obj, old, store)
    return registry.warnings(resource, prepared, old)


def _pod(name: str = "p", **spec: Any) -> dict[str, Any]:
    container = {"name": "c", "image": "busybox", **spec.pop("container", {})}
    return {
        "metadata": {"name": name, "namespace": NS, **spec.pop("metadata", {})},
        "spec": {"containers": [container], **spec},
    }


def _deployment(name: str = "d", template_spec: dict[str, Any] | None = None) -> dict[str, Any]:
    pod = _pod(**(template_spec or {}))
    return {
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": pod["spec"]},
        },
    }


# ------------------------------------------------------------------ unit


def test_a_pod_name_that_is_no_dns_label() -> None:
    assert _prepared("pods", _pod("p" * 64)) == [
        "metadata.name: this is used in the Pod's hostname, which can result in surprising "
        "behavior; a DNS label is recommended: [must be no more than 63 characters]"
    ]


def test_deprecated_node_labels_in_selector_affinity_and_spread() -> None:
    term = {"matchExpressions": [{"key": "beta.kubernetes.io/os", "operator": "Exists"}]}
    pod = _pod(
        nodeSelector={"failure-domain.beta.kubernetes.io/zone": "a"},
        affinity={
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]},
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 1, "preference": term}
                ],
            }
        },
        topologySpreadConstraints=[
            {
                "maxSkew": 1,
                "topologyKey": "beta.kubernetes.io/instance-type",
                "whenUnsatisfiable": "DoNotSchedule",
            }
        ],
    )
    os_message = 'beta.kubernetes.io/os is deprecated since v1.14; use "kubernetes.io/os" instead'
    assert _prepared("pods", pod) == [
        "spec.nodeSelector[failure-domain.beta.kubernetes.io/zone]: deprecated since v1.17; use "
        '"topology.kubernetes.io/zone" instead',
        "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution."
        f"nodeSelectorTerms[0].matchExpressions[0].key: {os_message}",
        "spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0]."
        f"preference.matchExpressions[0].key: {os_message}",
        "spec.topologySpreadConstraints[0].topologyKey: beta.kubernetes.io/instance-type is "
        'deprecated since v1.17; use "node.kubernetes.io/instance-type" instead',
        "spec.topologySpreadConstraints[0].labelSelector: a null labelSelector results in "
        "matching no pod",
    ]


def test_template_annotations_volumes_and_duplicates() -> None:
    annotations = {
        "scheduler.alpha.kubernetes.io/critical-pod": "",
        "seccomp.security.alpha.kubernetes.io/pod": "runtime/default",
        "container.seccomp.security.alpha.kubernetes.io/c": "runtime/default",
        "container.apparmor.security.beta.kubernetes.io/c": "runtime/default",
    }
    deployment = _deployment(
        template_spec={
            "volumes": [{"name": "g", "gitRepo": {"repository": "https://example.com/r"}}],
            "hostAliases": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.1"}],
            "imagePullSecrets": [{"name": "s"}, {"name": "s"}],
            "container": {"env": [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]},
        }
    )
    deployment["spec"]["template"]["metadata"]["annotations"] = annotations
    where = "spec.template.metadata.annotations"
    assert _prepared("deployments", deployment) == [
        f"{where}[scheduler.alpha.kubernetes.io/critical-pod]: non-functional in v1.16+; use the "
        '"priorityClassName" field instead',
        "spec.template.spec.volumes[0].gitRepo: deprecated in v1.11",
        'spec.template.spec.hostAliases[1].ip: duplicate ip "10.0.0.1"',
        'spec.template.spec.imagePullSecrets[1].name: duplicate name "s"',
        f"{where}[seccomp.security.alpha.kubernetes.io/pod]: non-functional in v1.27+; use the "
        '"seccompProfile" field instead',
        f"{where}[container.seccomp.security.alpha.kubernetes.io/c]: non-functional in v1.27+; "
        'use the "seccompProfile" field instead',
        f"{where}[container.apparmor.security.beta.kubernetes.io/c]: deprecated since v1.30; use "
        'the "appArmorProfile" field instead',
        'spec.template.spec.containers[0].env[1]: hides previous definition of "A", which may '
        "be dropped when using apply",
    ]


def test_an_env_entry_extending_the_previous_one_is_fine() -> None:
    env = [{"name": "P", "value": "/bin"}, {"name": "P", "value": "$(P):/usr/bin"}]
    assert _prepared("pods", _pod(container={"env": env})) == []


def test_fractional_bytes_and_port_clashes() -> None:
    container = {
        "resources": {"requests": {"memory": "0.5", "cpu": "0.5"}},
        "ports": [
            {"containerPort": 80},
            {"containerPort": 80, "hostPort": 8080},
            {"containerPort": 53, "protocol": "UDP", "hostIP": "10.0.0.1"},
        ],
    }
    second = {"name": "d", "image": "busybox", "ports": [{"containerPort": 80}]}
    pod = _pod(container=container)
    pod["spec"]["containers"].append(second)
    assert _prepared("pods", pod) == [
        'spec.containers[0].resources.requests[memory]: fractional byte value "500m" is '
        "invalid, must be an integer",
        "spec.containers[0].ports[1]: overlapping port definition with spec.containers[0].ports[0]",
        "spec.containers[0].ports[2]: hostIP set without hostPort: {Name: HostPort:0 "
        "ContainerPort:53 Protocol:UDP HostIP:10.0.0.1}",
        "spec.containers[1].ports[0]: duplicate port definition with spec.containers[0].ports[0]",
        "spec.containers[1].ports[0]: overlapping port definition with spec.containers[0].ports[1]",
    ]


def test_a_fractional_ephemeral_claim() -> None:
    claim = {
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "1.5"}, "limits": {"storage": "2"}},
        }
    }
    volume = {"name": "scratch", "ephemeral": {"volumeClaimTemplate": claim}}
    assert _prepared("pods", _pod(volumes=[volume])) == [
        "spec.volumes[0].ephemeral.volumeClaimTemplate.spec.resources.requests[storage]: "
        'fractional byte value "1500m" is invalid, must be an integer'
    ]


def test_pod_affinity_without_a_selector_matches_nothing() -> None:
    term = {"topologyKey": "kubernetes.io/hostname"}
    pod = _pod(
        affinity={
            "podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [term],
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 1, "podAffinityTerm": term}
                ],
            }
        }
    )
    where = "spec.affinity.podAntiAffinity"
    assert _prepared("pods", pod) == [
        f"{where}.requiredDuringSchedulingIgnoredDuringExecution[0].labelSelector: a null "
        "labelSelector results in matching no pod",
        f"{where}.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm."
        "labelSelector: a null labelSelector results in matching no pod",
    ]


def test_a_projected_file_the_token_overwrites() -> None:
    volume = {
        "name": "v",
        "projected": {
            "sources": [
                {"serviceAccountToken": {"path": "token"}},
                {"configMap": {"name": "m", "items": [{"key": "k", "path": "token"}]}},
            ]
        },
    }
    assert _prepared("pods", _pod(volumes=[volume])) == [
        "spec.volumes[0].projected.sources.configMap[0]: has duplicated path with "
        'ServiceAccountToken "token"'
    ]


def test_updates_warn_again_only_when_the_spec_changes() -> None:
    bad: dict[str, Any] = {"terminationGracePeriodSeconds": -1}
    grace = (
        "spec.template.spec.terminationGracePeriodSeconds: must be >= 0; negative values are "
        "invalid and will be treated as 1"
    )
    relabelled = _deployment(template_spec=bad)
    relabelled["metadata"]["labels"] = {"tier": "web"}
    assert _prepared("deployments", relabelled, old=_deployment(template_spec=bad)) == []
    annotated = _deployment(template_spec=bad)
    annotated["metadata"]["annotations"] = {"note": "x"}
    assert _prepared("deployments", annotated, old=_deployment(template_spec=bad)) == [grace]
    scaled = _deployment(template_spec=bad)
    scaled["spec"]["replicas"] = 3
    assert _prepared("deployments", scaled, old=_deployment(template_spec=bad)) == [grace]
    # Pods are not warned of on update at all.
    pod = _pod(terminationGracePeriodSeconds=-1, activeDeadlineSeconds=5)
    assert _prepared("pods", pod, old=_pod(terminationGracePeriodSeconds=-1)) == []


def test_jobs_and_cronjobs_warn_of_their_template() -> None:
    template = {
        "spec": {"restartPolicy": "Never", **_pod(terminationGracePeriodSeconds=-5)["spec"]}
    }
    job = {"metadata": {"name": "j", "namespace": NS}, "spec": {"template": template}}
    assert _prepared("jobs", job) == [
        "spec.template.spec.terminationGracePeriodSeconds: must be >= 0; negative values are "
        "invalid and will be treated as 1"
    ]
    cronjob = {
        "metadata": {"name": "cj", "namespace": NS},
        "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": template}}},
    }
    assert _prepared("cronjobs", cronjob) == [
        "spec.jobTemplate.spec.template.spec.terminationGracePeriodSeconds: must be >= 0; "
        "negative values are invalid and will be treated as 1"
    ]


def test_a_huge_indexed_job() -> None:
    job = {
        "metadata": {"name": "j", "namespace": NS},
        "spec": {
            "completionMode": "Indexed",
            "completions": 100_001,
            "parallelism": 10_001,
            "template": {"spec": {"restartPolicy": "Never", **_pod()["spec"]}},
        },
    }
    assert _prepared("jobs", job) == [
        "spec: In Indexed Jobs with a number of completions higher than 10^5 and a parallelism "
        "higher than 10^4, Kubernetes might not be able to track completedIndexes when a big "
        "number of indexes fail"
    ]


def test_every_deprecated_node_label_has_its_message() -> None:
    assert podwarnings.DEPRECATED_NODE_LABELS["node-role.kubernetes.io/master"] == (
        'use "node-role.kubernetes.io/control-plane" instead'
    )


# --------------------------------------------------------------- kubectl


@pytest.fixture(scope="module")
def kube(shared_sandbox: SandboxProcess) -> SandboxProcess:
    shared_sandbox.kubectl("create", "namespace", NS)
    return shared_sandbox


def _manifest(obj: dict[str, Any], kind: str, api_version: str) -> str:
    return json.dumps({"apiVersion": api_version, "kind": kind, **obj})


def _ported_deployment(name: str) -> str:
    deployment = _deployment(name, {"container": {"ports": [{"containerPort": 80}] * 2}})
    deployment["spec"]["replicas"] = 0
    return _manifest(deployment, "Deployment", "apps/v1")


def test_kubectl_prints_a_duplicate_port_of_a_deployment(kube: SandboxProcess) -> None:
    result = kube.kubectl("apply", "-f", "-", input=_ported_deployment("ported"))
    assert result.stderr == DUPLICATE_PORT
    assert result.stdout == "deployment.apps/ported created\n"
    # A change that leaves the spec alone is not warned of again; one to the spec is.
    relabel = kube.kubectl("-n", NS, "label", "deploy", "ported", "tier=web")
    assert relabel.stderr == ""
    unscaled = kube.kubectl("-n", NS, "scale", "deploy", "ported", "--replicas=0")
    assert unscaled.stderr == ""
    scaled = kube.kubectl("-n", NS, "scale", "deploy", "ported", "--replicas=3", "--dry-run=server")
    assert scaled.stderr == DUPLICATE_PORT
    patched = kube.kubectl(
        "-n", NS, "patch", "deploy", "ported", "-p", '{"spec":{"minReadySeconds":1}}'
    )
    assert patched.stderr == DUPLICATE_PORT


def test_server_side_apply_and_dry_runs_warn_too(kube: SandboxProcess) -> None:
    manifest = _ported_deployment("applied")
    dry = kube.kubectl("apply", "--dry-run=server", "-f", "-", input=manifest)
    assert dry.stderr == DUPLICATE_PORT
    assert dry.stdout == "deployment.apps/applied created (server dry run)\n"
    ssa = kube.kubectl("apply", "--server-side", "-f", "-", input=manifest)
    assert ssa.stderr == DUPLICATE_PORT
    assert ssa.stdout == "deployment.apps/applied serverside-applied\n"


def test_kubectl_prints_a_deprecated_node_label_and_a_negative_grace(
    kube: SandboxProcess,
) -> None:
    # An architecture the node does not have: the pod stays Pending, nothing runs.
    pod = _pod("archaic", nodeSelector={"beta.kubernetes.io/arch": "s390x"})
    pod["spec"]["terminationGracePeriodSeconds"] = -1
    result = kube.kubectl("create", "-f", "-", input=_manifest(pod, "Pod", "v1"))
    assert result.stderr == DEPRECATED_ARCH + NEGATIVE_GRACE
    assert result.stdout == "pod/archaic created\n"
    stored = kube.kubectl("-n", NS, "get", "pod", "archaic", "-o", "jsonpath={.spec}").stdout
    assert json.loads(stored)["terminationGracePeriodSeconds"] == -1
    # Pods are not warned of on update.
    assert kube.kubectl("-n", NS, "label", "pod", "archaic", "a=b").stderr == ""


def _service(**spec: Any) -> dict[str, Any]:
    ports = [] if spec.get("type") == "ExternalName" else [{"port": 80}]
    return {"metadata": {"name": "s", "namespace": NS}, "spec": {"ports": ports, **spec}}


def test_service_addresses_written_for_later_releases() -> None:
    service = _service(
        externalIPs=["2001:DB8:0::1", "192.168.001.10", "10.0.0.9"],
        externalTrafficPolicy="Cluster",
        loadBalancerSourceRanges=["2001:db8:0:0::/64", "010.0.0.0/8", "10.0.0.0/8"],
    )
    service["metadata"]["annotations"] = {"service.kubernetes.io/topology-aware-hints": "auto"}
    assert _prepared("services", service) == [
        "annotation service.kubernetes.io/topology-aware-hints is deprecated, please use "
        "service.kubernetes.io/topology-mode instead",
        'spec.externalIPs[0]: IPv6 address "2001:DB8:0::1" is not in RFC 5952 canonical format '
        '("2001:db8::1"), which may cause controller apply-loops',
        "spec.externalIPs[1]: IP address was accepted, but will be invalid in a future "
        'Kubernetes release: ParseAddr("192.168.001.10"): IPv4 field has octet with leading zero',
        'spec.loadBalancerSourceRanges[0]: IPv6 prefix "2001:db8:0:0::/64" is not in RFC 5952 '
        'canonical format ("2001:db8::/64"), which may cause controller apply-loops',
        "spec.loadBalancerSourceRanges[1]: IP prefix was accepted, but will be invalid in a "
        'future Kubernetes release: netip.ParsePrefix("010.0.0.0/8"): ParseAddr("010.0.0.0"): '
        "IPv4 field has octet with leading zero",
    ]


def test_service_fields_its_type_ignores() -> None:
    named = _service(type="ExternalName", externalName="db.example.com", externalIPs=["1.2.3.4"])
    assert _prepared("services", named) == [
        'spec.externalIPs is ignored when spec.type is "ExternalName"'
    ]
    # Services are warned of on every update, changed or not.
    stray = _service(externalName="db.example.com")
    assert _prepared("services", stray, old=_service(externalName="db.example.com")) == [
        'spec.externalName is ignored when spec.type is not "ExternalName"'
    ]


def test_kubectl_prints_a_service_warning(kube: SandboxProcess) -> None:
    service = _manifest(_service(externalName="db.example.com"), "Service", "v1")
    result = kube.kubectl("apply", "-f", "-", input=service)
    assert result.stderr == (
        'Warning: spec.externalName is ignored when spec.type is not "ExternalName"\n'
    )
    assert result.stdout == "service/s created\n"
