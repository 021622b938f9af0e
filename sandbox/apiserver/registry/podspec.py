"""Pod specs and pod templates: their defaults (SetDefaults_PodSpec, _Container, _Probe) and
ValidatePodSpec / ValidatePodTemplateSpec from pkg/apis/core/validation, in the order the real
validator reports them: volumes, containers (name, image, ports, env, mounts, pull policy,
resources, then the duplicate name and the probes), init containers, then the pod-level fields.
"""

from __future__ import annotations

from typing import Any

from sandbox.apimachinery import field
from sandbox.apimachinery.field import ErrorList, Path
from sandbox.apiserver.registry import meta, names, quantities
from sandbox.apiserver.registry.values import Obj, child, integer, items, mapping, objects, text

RESTART_POLICIES = ("Always", "OnFailure", "Never")
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
PROTOCOLS = ("SCTP", "TCP", "UDP")
_DNS_POLICIES = ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None")
_TERMINATION_MESSAGE_POLICIES = ("File", "FallbackToLogsOnError")
_HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc")
_LIFECYCLE_HANDLERS = ("exec", "httpGet", "tcpSocket", "sleep")
_VOLUME_SOURCES = (
    "hostPath",
    "emptyDir",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "secret",
    "nfs",
    "iscsi",
    "glusterfs",
    "persistentVolumeClaim",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "downwardAPI",
    "fc",
    "azureFile",
    "configMap",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "projected",
    "portworxVolume",
    "scaleIO",
    "storageos",
    "csi",
    "ephemeral",
    "image",
)
_PROBE_DEFAULTS = (
    ("timeoutSeconds", 1),
    ("periodSeconds", 10),
    ("successThreshold", 1),
    ("failureThreshold", 3),
)


# ------------------------------------------------------------------ defaults


def default_pod_spec(spec: Obj) -> None:
    """SetDefaults_PodSpec and what it calls for each container."""
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("securityContext", {})
    for container in [*objects(spec.get("initContainers")), *objects(spec.get("containers"))]:
        image = text(container.get("image"))
        # The tag after the last "/": a registry's port is not a tag.
        tagged = ":" in image.rsplit("/", 1)[-1] or "@" in image
        latest = image.endswith(":latest") or not tagged
        container.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        container.setdefault("resources", {})
        for port in objects(container.get("ports")):
            port.setdefault("protocol", "TCP")
        for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
            if isinstance(container.get(kind), dict):
                _default_probe(container[kind])


def _default_probe(probe: Obj) -> None:
    for key, value in _PROBE_DEFAULTS:
        probe.setdefault(key, value)
    if isinstance(probe.get("httpGet"), dict):
        probe["httpGet"].setdefault("path", "/")
        probe["httpGet"].setdefault("scheme", "HTTP")


def default_template(owner_spec: Obj) -> Obj:
    """Default ``owner_spec.template`` (a PodTemplateSpec) in place and return it."""
    template = child(owner_spec, "template")
    child(template, "metadata")
    default_pod_spec(child(template, "spec"))
    return template


# ---------------------------------------------------------------- validation


def validate_template(template: Any, path: Path) -> ErrorList:
    """ValidatePodTemplateSpec (``path`` is the template's: labels are at ``path.labels``)."""
    template = mapping(template)
    template_meta = mapping(template.get("metadata"))
    errors = meta.validate_labels(template_meta.get("labels"), path.child("labels"))
    errors.extend(
        meta.validate_annotations(template_meta.get("annotations"), path.child("annotations"))
    )
    spec = mapping(template.get("spec"))
    errors.extend(validate_pod_spec(spec, path.child("spec")))
    if items(spec.get("ephemeralContainers")):
        errors.append(
            field.forbidden(
                path.child("spec", "ephemeralContainers"),
                "ephemeral containers not allowed in pod template",
            )
        )
    return errors


def validate_pod_spec(spec: Obj, path: Path) -> ErrorList:
    errors: ErrorList = []
    if spec.get("terminationGracePeriodSeconds") is None:
        errors.append(field.required(path.child("terminationGracePeriodSeconds")))
    volumes, volume_errors = _volumes(spec.get("volumes"), path.child("volumes"))
    errors.extend(volume_errors)
    errors.extend(_containers(spec, volumes, path.child("containers")))
    errors.extend(_init_containers(spec, volumes, path.child("initContainers")))
    errors.extend(_enum(spec.get("restartPolicy"), RESTART_POLICIES, path.child("restartPolicy")))
    errors.extend(_enum(spec.get("dnsPolicy"), _DNS_POLICIES, path.child("dnsPolicy")))
    errors.extend(meta.validate_labels(spec.get("nodeSelector"), path.child("nodeSelector")))
    for key, rule in (
        ("serviceAccountName", names.name_is_dns_subdomain),
        ("nodeName", names.name_is_dns_subdomain),
    ):
        value = text(spec.get(key))
        if value:
            errors.extend(field.invalid(path.child(key), value, m) for m in rule(value, False))
    deadline = integer(spec.get("activeDeadlineSeconds"))
    if deadline is not None and not 1 <= deadline <= 2**31 - 1:
        errors.append(
            field.invalid(
                path.child("activeDeadlineSeconds"),
                deadline,
                names.inclusive_range_error(1, 2**31 - 1),
            )
        )
    for key in ("hostname", "subdomain"):
        value = text(spec.get(key))
        if value:
            errors.extend(
                field.invalid(path.child(key), value, m) for m in names.is_dns1123_label(value)
            )
    return errors


def _enum(value: Any, allowed: tuple[str, ...], path: Path) -> ErrorList:
    if value in allowed:
        return []
    if value in (None, ""):
        return [field.required(path)]
    return [field.not_supported(path, value, allowed)]


def _volumes(volumes: Any, path: Path) -> tuple[set[str], ErrorList]:
    valid: set[str] = set()
    errors: ErrorList = []
    for position, volume in enumerate(objects(volumes)):
        where = path.index(position)
        name = text(volume.get("name"))
        found: ErrorList = []
        sources = [key for key in _VOLUME_SOURCES if volume.get(key) is not None]
        if not sources:
            found.append(field.required(where, "must specify a volume type"))
        for extra in sources[1:]:
            found.append(
                field.forbidden(where.child(extra), "may not specify more than 1 volume type")
            )
        if not name:
            found.append(field.required(where.child("name")))
        else:
            found.extend(
                field.invalid(where.child("name"), name, m) for m in names.is_dns1123_label(name)
            )
        if name in valid:
            found.append(field.duplicate(where.child("name"), name))
        if found:
            errors.extend(found)
        else:
            valid.add(name)
    return valid, errors


def _container_common(container: Obj, volumes: set[str], path: Path) -> ErrorList:
    """validateContainerCommon."""
    errors: ErrorList = []
    name = text(container.get("name"))
    if not name:
        errors.append(field.required(path.child("name")))
    else:
        errors.extend(
            field.invalid(path.child("name"), name, m) for m in names.is_dns1123_label(name)
        )
    if not text(container.get("image")):
        errors.append(field.required(path.child("image")))
    errors.extend(
        _enum(
            container.get("terminationMessagePolicy"),
            _TERMINATION_MESSAGE_POLICIES,
            path.child("terminationMessagePolicy"),
        )
    )
    errors.extend(_ports(container.get("ports"), path.child("ports")))
    errors.extend(_env(container.get("env"), path.child("env")))
    errors.extend(_mounts(container.get("volumeMounts"), volumes, path.child("volumeMounts")))
    errors.extend(
        _enum(container.get("imagePullPolicy"), PULL_POLICIES, path.child("imagePullPolicy"))
    )
    errors.extend(
        quantities.validate_requirements(container.get("resources"), path.child("resources"))
    )
    return errors


def _ports(ports: Any, path: Path) -> ErrorList:
    """validateContainerPorts."""
    errors: ErrorList = []
    seen: set[str] = set()
    for position, port in enumerate(objects(ports)):
        where = path.index(position)
        name = text(port.get("name"))
        if name:
            messages = names.is_valid_port_name(name)
            if messages:
                errors.extend(field.invalid(where.child("name"), name, m) for m in messages)
            elif name in seen:
                errors.append(field.duplicate(where.child("name"), name))
            else:
                seen.add(name)
        number = integer(port.get("containerPort"))
        if not number:
            errors.append(field.required(where.child("containerPort")))
        else:
            errors.extend(
                field.invalid(where.child("containerPort"), number, m)
                for m in names.is_valid_port_num(number)
            )
        host = integer(port.get("hostPort"))
        if host:
            errors.extend(
                field.invalid(where.child("hostPort"), host, m)
                for m in names.is_valid_port_num(host)
            )
        errors.extend(_enum(port.get("protocol"), PROTOCOLS, where.child("protocol")))
    return errors


def _env(env: Any, path: Path) -> ErrorList:
    """ValidateEnv with RelaxedEnvironmentVariableValidation (on by default in 1.32)."""
    errors: ErrorList = []
    for position, variable in enumerate(objects(env)):
        where = path.index(position).child("name")
        name = text(variable.get("name"))
        if not name:
            errors.append(field.required(where))
        elif any(not 32 <= ord(c) < 127 or c == "=" for c in name):
            errors.append(
                field.invalid(
                    where,
                    name,
                    "a valid environment variable name must consist only of printable ASCII "
                    "characters other than '='",
                )
            )
    return errors


def _mounts(mounts: Any, volumes: set[str], path: Path) -> ErrorList:
    """ValidateVolumeMounts: a known volume, a mount path, each path once."""
    errors: ErrorList = []
    seen: set[str] = set()
    for position, mount in enumerate(objects(mounts)):
        where = path.index(position)
        name = text(mount.get("name"))
        if not name:
            errors.append(field.required(where.child("name")))
        if name not in volumes:
            errors.append(field.not_found(where.child("name"), name))
        mount_path = text(mount.get("mountPath"))
        if not mount_path:
            errors.append(field.required(where.child("mountPath")))
        if mount_path in seen:
            errors.append(field.invalid(where.child("mountPath"), mount_path, "must be unique"))
        seen.add(mount_path)
    return errors


def _port_num_or_name(port: Any, path: Path) -> ErrorList:
    """ValidatePortNumOrName: a number in range, or a valid port name (even "8080")."""
    if isinstance(port, str):
        return [field.invalid(path, port, m) for m in names.is_valid_port_name(port)]
    number = integer(port)
    if number is None:
        return []
    return [field.invalid(path, number, m) for m in names.is_valid_port_num(number)]


def _handler(handler: Obj, kinds: tuple[str, ...], path: Path) -> ErrorList:
    """validateHandler: exactly one action, each valid."""
    errors: ErrorList = []
    count = 0
    for kind in kinds:
        action = handler.get(kind)
        if action is None:
            continue
        if count:
            errors.append(
                field.forbidden(path.child(kind), "may not specify more than 1 handler type")
            )
            continue
        count += 1
        action = mapping(action)
        where = path.child(kind)
        if kind == "exec" and not items(action.get("command")):
            errors.append(field.required(where.child("command")))
        elif kind == "httpGet":
            if not text(action.get("path")):
                errors.append(field.required(where.child("path")))
            errors.extend(_port_num_or_name(action.get("port"), where.child("port")))
            scheme = action.get("scheme")
            if scheme not in ("HTTP", "HTTPS"):
                errors.append(field.not_supported(where.child("scheme"), scheme, ("HTTP", "HTTPS")))
        elif kind in ("tcpSocket", "grpc"):
            errors.extend(_port_num_or_name(action.get("port"), where.child("port")))
    if not count:
        errors.append(field.required(path, "must specify a handler type"))
    return errors


def _probe(probe: Any, kind: str, path: Path) -> ErrorList:
    """validateLivenessProbe / validateReadinessProbe / validateStartupProbe."""
    if not isinstance(probe, dict):
        return []
    errors = _handler(probe, _HANDLERS, path)
    for key in (
        "initialDelaySeconds",
        "timeoutSeconds",
        "periodSeconds",
        "successThreshold",
        "failureThreshold",
    ):
        errors.extend(meta.nonnegative(probe.get(key), path.child(key)))
    grace = integer(probe.get("terminationGracePeriodSeconds"))
    if grace is not None and grace <= 0:
        errors.append(
            field.invalid(
                path.child("terminationGracePeriodSeconds"), grace, "must be greater than 0"
            )
        )
    if kind == "readinessProbe":
        if probe.get("terminationGracePeriodSeconds") is not None:
            errors.append(
                field.invalid(
                    path.child("terminationGracePeriodSeconds"),
                    probe["terminationGracePeriodSeconds"],
                    "must not be set for readinessProbes",
                )
            )
    elif probe.get("successThreshold") != 1:
        errors.append(
            field.invalid(
                path.child("successThreshold"), probe.get("successThreshold"), "must be 1"
            )
        )
    return errors


def _lifecycle(lifecycle: Any, path: Path) -> ErrorList:
    errors: ErrorList = []
    for hook in ("postStart", "preStop"):
        handler = mapping(lifecycle).get(hook)
        if isinstance(handler, dict):
            errors.extend(_handler(handler, _LIFECYCLE_HANDLERS, path.child(hook)))
    return errors


def _containers(spec: Obj, volumes: set[str], path: Path) -> ErrorList:
    """validateContainers: at least one; then each, its name unique, its probes."""
    containers = objects(spec.get("containers"))
    if not containers:
        return [field.required(path)]
    errors: ErrorList = []
    seen: set[str] = set()
    for position, container in enumerate(containers):
        where = path.index(position)
        errors.extend(_container_common(container, volumes, where))
        name = text(container.get("name"))
        if name in seen:
            errors.append(field.duplicate(where.child("name"), name))
        seen.add(name)
        if container.get("lifecycle") is not None:
            errors.extend(_lifecycle(container["lifecycle"], where.child("lifecycle")))
        for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
            errors.extend(_probe(container.get(kind), kind, where.child(kind)))
        if container.get("restartPolicy") is not None:
            errors.append(
                field.forbidden(
                    where.child("restartPolicy"), "may not be set for non-init containers"
                )
            )
    return errors


def _init_containers(spec: Obj, volumes: set[str], path: Path) -> ErrorList:
    """validateInitContainers: names unique among all containers; probes only on sidecars."""
    errors: ErrorList = []
    seen = {text(c.get("name")) for c in objects(spec.get("containers"))}
    for position, container in enumerate(objects(spec.get("initContainers"))):
        where = path.index(position)
        errors.extend(_container_common(container, volumes, where))
        restart = container.get("restartPolicy")
        if restart is not None and restart != "Always":
            errors.append(field.not_supported(where.child("restartPolicy"), restart, ("Always",)))
        name = text(container.get("name"))
        if name in seen:
            errors.append(field.duplicate(where.child("name"), name))
        elif name:
            seen.add(name)
        if restart == "Always":
            errors.extend(_lifecycle(container.get("lifecycle"), where.child("lifecycle")))
            for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
                errors.extend(_probe(container.get(kind), kind, where.child(kind)))
            continue
        for kind in ("lifecycle", "livenessProbe", "readinessProbe", "startupProbe"):
            if container.get(kind) is not None:
                errors.append(
                    field.forbidden(
                        where.child(kind),
                        "may not be set for init containers without restartPolicy=Always",
                    )
                )
    return errors


def validate_pod_only(spec: Obj, path: Path) -> ErrorList:
    """validateContainersOnlyForPod: what a pod (not a template) adds."""
    errors: ErrorList = []
    for kind in ("containers", "initContainers"):
        for position, container in enumerate(objects(spec.get(kind))):
            image = text(container.get("image"))
            if image != image.strip():
                errors.append(
                    field.invalid(
                        path.child(kind).index(position).child("image"),
                        image,
                        "must not have leading or trailing whitespace",
                    )
                )
    return errors
