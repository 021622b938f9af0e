"""The resource kinds the sandbox serves: names, group/version, scope and verbs."""

from __future__ import annotations

from dataclasses import dataclass, replace

# The one node of every sandbox, as `kubectl get nodes` names it.
NODE_NAME = "sandbox"

ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


@dataclass(frozen=True)
class Resource:
    plural: str
    kind: str
    group: str
    version: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    verbs: tuple[str, ...] = tuple(ALL_VERBS)
    # Other versions served from the same objects, converted (autoscaling/v1 beside v2).
    served_versions: tuple[str, ...] = ()
    # Set on the view of a served version: the version objects are stored in.
    storage_version: str = ""

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_version(self) -> str:
        return self.api_version

    def at(self, version: str) -> Resource:
        """The resource as served in ``version`` (itself for its storage version)."""
        if version == self.version:
            return self
        return replace(self, version=version, served_versions=(), storage_version=self.version)

    def stored(self) -> Resource:
        """The resource in the version its objects are stored in."""
        return BY_PLURAL[self.plural]


RESOURCES = [
    Resource("namespaces", "Namespace", "", "v1", False, ("ns",), (), ("status", "finalize")),
    Resource("nodes", "Node", "", "v1", False, ("no",), (), ("status",)),
    Resource(
        "pods", "Pod", "", "v1", True, ("po",), ("all",), ("status", "log", "proxy", "binding")
    ),
    Resource("services", "Service", "", "v1", True, ("svc",), ("all",), ("status", "proxy")),
    Resource("endpoints", "Endpoints", "", "v1", True, ("ep",)),
    # What kubectl describe service and kube-proxy read since 1.21 (Endpoints is legacy).
    Resource("endpointslices", "EndpointSlice", "discovery.k8s.io", "v1"),
    Resource("configmaps", "ConfigMap", "", "v1", True, ("cm",)),
    Resource("secrets", "Secret", "", "v1"),
    Resource("serviceaccounts", "ServiceAccount", "", "v1", True, ("sa",)),
    Resource(
        "persistentvolumeclaims", "PersistentVolumeClaim", "", "v1", True, ("pvc",), (), ("status",)
    ),
    Resource("persistentvolumes", "PersistentVolume", "", "v1", False, ("pv",), (), ("status",)),
    Resource("events", "Event", "", "v1", True, ("ev",)),
    Resource(
        "deployments", "Deployment", "apps", "v1", True, ("deploy",), ("all",), ("status", "scale")
    ),
    Resource(
        "replicasets", "ReplicaSet", "apps", "v1", True, ("rs",), ("all",), ("status", "scale")
    ),
    Resource("jobs", "Job", "batch", "v1", True, (), ("all",), ("status",)),
    Resource("cronjobs", "CronJob", "batch", "v1", True, ("cj",), ("all",), ("status",)),
    Resource(
        "horizontalpodautoscalers",
        "HorizontalPodAutoscaler",
        "autoscaling",
        "v2",
        True,
        ("hpa",),
        ("all",),
        ("status",),
        served_versions=("v1",),
    ),
    Resource(
        "poddisruptionbudgets",
        "PodDisruptionBudget",
        "policy",
        "v1",
        True,
        ("pdb",),
        (),
        ("status",),
    ),
    Resource("networkpolicies", "NetworkPolicy", "networking.k8s.io", "v1", True, ("netpol",)),
    Resource("storageclasses", "StorageClass", "storage.k8s.io", "v1", False, ("sc",)),
    Resource("leases", "Lease", "coordination.k8s.io", "v1"),
    # Answered, never stored (sandbox/apiserver/auth.py): kubectl auth can-i and whoami.
    *(
        Resource(plural, kind, group, "v1", False, verbs=("create",))
        for plural, kind, group in (
            ("selfsubjectaccessreviews", "SelfSubjectAccessReview", "authorization.k8s.io"),
            ("selfsubjectrulesreviews", "SelfSubjectRulesReview", "authorization.k8s.io"),
            ("selfsubjectreviews", "SelfSubjectReview", "authentication.k8s.io"),
        )
    ),
]

BY_PLURAL = {resource.plural: resource for resource in RESOURCES}


def group_versions() -> dict[str, list[Resource]]:
    """Resources by group/version ("v1" for the core group), in a stable order: a group's
    storage version before the other versions it serves."""
    groups: dict[str, list[Resource]] = {}
    for resource in RESOURCES:
        for version in (resource.version, *resource.served_versions):
            served = resource.at(version)
            groups.setdefault(served.group_version, []).append(served)
    return groups


def find(group: str, version: str, plural: str) -> Resource | None:
    """The resource a path names, as served in that version."""
    resource = BY_PLURAL.get(plural)
    if resource is None or resource.group != group:
        return None
    if version not in (resource.version, *resource.served_versions):
        return None
    return resource.at(version)
