"""The object store, selectors and patch engine, without HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sandbox.apimachinery.errors import ApiError
from sandbox.apimachinery.selectors import SelectorError, field_matcher, label_matcher, match_labels
from sandbox.apiserver import openapi
from sandbox.apiserver.patch import managed_fields, merge_patch, server_side_apply, strategic_merge
from sandbox.storage.store import Store


def configmap(name: str, namespace: str = "ns", **meta: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace, **meta}, "data": {"k": "v"}}


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path)


def test_create_fills_identity_and_bumps_the_global_version(store: Store) -> None:
    first = store.create("configmaps", configmap("a"))
    second = store.create("secrets", {"metadata": {"generateName": "s-", "namespace": "ns"}})
    assert first["metadata"]["uid"] != second["metadata"]["uid"]
    assert (
        int(second["metadata"]["resourceVersion"]) == int(first["metadata"]["resourceVersion"]) + 1
    )
    assert second["metadata"]["name"].startswith("s-")
    assert first["metadata"]["creationTimestamp"].endswith("Z")
    with pytest.raises(ApiError) as exists:
        store.create("configmaps", configmap("a"))
    assert exists.value.code == 409


def test_update_rejects_a_stale_version_and_bumps_generation_on_spec_change(store: Store) -> None:
    created = store.create(
        "deployments", {"metadata": {"name": "d", "namespace": "ns"}, "spec": {"replicas": 1}}
    )
    created["spec"]["replicas"] = 2
    updated = store.update("deployments", created)
    assert updated["metadata"]["generation"] == 2
    relabelled = dict(updated, metadata={**updated["metadata"], "labels": {"a": "b"}})
    assert store.update("deployments", relabelled)["metadata"]["generation"] == 2
    with pytest.raises(ApiError) as stale:
        store.update("deployments", created)
    assert stale.value.code == 409


def test_status_updates_touch_only_status(store: Store) -> None:
    created = store.create(
        "jobs",
        {"metadata": {"name": "j", "namespace": "ns"}, "spec": {"parallelism": 1}, "status": {}},
    )
    created["spec"]["parallelism"] = 5
    created["status"] = {"active": 1}
    updated = store.update("jobs", created, subresource="status")
    assert updated["spec"]["parallelism"] == 1
    assert updated["status"] == {"active": 1}


def test_mutate_without_change_writes_nothing(store: Store) -> None:
    created = store.create("configmaps", configmap("a"))
    same = store.mutate("configmaps", "ns", "a", lambda obj: None)
    assert same["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


def test_delete_leaves_dependents_to_the_garbage_collector(store: Store) -> None:
    owner = store.create("deployments", {"metadata": {"name": "d", "namespace": "ns"}})
    ref = {"uid": owner["metadata"]["uid"], "kind": "Deployment", "name": "d"}
    store.create("replicasets", configmap("rs", ownerReferences=[ref]))
    gone = store.delete("deployments", "ns", "d")
    assert int(gone["metadata"]["resourceVersion"]) > int(owner["metadata"]["resourceVersion"])
    with pytest.raises(ApiError):
        store.get("deployments", "ns", "d")
    assert store.get("replicasets", "ns", "rs")["metadata"]["ownerReferences"] == [ref]


def test_an_object_with_finalizers_is_only_marked_until_the_last_one_goes(store: Store) -> None:
    store.create("configmaps", configmap("a", finalizers=["example.com/a", "example.com/b"]))
    marked = store.delete("configmaps", "ns", "a")
    meta = marked["metadata"]
    assert meta["deletionTimestamp"].endswith("Z")
    assert meta["deletionGracePeriodSeconds"] == 0
    assert meta["generation"] == 2
    again = store.delete("configmaps", "ns", "a")
    assert again["metadata"]["deletionTimestamp"] == meta["deletionTimestamp"]

    def drop(finalizer: str) -> Any:
        return lambda obj: obj["metadata"]["finalizers"].remove(finalizer)

    store.mutate("configmaps", "ns", "a", drop("example.com/a"))
    assert store.get("configmaps", "ns", "a")["metadata"]["finalizers"] == ["example.com/b"]
    seen: list[str] = []
    store.subscribe(lambda kind, resource, obj: seen.append(kind))
    store.mutate("configmaps", "ns", "a", drop("example.com/b"))
    assert seen == ["DELETED"]
    with pytest.raises(ApiError):
        store.get("configmaps", "ns", "a")


def test_an_update_keeps_the_deletion_that_has_begun(store: Store) -> None:
    store.create("configmaps", configmap("a", finalizers=["example.com/a"]))
    marked = store.delete("configmaps", "ns", "a")
    replacement = configmap("a", finalizers=["example.com/a"])
    updated = store.update("configmaps", replacement)
    assert updated["metadata"]["deletionTimestamp"] == marked["metadata"]["deletionTimestamp"]


@pytest.mark.parametrize(
    ("propagation", "existing", "default", "wanted"),
    [
        ("Orphan", [], "Background", ["orphan"]),
        ("Foreground", ["orphan"], "Background", ["foregroundDeletion"]),
        ("Background", ["x", "orphan"], "Orphan", ["x"]),
        (None, [], "Orphan", ["orphan"]),
        (None, ["foregroundDeletion"], "Orphan", ["foregroundDeletion"]),
        (None, [], "Background", []),
    ],
)
def test_propagation_becomes_the_garbage_collector_finalizers(
    store: Store, propagation: str | None, existing: list[str], default: str, wanted: list[str]
) -> None:
    store.create("jobs", configmap("j", **({"finalizers": existing} if existing else {})))
    if wanted:
        marked = store.delete("jobs", "ns", "j", propagation, default_policy=default)
        assert marked["metadata"]["finalizers"] == wanted
    else:
        store.delete("jobs", "ns", "j", propagation, default_policy=default)
        with pytest.raises(ApiError):
            store.get("jobs", "ns", "j")


def test_a_namespace_goes_only_once_its_spec_finalizers_are_gone(store: Store) -> None:
    store.create("namespaces", {"metadata": {"name": "ns"}, "spec": {"finalizers": ["kubernetes"]}})
    store.mutate("namespaces", None, "ns", lambda ns: ns["metadata"].update(deletionTimestamp="t"))
    store.mutate("namespaces", None, "ns", lambda ns: ns["metadata"].update(labels={"a": "b"}))
    assert store.get("namespaces", None, "ns")["metadata"]["labels"] == {"a": "b"}
    store.mutate("namespaces", None, "ns", lambda ns: ns["spec"].update(finalizers=[]))
    with pytest.raises(ApiError):
        store.get("namespaces", None, "ns")


def test_a_uid_precondition_refuses_another_object_of_that_name(store: Store) -> None:
    store.create("configmaps", configmap("a"))
    with pytest.raises(ApiError) as refused:
        store.delete("configmaps", "ns", "a", uid="other")
    assert refused.value.code == 409
    assert "Precondition failed: UID in precondition: other" in refused.value.message


def test_listeners_get_events_in_write_order(store: Store) -> None:
    seen: list[tuple[str, str]] = []
    unsubscribe = store.subscribe(
        lambda kind, resource, obj: seen.append((kind, obj["metadata"]["name"]))
    )
    store.create("configmaps", configmap("a"))
    store.mutate("configmaps", "ns", "a", lambda obj: obj["data"].update(x="y"))
    store.delete("configmaps", "ns", "a")
    unsubscribe()
    store.create("configmaps", configmap("b"))
    assert seen == [("ADDED", "a"), ("MODIFIED", "a"), ("DELETED", "a")]


def test_list_where_picks_before_copying(store: Store) -> None:
    for name in ("a", "b", "c"):
        store.create("configmaps", configmap(name, labels={"keep": str(name != "b")}))
    store.create("configmaps", configmap("d", namespace="other", labels={"keep": "True"}))
    items, _ = store.list(
        "configmaps", "ns", where=lambda obj: obj["metadata"]["labels"]["keep"] == "True"
    )
    assert [item["metadata"]["name"] for item in items] == ["a", "c"]
    items[0]["data"]["k"] = "changed"
    assert store.get("configmaps", "ns", "a")["data"]["k"] == "v"


def test_listeners_share_the_recorded_snapshot(store: Store) -> None:
    """Every listener is handed the write's snapshot, the one the watch history keeps."""
    start = store.resource_version
    seen: list[dict[str, Any]] = []
    store.subscribe(lambda kind, resource, obj: seen.append(obj))
    store.subscribe(lambda kind, resource, obj: seen.append(obj))
    store.create("configmaps", configmap("a"))
    history = store.events_since(start)
    assert history is not None
    assert seen[0] is seen[1]
    assert seen[0] == history[0][3]


def test_history_resumes_and_expires(tmp_path: Path) -> None:
    store = Store(tmp_path)
    start = store.resource_version
    store.create("configmaps", configmap("a"))
    store.delete("configmaps", "ns", "a")
    history = store.events_since(start)
    assert history is not None
    assert [(kind, obj["metadata"]["name"]) for _, kind, _, obj in history] == [
        ("ADDED", "a"),
        ("DELETED", "a"),
    ]
    store.close()
    reopened = Store(tmp_path)
    assert reopened.events_since(start) is None
    assert reopened.events_since(reopened.resource_version) == []
    reopened.close()


def test_objects_survive_a_restart(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.create("configmaps", configmap("kept"))
    version = store.resource_version
    store.close()
    reopened = Store(tmp_path)
    assert reopened.get("configmaps", "ns", "kept")["data"] == {"k": "v"}
    assert reopened.resource_version == version
    reopened.close()


def test_label_selectors() -> None:
    obj = {"metadata": {"labels": {"app": "iris", "tier": "api"}}}
    assert label_matcher("app=iris,tier in (api, web)")(obj)
    assert label_matcher("app,!missing,tier notin (db)")(obj)
    assert not label_matcher("app!=iris")(obj)
    with pytest.raises(SelectorError):
        label_matcher("app=(")
    assert match_labels(
        {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["api"]}]},
        {"tier": "api"},
    )
    assert not match_labels({}, {"tier": "api"})


def test_field_selectors() -> None:
    event = {"involvedObject": {"name": "p", "kind": "Pod"}, "metadata": {"name": "e"}}
    assert field_matcher("involvedObject.name=p,involvedObject.kind==Pod", "events")(event)
    assert not field_matcher("metadata.name!=e", "events")(event)


def test_field_selectors_read_what_each_kinds_get_attrs_gives() -> None:
    pod = {
        "metadata": {"name": "p", "namespace": "n"},
        "spec": {"nodeName": "node", "restartPolicy": "Never"},
        "status": {"phase": "Running", "podIP": "127.0.0.5"},
    }
    assert field_matcher("spec.host=node,status.podIP=127.0.0.5", "pods")(pod)
    assert field_matcher("spec.hostNetwork=false,status.nominatedNodeName=", "pods")(pod)
    # accepted by the conversion, but not among the selectable fields: it reads as ""
    assert field_matcher("status.podIPs=", "pods")(pod)
    node = {"metadata": {"name": "n"}, "spec": {"unschedulable": True}}
    assert field_matcher("spec.unschedulable=true", "nodes")(node)
    # cluster-scoped objects have no metadata.namespace field, even where it is accepted
    assert field_matcher("metadata.namespace=", "persistentvolumes")({"metadata": {"name": "v"}})
    event = {"metadata": {"name": "e"}, "reportingComponent": "kubelet", "source": {}}
    assert field_matcher("source=kubelet,reportingComponent=kubelet", "events")(event)
    with pytest.raises(SelectorError, match=r"^field label not supported: metadata\.namespace$"):
        field_matcher("metadata.namespace=x", "namespaces")
    # the terms are sorted before the labels are checked, as fields.ParseSelector sorts them
    with pytest.raises(SelectorError, match=r'^"a\.b" is not a known field selector'):
        field_matcher("z.z=1,a.b=2", "configmaps")


def test_merge_patch_deletes_with_null() -> None:
    assert merge_patch({"a": {"b": 1, "c": 2}, "l": [1]}, {"a": {"b": None}, "l": [2]}) == {
        "a": {"c": 2},
        "l": [2],
    }


def test_strategic_merge_merges_containers_and_env_by_name() -> None:
    schema = openapi.kind_schema("deployments")
    live = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "a", "image": "x:1", "env": [{"name": "A", "value": "1"}]},
                        {"name": "b", "image": "y:1"},
                    ]
                }
            }
        }
    }
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "a", "env": [{"name": "B", "value": "2"}]},
                        {"name": "b", "$patch": "delete"},
                    ]
                }
            }
        }
    }
    merged = strategic_merge(live, patch, schema)
    containers = merged["spec"]["template"]["spec"]["containers"]
    assert containers == [
        {
            "name": "a",
            "image": "x:1",
            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
        }
    ]


def test_strategic_merge_replaces_atomic_lists() -> None:
    schema = openapi.kind_schema("pods")
    live = {"spec": {"containers": [{"name": "a", "command": ["x", "y"]}]}}
    patch = {"spec": {"containers": [{"name": "a", "command": ["z"]}]}}
    assert strategic_merge(live, patch, schema)["spec"]["containers"][0]["command"] == ["z"]


def test_server_side_apply_removes_what_the_manager_stopped_applying() -> None:
    schema = openapi.kind_schema("deployments")

    def applied(env: list[dict[str, str]]) -> dict[str, Any]:
        return {
            "metadata": {"name": "d", "labels": {"a": "1"}},
            "spec": {"template": {"spec": {"containers": [{"name": "c", "env": env}]}}},
        }

    live: dict[str, Any] = {"metadata": {"name": "d", "labels": {"other": "kept"}}}
    live = server_side_apply(
        live, applied([{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]), "me", schema
    )
    live = server_side_apply(live, applied([{"name": "A", "value": "1"}]), "me", schema)
    env = live["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env == [{"name": "A", "value": "1"}]
    assert live["metadata"]["labels"] == {"other": "kept", "a": "1"}
    fields = managed_fields(applied([]), schema)
    assert 'k:{"name":"c"}' in fields["f:spec"]["f:template"]["f:spec"]["f:containers"]


def test_an_update_that_changes_nothing_keeps_the_version(store: Store) -> None:
    created = store.create("configmaps", configmap("a"))
    again = store.update("configmaps", created)
    assert again["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    assert store.resource_version == int(created["metadata"]["resourceVersion"])


def test_states_at_gives_each_object_as_it_was(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.create("configmaps", configmap("old"))
    store.close()
    store = Store(tmp_path)
    start = store.resource_version
    store.mutate("configmaps", "ns", "old", lambda obj: obj["data"].update(k="changed"))
    store.create("configmaps", configmap("new"))
    store.delete("configmaps", "ns", "new")
    states = store.states_at(start, "configmaps")
    assert states is not None
    by_name = {(obj or {}).get("metadata", {}).get("name", uid): obj for uid, obj in states.items()}
    assert by_name["old"] is not None and by_name["old"]["data"] == {"k": "v"}
    assert sum(1 for obj in states.values() if obj is None) == 1
    store.close()
