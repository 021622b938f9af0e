"""The warnings a write of a pod or pod template earns (pkg/api/pod/warnings.go, 1.32):
deprecated node labels and annotations, retired volume plugins, duplicated entries that apply
would lose, fractional byte quantities, clashing container ports, a negative grace period.

Warnings never refuse a write: they come back to the client as ``Warning`` headers, which
kubectl prints as ``Warning: ...`` lines. Each is ``<field path>: <message>``; the path starts
at the object (``spec...`` for a pod, ``spec.template.spec...`` for a Deployment's template).
"""

from __future__ import annotations

import math
from typing import Any

from sandbox.apimachinery import quantity
from sandbox.apimachinery.field import Path, go_quote
from sandbox.apiserver.registry import meta, names
from sandbox.apiserver.registry.strategy import Strategy
from sandbox.apiserver.registry.values import Obj, integer, mapping, objects, text

# pkg/api/node/util.go's deprecatedNodeLabels.
DEPRECATED_NODE_LABELS = {
    "beta.kubernetes.io/arch": 'deprecated since v1.14; use "kubernetes.io/arch" instead',
    "beta.kubernetes.io/os": 'deprecated since v1.14; use "kubernetes.io/os" instead',
    "failure-domain.beta.kubernetes.io/region": (
        'deprecated since v1.17; use "topology.kubernetes.io/region" instead'
    ),
    "failure-domain.beta.kubernetes.io/zone": (
        'deprecated since v1.17; use "topology.kubernetes.io/zone" instead'
    ),
    "beta.kubernetes.io/instance-type": (
        'deprecated since v1.17; use "node.kubernetes.io/instance-type" instead'
    ),
    "app.kubernetes.io/created-by": "deprecated since v1.9",
    "scheduler.alpha.kubernetes.io/preferAvoidPods": (
        "deprecated since v1.22; use Taints and Tolerations instead"
    ),
    "node-role.kubernetes.io/master": 'use "node-role.kubernetes.io/control-plane" instead',
}
_DEPRECATED_ANNOTATIONS = {
    "scheduler.alpha.kubernetes.io/critical-pod": (
        'non-functional in v1.16+; use the "priorityClassName" field instead'
    ),
    "security.alpha.kubernetes.io/sysctls": (
        'non-functional in v1.11+; use the "sysctls" field instead'
    ),
    "security.alpha.kubernetes.io/unsafe-sysctls": (
        'non-functional in v1.11+; use the "sysctls" field instead'
    ),
}
# The volume plugins removed or on their way out, by their field in a volume.
_RETIRED_VOLUMES = {
    "photonPersistentDisk": "deprecated in v1.11, non-functional in v1.16+",
    "gitRepo": "deprecated in v1.11",
    "scaleIO": "deprecated in v1.16, non-functional in v1.22+",
    "flocker": "deprecated in v1.22, non-functional in v1.25+",
    "storageos": "deprecated in v1.22, non-functional in v1.25+",
    "quobyte": "deprecated in v1.22, non-functional in v1.25+",
    "glusterfs": "deprecated in v1.25, non-functional in v1.26+",
    "cephfs": "deprecated in v1.28, non-functional in v1.31+",
    "rbd": "deprecated in v1.28, non-functional in v1.31+",
}
# The Go field names the messages print (storageos is StorageOS in Go, storageos in JSON).
_GO_VOLUME_PATH = {"storageos": "storageOS"}
_SECCOMP_POD = "seccomp.security.alpha.kubernetes.io/pod"
_SECCOMP_CONTAINER = "container.seccomp.security.alpha.kubernetes.io/"
_APPARMOR_CONTAINER = "container.apparmor.security.beta.kubernetes.io/"
_SECCOMP_MESSAGE = 'non-functional in v1.27+; use the "seccompProfile" field instead'
_APPARMOR_MESSAGE = 'deprecated since v1.30; use the "appArmorProfile" field instead'
_BYTE_RESOURCES = ("memory", "ephemeral-storage")
_NULL_SELECTOR = "a null labelSelector results in matching no pod"
_IGNORED = "DuringSchedulingIgnoredDuringExecution"
# Indexed Jobs past these may lose track of their failed indexes (pkg/api/job/warnings.go).
_COMPLETIONS_SOFT_LIMIT = 100_000
_PARALLELISM_SOFT_LIMIT = 10_000

POD_NAME = "this is used in the Pod's hostname"
OWNER_NAME = "this is used in Pod names and hostnames"


def name_warnings(name: str, used_for: str) -> list[str]:
    """The strategies' own warning: a name that is a subdomain but not a DNS label."""
    problems = names.is_dns1123_label(name)
    if not problems:
        return []
    return [
        f"metadata.name: {used_for}, which can result in surprising behavior; a DNS label is "
        f"recommended: [{' '.join(problems)}]"
    ]


def template_warnings(path: Path, template: Any) -> list[str]:
    """GetWarningsForPodTemplate: ``path`` is the template's (``spec.template``)."""
    template = mapping(template)
    return _spec_and_meta(
        path, mapping(template.get("spec")), mapping(template.get("metadata")), template=True
    )


def pod_warnings(pod: Obj) -> list[str]:
    """GetWarningsForPod."""
    return _spec_and_meta(
        Path(), mapping(pod.get("spec")), mapping(pod.get("metadata")), template=False
    )


def job_spec_warnings(path: Path, spec: Any) -> list[str]:
    """WarningsForJobSpec: a very large Indexed Job, then its pod template."""
    spec = mapping(spec)
    warnings = []
    if spec.get("completionMode") == "Indexed":
        completions = integer(spec.get("completions")) or 0
        parallelism = integer(spec.get("parallelism")) or 0
        if completions > _COMPLETIONS_SOFT_LIMIT and parallelism > _PARALLELISM_SOFT_LIMIT:
            warnings.append(
                f"{path}: In Indexed Jobs with a number of completions higher than 10^5 and a "
                "parallelism higher than 10^4, Kubernetes might not be able to track "
                "completedIndexes when a big number of indexes fail"
            )
    return warnings + template_warnings(path.child("template"), spec.get("template"))


def node_selector_term_warnings(term: Any, path: Path) -> list[str]:
    """GetWarningsForNodeSelectorTerm: deprecated labels among the match expressions."""
    warnings = []
    for position, expression in enumerate(objects(mapping(term).get("matchExpressions"))):
        key = text(expression.get("key"))
        if key in DEPRECATED_NODE_LABELS:
            where = path.child("matchExpressions").index(position).child("key")
            warnings.append(f"{where}: {key} is {DEPRECATED_NODE_LABELS[key]}")
    return warnings


def _spec_and_meta(path: Path, spec: Obj, object_meta: Obj, template: bool) -> list[str]:
    """warningsForPodSpecAndMeta, in its order."""
    spec_path = path.child("spec")
    annotations = mapping(object_meta.get("annotations"))
    annotations_path = path.child("metadata", "annotations")
    warnings = _scheduling(spec, spec_path)
    for key, message in _DEPRECATED_ANNOTATIONS.items():
        if key in annotations:
            warnings.append(f"{annotations_path.key(key)}: {message}")
    warnings += _volumes(spec, spec_path)
    warnings += _duplicates(spec, spec_path)
    overhead = mapping(spec.get("overhead"))
    warnings += _fractional_bytes(overhead, spec_path.child("overhead"))
    security = mapping(spec.get("securityContext"))
    if "seccompProfile" not in security and _SECCOMP_POD in annotations:
        warnings.append(f"{annotations_path.key(_SECCOMP_POD)}: {_SECCOMP_MESSAGE}")
    containers = _containers(spec, spec_path)
    for container, where in containers:
        context = mapping(container.get("securityContext"))
        name = text(container.get("name"))
        seccomp = _SECCOMP_CONTAINER + name
        if "seccompProfile" not in context and seccomp in annotations:
            warnings.append(f"{annotations_path.key(seccomp)}: {_SECCOMP_MESSAGE}")
        # A pod's own annotations are left to applyAppArmorVersionSkew, which syncs them
        # with the fields instead (the sandbox does not).
        apparmor = _APPARMOR_CONTAINER + name
        has_field = "appArmorProfile" in security or "appArmorProfile" in context
        if template and not has_field and apparmor in annotations:
            warnings.append(f"{annotations_path.key(apparmor)}: {_APPARMOR_MESSAGE}")
        resources = mapping(container.get("resources"))
        for kind in ("limits", "requests"):
            warnings += _fractional_bytes(
                mapping(resources.get(kind)), where.child("resources", kind)
            )
        warnings += _hidden_env(objects(container.get("env")), where.child("env"))
    warnings += _ports(containers)
    grace = integer(spec.get("terminationGracePeriodSeconds"))
    if grace is not None and grace < 0:
        warnings.append(
            f"{spec_path.child('terminationGracePeriodSeconds')}: must be >= 0; negative values "
            "are invalid and will be treated as 1"
        )
    affinity = mapping(spec.get("affinity"))
    for kind in ("podAffinity", "podAntiAffinity"):
        terms = mapping(affinity.get(kind))
        where = spec_path.child("affinity", kind)
        required = where.child("required" + _IGNORED)
        for position, term in enumerate(objects(terms.get("required" + _IGNORED))):
            if term.get("labelSelector") is None:
                selector = required.index(position).child("labelSelector")
                warnings.append(f"{selector}: {_NULL_SELECTOR}")
        preferred = where.child("preferred" + _IGNORED)
        for position, weighted in enumerate(objects(terms.get("preferred" + _IGNORED))):
            if mapping(weighted.get("podAffinityTerm")).get("labelSelector") is None:
                selector = preferred.index(position).child("podAffinityTerm", "labelSelector")
                warnings.append(f"{selector}: {_NULL_SELECTOR}")
    return warnings


def _scheduling(spec: Obj, spec_path: Path) -> list[str]:
    """Deprecated node labels in the node selector, node affinity and spread constraints."""
    warnings = []
    for key in mapping(spec.get("nodeSelector")):
        if key in DEPRECATED_NODE_LABELS:
            where = spec_path.child("nodeSelector").key(key)
            warnings.append(f"{where}: {DEPRECATED_NODE_LABELS[key]}")
    node = mapping(mapping(spec.get("affinity")).get("nodeAffinity"))
    node_path = spec_path.child("affinity", "nodeAffinity")
    required = node.get("required" + _IGNORED)
    if isinstance(required, dict):
        terms_path = node_path.child("required" + _IGNORED, "nodeSelectorTerms")
        for position, term in enumerate(objects(required.get("nodeSelectorTerms"))):
            warnings += node_selector_term_warnings(term, terms_path.index(position))
    preferred_path = node_path.child("preferred" + _IGNORED)
    for position, weighted in enumerate(objects(node.get("preferred" + _IGNORED))):
        warnings += node_selector_term_warnings(
            weighted.get("preference"), preferred_path.index(position).child("preference")
        )
    spread_path = spec_path.child("topologySpreadConstraints")
    for position, constraint in enumerate(objects(spec.get("topologySpreadConstraints"))):
        key = text(constraint.get("topologyKey"))
        if key in DEPRECATED_NODE_LABELS:
            where = spread_path.index(position).child("topologyKey")
            warnings.append(f"{where}: {key} is {DEPRECATED_NODE_LABELS[key]}")
        if constraint.get("labelSelector") is None:
            where = spread_path.index(position).child("labelSelector")
            warnings.append(f"{where}: {_NULL_SELECTOR}")
    return warnings


def _volumes(spec: Obj, spec_path: Path) -> list[str]:
    """Retired volume plugins, and projected files that a service account token overwrites."""
    warnings = []
    volumes = objects(spec.get("volumes"))
    volumes_path = spec_path.child("volumes")
    for position, volume in enumerate(volumes):
        for plugin, message in _RETIRED_VOLUMES.items():
            if volume.get(plugin) is not None:
                where = volumes_path.index(position).child(_GO_VOLUME_PATH.get(plugin, plugin))
                warnings.append(f"{where}: {message}")
        claim = mapping(mapping(volume.get("ephemeral")).get("volumeClaimTemplate"))
        if claim:
            # GetWarningsForPersistentVolumeClaimSpec: storage is counted in bytes too.
            claim_path = volumes_path.index(position).child("ephemeral", "volumeClaimTemplate")
            resources = mapping(mapping(claim.get("spec")).get("resources"))
            resources_path = claim_path.child("spec", "resources")
            for kind in ("requests", "limits"):
                warnings += _fractional_bytes(
                    mapping(resources.get(kind)), resources_path.child(kind), ("storage",)
                )
    token_paths = {
        text(mapping(source.get("serviceAccountToken")).get("path"))
        for volume in volumes
        for source in objects(mapping(volume.get("projected")).get("sources"))
        if source.get("serviceAccountToken") is not None
    }
    if not token_paths:
        return warnings
    for position, volume in enumerate(volumes):
        sources_path = volumes_path.index(position).child("projected", "sources")
        for source in objects(mapping(volume.get("projected")).get("sources")):
            # The paths are Kubernetes' own, "secrets" and "ClusterTrustBundle" included.
            for kind, shown in (("configMap", "configMap"), ("secret", "secrets")):
                for index, item in enumerate(objects(mapping(source.get(kind)).get("items"))):
                    warnings += _token_clash(
                        text(item.get("path")), token_paths, sources_path.child(shown).index(index)
                    )
            downward = objects(mapping(source.get("downwardAPI")).get("items"))
            for index, item in enumerate(downward):
                warnings += _token_clash(
                    text(item.get("path")),
                    token_paths,
                    sources_path.child("downwardAPI").index(index),
                )
            bundle = source.get("clusterTrustBundle")
            if isinstance(bundle, dict):
                warnings += _token_clash(
                    text(bundle.get("path")), token_paths, sources_path.child("ClusterTrustBundle")
                )
    return warnings


def _token_clash(path: str, token_paths: set[str], where: Path) -> list[str]:
    if path not in token_paths:
        return []
    return [f"{where}: has duplicated path with ServiceAccountToken {go_quote(path)}"]


def _duplicates(spec: Obj, spec_path: Path) -> list[str]:
    """Host aliases and image pull secrets given twice (apply would merge them into one)."""
    warnings = _repeated(spec, spec_path, "hostAliases", "ip")
    warnings += _repeated(spec, spec_path, "imagePullSecrets", "name")
    for position, secret in enumerate(objects(spec.get("imagePullSecrets"))):
        if not text(secret.get("name")):
            where = spec_path.child("imagePullSecrets").index(position).child("name")
            warnings.append(f'{where}: invalid empty name ""')
    return warnings


def _repeated(spec: Obj, spec_path: Path, list_name: str, key: str) -> list[str]:
    """Each entry of ``spec[list_name]`` whose ``key`` an earlier entry already has."""
    warnings = []
    seen: set[str] = set()
    for position, entry in enumerate(objects(spec.get(list_name))):
        value = text(entry.get(key))
        if value in seen:
            where = spec_path.child(list_name).index(position).child(key)
            warnings.append(f"{where}: duplicate {key} {go_quote(value)}")
        seen.add(value)
    return warnings


def _fractional_bytes(
    resources: Obj, path: Path, byte_resources: tuple[str, ...] = _BYTE_RESOURCES
) -> list[str]:
    """Memory and storage are counted in bytes: a fraction of one is meaningless."""
    warnings = []
    for name in byte_resources:
        if name not in resources:
            continue
        value = quantity.rounded(resources[name])
        # Quantity.MilliValue rounds up to a thousandth.
        if value is not None and math.ceil(value * 1000) % 1000:
            shown = go_quote(quantity.canonical(resources[name]))
            warnings.append(
                f"{path.key(name)}: fractional byte value {shown} is invalid, must be an integer"
            )
    return warnings


def _hidden_env(env: list[Obj], path: Path) -> list[str]:
    """A variable given again: apply keeps one entry per name, so the first may be dropped."""
    warnings = []
    seen: set[str] = set()
    for position, variable in enumerate(env):
        name = text(variable.get("name"))
        if name not in seen:
            seen.add(name)
            continue
        reference = f"$({name})"
        value = text(variable.get("value"))
        # Only X="...$(X)..." (extending the earlier value) is deliberate.
        if variable.get("valueFrom") is not None or value == reference or reference not in value:
            warnings.append(
                f"{path.index(position)}: hides previous definition of {go_quote(name)}, which "
                "may be dropped when using apply"
            )
    return warnings


def _containers(spec: Obj, spec_path: Path) -> list[tuple[Obj, Path]]:
    """VisitContainersWithPath: init containers, then containers."""
    return [
        (container, spec_path.child(kind).index(position))
        for kind in ("initContainers", "containers")
        for position, container in enumerate(objects(spec.get(kind)))
    ]


def _port_struct(port: Obj) -> str:
    """A ContainerPort as Go's %+v prints the struct."""
    return (
        f"{{Name:{text(port.get('name'))} HostPort:{integer(port.get('hostPort')) or 0} "
        f"ContainerPort:{integer(port.get('containerPort')) or 0} "
        f"Protocol:{text(port.get('protocol'))} HostIP:{text(port.get('hostIP'))}}}"
    )


def _ports(containers: list[tuple[Obj, Path]]) -> list[str]:
    """The same container port and protocol declared twice, across all containers."""
    warnings = []
    seen: dict[str, list[tuple[Path, str, int]]] = {}
    for container, where in containers:
        for position, port in enumerate(objects(container.get("ports"))):
            port_path = where.child("ports").index(position)
            host_ip = text(port.get("hostIP"))
            host_port = integer(port.get("hostPort")) or 0
            if host_ip and not host_port:
                warnings.append(f"{port_path}: hostIP set without hostPort: {_port_struct(port)}")
            key = f"{integer(port.get('containerPort')) or 0}/{text(port.get('protocol'))}"
            for other_path, other_ip, other_port in seen.get(key, []):
                if host_ip == other_ip and host_port == other_port:
                    warnings.append(f"{port_path}: duplicate port definition with {other_path}")
                elif not host_port or not other_port:
                    warnings.append(f"{port_path}: overlapping port definition with {other_path}")
                elif host_port == other_port and bool(host_ip) != bool(other_ip):
                    warnings.append(
                        f"{port_path}: dangerously ambiguous port definition with {other_path}"
                    )
            seen.setdefault(key, []).append((port_path, host_ip, host_port))
    return warnings


def spec_changed(obj: Obj, old: Obj) -> bool:
    """Whether an update bumps the generation, the strategies' cue to warn again."""
    return not meta.semantic_equal(obj.get("spec"), old.get("spec"))


class TemplateOwnerStrategy(Strategy):
    """The warnings of a kind that carries a pod template (ReplicaSet, Deployment, Job,
    CronJob): its name and template on create, the template again on an update that bumps
    the generation."""

    def template_warnings(self, obj: Obj) -> list[str]:
        """The warnings of the pod template at ``spec.template`` (a Job's spec, a CronJob's
        job template: theirs override)."""
        return template_warnings(
            Path("spec").child("template"), mapping(obj.get("spec")).get("template")
        )

    def generation_bumped(self, obj: Obj, old: Obj) -> bool:
        return spec_changed(obj, old)

    def warnings_on_create(self, obj: Obj) -> list[str]:
        name = text(mapping(obj.get("metadata")).get("name"))
        return name_warnings(name, OWNER_NAME) + self.template_warnings(obj)

    def warnings_on_update(self, obj: Obj, old: Obj) -> list[str]:
        return self.template_warnings(obj) if self.generation_bumped(obj, old) else []
