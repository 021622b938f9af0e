"""The PersistentVolume controller and hostpath provisioner: provision, bind, release, reclaim."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sandbox.apiserver import registry
from sandbox.apiserver.objects import ObjectApi
from sandbox.resources import BY_PLURAL
from tests.sandbox.inprocess import (
    NAMESPACE,
    Cluster,
    phase,
    pod,
    python_container,
)

Obj = dict[str, Any]


def claim(name: str, **spec: Any) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "2Gi"}},
            **spec,
        },
    }


def bound(cluster: Cluster, name: str) -> Obj:
    return cluster.wait_for(
        lambda: (
            (pvc := cluster.get("persistentvolumeclaims", name))
            and (pvc.get("status") or {}).get("phase") == "Bound"
            and pvc
        ),
        f"claim {name} to be bound",
    )


def volume(cluster: Cluster, name: str) -> Obj | None:
    return cluster.get("persistentvolumes", name, namespace="")


def delete_claim(cluster: Cluster, name: str) -> None:
    ObjectApi(cluster.store).delete(
        BY_PLURAL["persistentvolumeclaims"], NAMESPACE, name, None, False
    )


def test_a_claim_gets_a_provisioned_volume_bound_to_it(cluster: Cluster) -> None:
    created = cluster.create("persistentvolumeclaims", claim("data"))
    assert created["spec"]["storageClassName"] == "standard"  # DefaultStorageClass admission
    assert created["metadata"]["finalizers"] == ["kubernetes.io/pvc-protection"]
    pvc = bound(cluster, "data")
    uid = pvc["metadata"]["uid"]
    assert pvc["spec"]["volumeName"] == f"pvc-{uid}"
    assert pvc["status"] == {
        "phase": "Bound",
        "accessModes": ["ReadWriteOnce"],
        "capacity": {"storage": "2Gi"},
    }
    assert pvc["metadata"]["annotations"] == {
        "pv.kubernetes.io/bind-completed": "yes",
        "pv.kubernetes.io/bound-by-controller": "yes",
        "volume.beta.kubernetes.io/storage-provisioner": "k8s.io/minikube-hostpath",
        "volume.kubernetes.io/storage-provisioner": "k8s.io/minikube-hostpath",
    }
    pv = volume(cluster, f"pvc-{uid}")
    assert pv is not None
    assert pv["metadata"]["finalizers"] == ["kubernetes.io/pv-protection"]
    assert pv["metadata"]["annotations"]["pv.kubernetes.io/provisioned-by"] == (
        "k8s.io/minikube-hostpath"
    )
    spec = pv["spec"]
    assert spec["claimRef"]["uid"] == uid
    assert (spec["claimRef"]["namespace"], spec["claimRef"]["name"]) == (NAMESPACE, "data")
    assert spec["capacity"] == {"storage": "2Gi"}
    assert spec["persistentVolumeReclaimPolicy"] == "Delete"
    assert spec["storageClassName"] == "standard"
    folder = Path(spec["hostPath"]["path"])
    assert folder == cluster.state_dir / "volumes" / NAMESPACE / "data"
    assert folder.is_dir()
    assert pv["status"]["phase"] == "Bound"
    reasons = [e["reason"] for e in cluster.store.list("events", NAMESPACE)[0]]
    assert sorted(reasons) == ["ExternalProvisioning", "Provisioning", "ProvisioningSucceeded"]


def test_deleting_the_claim_deletes_its_volume_and_data(cluster: Cluster) -> None:
    cluster.create("persistentvolumeclaims", claim("data"))
    pv_name = bound(cluster, "data")["spec"]["volumeName"]
    folder = Path(volume(cluster, pv_name)["spec"]["hostPath"]["path"])  # type: ignore[index]
    (folder / "model.bin").write_text("old")
    delete_claim(cluster, "data")
    cluster.wait_for(lambda: volume(cluster, pv_name) is None, "the volume to be deleted")
    assert not folder.exists()
    cluster.create("persistentvolumeclaims", claim("data"))
    again = bound(cluster, "data")
    assert again["spec"]["volumeName"] != pv_name
    assert list(folder.iterdir()) == []


def test_a_retained_volume_stays_released_with_its_data(cluster: Cluster) -> None:
    cluster.store.create(
        "storageclasses",
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": "keep"},
            "provisioner": "k8s.io/minikube-hostpath",
            "reclaimPolicy": "Retain",
            "volumeBindingMode": "Immediate",
        },
    )
    cluster.create("persistentvolumeclaims", claim("kept", storageClassName="keep"))
    pv_name = bound(cluster, "kept")["spec"]["volumeName"]
    delete_claim(cluster, "kept")
    released = cluster.wait_for(
        lambda: (pv := volume(cluster, pv_name)) and pv["status"]["phase"] == "Released" and pv,
        "the volume to be released",
    )
    assert released["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
    assert Path(released["spec"]["hostPath"]["path"]).is_dir()
    assert cluster.get("persistentvolumeclaims", "kept") is None


def test_a_claim_asking_for_no_class_stays_pending(cluster: Cluster) -> None:
    created = cluster.create("persistentvolumeclaims", claim("none", storageClassName=""))
    assert created["spec"]["storageClassName"] == ""
    event = cluster.wait_for(lambda: cluster.events("FailedBinding"), "FailedBinding")[0]
    assert event["message"] == (
        "no persistent volumes available for this claim and no storage class is set"
    )
    assert cluster.get("persistentvolumeclaims", "none")["status"]["phase"] == "Pending"  # type: ignore[index]


def test_a_claim_made_without_a_default_class_gets_the_one_created_later(
    cluster: Cluster,
) -> None:
    cluster.store.delete("storageclasses", None, "standard")
    created = cluster.create("persistentvolumeclaims", claim("early"))
    assert "storageClassName" not in created["spec"]  # no default to admit it with
    event = cluster.wait_for(lambda: cluster.events("FailedBinding"), "FailedBinding")[0]
    assert event["message"] == (
        "no persistent volumes available for this claim and no storage class is set"
    )
    cluster.store.create(
        "storageclasses",
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {
                "name": "late-default",
                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
            },
            "provisioner": "k8s.io/minikube-hostpath",
            "reclaimPolicy": "Delete",
            "volumeBindingMode": "Immediate",
        },
    )
    # On the controller's resync, as the real one (every 15 s there, 10 s here).
    pvc = cluster.wait_for(
        lambda: (
            (found := cluster.get("persistentvolumeclaims", "early"))
            and (found.get("status") or {}).get("phase") == "Bound"
            and found
        ),
        "the claim to be bound",
        timeout=30,
    )
    assert pvc["spec"]["storageClassName"] == "late-default"


def test_a_claim_binds_to_the_smallest_available_volume_that_fits(
    cluster: Cluster, tmp_path: Path
) -> None:
    def manual(name: str, size: str) -> None:
        pv = {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": name},
            "spec": {
                "capacity": {"storage": size},
                "accessModes": ["ReadWriteOnce", "ReadOnlyMany"],
                "hostPath": {"path": str(tmp_path / name)},
            },
        }
        prepared = registry.prepare(BY_PLURAL["persistentvolumes"], pv, None, cluster.store)
        cluster.store.create("persistentvolumes", prepared)

    manual("small", "1Gi")
    manual("medium", "5Gi")
    manual("large", "10Gi")
    cluster.wait_for(
        lambda: (volume(cluster, "large") or {}).get("status", {}).get("phase") == "Available",
        "the volume to be Available",
    )
    cluster.create("persistentvolumeclaims", claim("static", storageClassName=""))
    pvc = bound(cluster, "static")
    assert pvc["spec"]["volumeName"] == "medium"
    assert pvc["status"]["capacity"] == {"storage": "5Gi"}
    pv = volume(cluster, "medium")
    assert pv is not None
    assert pv["status"]["phase"] == "Bound"
    assert pv["spec"]["claimRef"]["uid"] == pvc["metadata"]["uid"]
    assert pv["metadata"]["annotations"] == {"pv.kubernetes.io/bound-by-controller": "yes"}
    assert (volume(cluster, "small") or {})["status"]["phase"] == "Available"
    delete_claim(cluster, "static")
    cluster.wait_for(
        lambda: (volume(cluster, "medium") or {}).get("status", {}).get("phase") == "Released",
        "the hand-made volume to be Released and kept (reclaimPolicy Retain)",
    )


def _bound_without_volume(cluster: Cluster, name: str) -> Obj:
    """A claim as a sandbox without PersistentVolume objects left it: bound to a name."""
    pvc = claim(name)
    pvc["metadata"]["uid"] = f"0000-{name}"
    pvc["spec"].update(storageClassName="standard", volumeName=f"pvc-0000-{name}")
    pvc["status"] = {"phase": "Bound", "capacity": {"storage": "2Gi"}}
    pvc["metadata"]["namespace"] = NAMESPACE
    return cluster.store.create("persistentvolumeclaims", pvc)


def test_a_claim_from_before_volumes_gets_one_for_its_folder(cluster: Cluster) -> None:
    folder = cluster.state_dir / "volumes" / NAMESPACE / "old"
    folder.mkdir(parents=True)
    (folder / "model.bin").write_text("kept")
    _bound_without_volume(cluster, "old")
    pv = cluster.wait_for(lambda: volume(cluster, "pvc-0000-old"), "the volume of the old claim")
    assert Path(pv["spec"]["hostPath"]["path"]) == folder
    assert (folder / "model.bin").read_text() == "kept"


def test_a_bound_claim_whose_volume_is_gone_is_lost(cluster: Cluster) -> None:
    _bound_without_volume(cluster, "orphan")
    event = cluster.wait_for(lambda: cluster.events("ClaimLost"), "ClaimLost")[0]
    assert event["type"] == "Warning"
    assert event["message"] == (
        "Bound claim has lost its PersistentVolume. Data on the volume is lost!"
    )
    assert cluster.get("persistentvolumeclaims", "orphan")["status"]["phase"] == "Lost"  # type: ignore[index]


def test_a_wait_for_first_consumer_claim_is_provisioned_for_its_first_pod(
    cluster: Cluster,
) -> None:
    cluster.store.create(
        "storageclasses",
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": "late"},
            "provisioner": "k8s.io/minikube-hostpath",
            "reclaimPolicy": "Delete",
            "volumeBindingMode": "WaitForFirstConsumer",
        },
    )
    cluster.create("persistentvolumeclaims", claim("lazy", storageClassName="late"))
    event = cluster.wait_for(lambda: cluster.events("WaitForFirstConsumer"), "the wait event")[0]
    assert event["message"] == "waiting for first consumer to be created before binding"
    assert cluster.get("persistentvolumeclaims", "lazy")["status"]["phase"] == "Pending"  # type: ignore[index]
    assert cluster.store.list("persistentvolumes")[0] == []
    volumes = [{"name": "v", "persistentVolumeClaim": {"claimName": "lazy"}}]
    cluster.create("pods", pod("consumer", python_container("c", "print('ok')"), volumes=volumes))
    pvc = bound(cluster, "lazy")
    assert pvc["metadata"]["annotations"]["volume.kubernetes.io/selected-node"] == "sandbox"
    cluster.wait_for(lambda: phase(cluster, "consumer") == "Succeeded", "the consumer to run")
