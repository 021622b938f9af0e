"""The registry's shared validators and strategies, without a server."""

from __future__ import annotations

import copy
import itertools
from typing import Any

import pytest

from sandbox.apimachinery import quantity
from sandbox.apimachinery.errors import ApiError
from sandbox.apiserver import registry
from sandbox.apiserver.registry import cron, meta, names, pods, quantities
from sandbox.resources import BY_PLURAL
from sandbox.storage.store import Store


@pytest.mark.parametrize(
    ("written", "printed"),
    [
        ("1000m", "1"),
        ("1500m", "1500m"),
        ("0.5", "500m"),
        ("2000", "2k"),
        ("1500", "1500"),
        ("1024Mi", "1Gi"),
        ("1.5Gi", "1536Mi"),
        ("0.5Ki", "512"),
        ("-1Gi", "-1Gi"),
        ("2e3", "2e3"),
        (2, "2"),
        ("1n", "1n"),
    ],
)
def test_quantities_print_as_resource_quantity_string(written: Any, printed: str) -> None:
    assert quantity.canonical(written) == printed


def test_quantities_round_up_to_nano_units() -> None:
    assert quantity.rounded("0.1n") == quantity.rounded("1n")
    assert quantity.rounded("abc") is None
    assert quantity.rounded(True) is None


def test_only_native_resources_but_huge_pages_overcommit() -> None:
    assert quantities.overcommit_allowed("cpu")
    assert quantities.overcommit_allowed("kubernetes.io/anything")
    assert not quantities.overcommit_allowed("nvidia.com/gpu")
    assert not quantities.overcommit_allowed("hugepages-2Mi")


def test_name_rules() -> None:
    assert names.is_dns1123_label("a" * 63) == []
    assert names.is_dns1123_label("a" * 64)[0] == "must be no more than 63 characters"
    assert names.is_dns1123_subdomain("my.app") == []
    assert names.is_dns1035_label("web1") == []
    assert names.is_dns1035_label("1web") != []
    # generateName prefixes may end with a dash (Go masks the last two characters).
    assert names.name_is_dns_subdomain("web-", True) == []
    assert names.name_is_dns_subdomain("web-", False) != []
    assert names.path_segment_name("..", False) == ["may not be '..'"]
    assert names.path_segment_name("a/b%", False) == ["may not contain '/'", "may not contain '%'"]


def test_qualified_names_report_prefix_and_name_parts() -> None:
    assert names.is_qualified_name("example.com/app") == []
    assert names.is_qualified_name("/app") == ["prefix part must be non-empty"]
    errors = names.is_qualified_name("Example.com/" + "a" * 64)
    assert errors[0].startswith("prefix part a lowercase RFC 1123 subdomain")
    assert errors[1] == "name part must be no more than 63 characters"
    assert names.is_qualified_name("a/b/c")[0].startswith("a qualified name must consist")


def test_port_names() -> None:
    assert names.is_valid_port_name("http") == []
    assert names.is_valid_port_name("8080") == ["must contain at least one letter (a-z)"]
    assert names.is_valid_port_name("-a--b") == [
        "must not contain consecutive hyphens",
        "must not begin or end with a hyphen",
    ]
    assert names.is_valid_port_name("a" * 16) == ["must be no more than 15 characters"]


def test_config_keys() -> None:
    assert names.is_config_map_key("app.yaml") == []
    assert names.is_config_map_key(".") == ["must not be '.'"]
    assert names.is_config_map_key("..a") == ["must not start with '..'"]


@pytest.mark.parametrize(
    "schedule", ["*/5 * * * *", "0 3 * * mon-fri", "0 0 1 jan,jul *", "@daily", "@every 90m"]
)
def test_valid_cron_schedules(schedule: str) -> None:
    cron.parse_standard(schedule)


@pytest.mark.parametrize(
    ("schedule", "why"),
    [
        ("5-1 * * * *", "beginning of range (5) beyond end of range (1): 5-1"),
        ("1-2-3 * * * *", "too many hyphens: 1-2-3"),
        ("1/2/3 * * * *", "too many slashes: 1/2/3"),
        ("* * 0 * *", "beginning of range (0) below minimum (1): 0"),
        ("@every 5", 'failed to parse duration @every 5: time: missing unit in duration "5"'),
    ],
)
def test_invalid_cron_schedules(schedule: str, why: str) -> None:
    with pytest.raises(cron.CronError) as error:
        cron.parse_standard(schedule)
    assert str(error.value) == why


def test_qos_classes() -> None:
    def spec(resources: dict[str, Any]) -> dict[str, Any]:
        return {"containers": [{"name": "c", "resources": resources}]}

    both = {"cpu": "1", "memory": "1Gi"}
    assert pods.qos_class(spec({})) == "BestEffort"
    assert pods.qos_class(spec({"limits": both, "requests": both})) == "Guaranteed"
    assert pods.qos_class(spec({"requests": {"cpu": "1"}})) == "Burstable"
    assert pods.qos_class(spec({"limits": both, "requests": {"cpu": "500m"}})) == "Burstable"


def test_selector_matching_and_printing() -> None:
    selector = {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["web"]}]}
    assert meta.selector_matches(selector, {"tier": "web"})
    assert not meta.selector_matches(selector, {"tier": "db"})
    assert not meta.selector_matches(None, {"tier": "web"})
    assert meta.selector_matches({}, {})
    assert meta.selector_value(selector).text == (
        "v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:"
        '[]v1.LabelSelectorRequirement{v1.LabelSelectorRequirement{Key:"tier", Operator:"In", '
        'Values:[]string{"web"}}}}'
    )


def test_empty_and_missing_values_are_semantically_equal() -> None:
    assert meta.semantic_equal({"a": [], "b": {}, "c": None}, {})
    assert not meta.semantic_equal({"a": [1]}, {"a": [2]})


_WRONG_TYPES: list[Any] = ["x", 3, [1], {"a": 1}, None, True]
_FIELDS = (
    ("spec",),
    ("spec", "template"),
    ("spec", "template", "spec", "containers"),
    ("spec", "ports"),
    ("spec", "selector"),
    ("spec", "selector", "matchExpressions"),
    ("spec", "jobTemplate", "spec"),
    ("spec", "resources", "requests"),
    ("metadata", "labels"),
    ("metadata", "annotations"),
    ("metadata", "finalizers"),
    ("data",),
)


def _with(obj: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(obj)
    target = changed
    for key in path[:-1]:
        if not isinstance(target.get(key), dict):
            target[key] = {}
        target = target[key]
    target[path[-1]] = value
    return changed


@pytest.mark.parametrize("plural", sorted(registry.STRATEGIES))
def test_a_value_of_the_wrong_type_is_refused_or_stored_never_a_traceback(plural: str) -> None:
    store = Store(None)
    base = {"metadata": {"name": "x", "namespace": "default"}}
    for path, value in itertools.product(_FIELDS, _WRONG_TYPES):
        obj = _with(base, path, value)
        try:
            registry.prepare(BY_PLURAL[plural], obj, None, store)
            registry.prepare(BY_PLURAL[plural], copy.deepcopy(obj), copy.deepcopy(obj), store)
        except ApiError as error:
            assert error.code == 422, (path, value, error)


_GARBAGE_CONTAINER = {
    "name": 3,
    "image": [1],
    "ports": [{"containerPort": "80", "name": 5, "protocol": []}, "p"],
    "resources": {"limits": {"cpu": [1], "memory": "abc"}, "requests": "x"},
    "livenessProbe": {"httpGet": {"port": [1], "path": 2}, "periodSeconds": "10"},
    "env": [{"name": 1}, "e"],
    "volumeMounts": [{"name": {}, "mountPath": 1}],
}


@pytest.mark.parametrize(
    ("plural", "spec"),
    [
        ("pods", {"containers": [_GARBAGE_CONTAINER], "volumes": [{"name": []}, 1]}),
        ("deployments", {"template": {"spec": {"containers": [_GARBAGE_CONTAINER]}}}),
        ("services", {"type": "NodePort", "ports": [{"port": "80", "nodePort": "x"}, [1]]}),
        ("persistentvolumeclaims", {"accessModes": "RWO", "resources": {"requests": [1]}}),
        ("cronjobs", {"schedule": 5, "timeZone": 3, "jobTemplate": []}),
        ("poddisruptionbudgets", {"minAvailable": "x%", "maxUnavailable": [1], "selector": "x"}),
    ],
)
def test_nested_values_of_the_wrong_type_are_refused(plural: str, spec: dict[str, Any]) -> None:
    obj = {"metadata": {"name": "x", "namespace": "default"}, "spec": spec}
    with pytest.raises(ApiError) as refused:
        registry.prepare(BY_PLURAL[plural], obj, None, Store(None))
    assert refused.value.code == 422


def _claim_of(class_name: str, phase: str, size: str = "1Gi") -> dict[str, Any]:
    return {
        "metadata": {
            "name": "data",
            "namespace": "lab",
            "annotations": {"volume.beta.kubernetes.io/storage-class": class_name},
        },
        "spec": {
            "storageClassName": "ignored",  # the beta annotation wins, as in 1.32
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": size}},
        },
        "status": {"phase": phase},
    }


def test_the_resize_admission_plugin() -> None:
    store = Store(None)
    store.create(
        "storageclasses",
        {"metadata": {"name": "grows"}, "provisioner": "p", "allowVolumeExpansion": True},
    )
    store.create("storageclasses", {"metadata": {"name": "fixed"}, "provisioner": "p"})
    plugin = registry.STRATEGIES["persistentvolumeclaims"]

    def refusal(class_name: str, phase: str, size: str) -> str | None:
        try:
            plugin.admit(_claim_of(class_name, phase, size), _claim_of(class_name, phase), store)
        except ApiError as error:
            assert error.code == 403
            return error.message
        return None

    assert refusal("grows", "Bound", "2Gi") is None
    assert refusal("fixed", "Bound", "1Gi") is None  # not a resize
    assert refusal("fixed", "Bound", "2Gi") == (
        'persistentvolumeclaims "data" is forbidden: only dynamically provisioned pvc can be '
        "resized and the storageclass that provisions the pvc must support resize"
    )
    assert refusal("gone", "Bound", "2Gi") == refusal("fixed", "Bound", "2Gi")
    assert refusal("grows", "Pending", "2Gi") == (
        'persistentvolumeclaims "data" is forbidden: Only bound persistent volume claims can be '
        "expanded"
    )
