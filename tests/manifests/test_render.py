"""Every overlay and the combined example render, with the course's names in `ml-course`."""

from __future__ import annotations

import yaml

from tests.manifests.rendering import REPO, TARGETS, Rendering

# What a user of the crash course types `kubectl get` for.
COURSE_OBJECTS = {
    ("Namespace", "ml-course"),
    ("PersistentVolumeClaim", "ml-model-pvc"),
    ("Job", "iris-train-job"),
    ("Deployment", "iris-api"),
    ("Service", "iris-api-svc"),
    ("CronJob", "iris-batch-predict"),
}
COMMON_LABELS = {
    "app.kubernetes.io/name": "iris-ml",
    "app.kubernetes.io/part-of": "iris-k8s-kit",
    "app.kubernetes.io/managed-by": "kustomize",
}


def test_the_four_overlays_and_the_example_exist() -> None:
    overlays = {path.name for path in (REPO / "overlays").iterdir() if path.is_dir()}
    assert overlays == {"minikube", "cloud-loadbalancer", "gpu", "autoscale"}
    for target in TARGETS:
        assert (REPO / target / "kustomization.yaml").is_file(), target


def test_renders_the_course_objects(rendering: Rendering) -> None:
    present = {(obj["kind"], obj["metadata"]["name"]) for obj in rendering.objects}
    assert present >= COURSE_OBJECTS, COURSE_OBJECTS - present
    assert len(present) == len(rendering.objects), "an object is rendered twice"


def test_everything_lives_in_the_course_namespace(rendering: Rendering) -> None:
    for obj in rendering.objects:
        if obj["kind"] != "Namespace":
            assert obj["metadata"].get("namespace") == "ml-course", obj["metadata"]["name"]


def test_every_object_and_pod_carries_the_common_labels(rendering: Rendering) -> None:
    for obj in rendering.objects:
        labels = obj["metadata"].get("labels", {})
        assert COMMON_LABELS.items() <= labels.items(), f"{obj['kind']}/{obj['metadata']['name']}"
    for obj, template in rendering.workloads():
        labels = template["metadata"]["labels"]
        assert COMMON_LABELS.items() <= labels.items(), f"{obj['kind']} pod template"
        component = obj["metadata"]["labels"]["app.kubernetes.io/component"]
        assert labels["app.kubernetes.io/component"] == component


def test_workloads_are_labelled_by_component(rendering: Rendering) -> None:
    components = {
        obj["metadata"]["name"]: obj["metadata"]["labels"]["app.kubernetes.io/component"]
        for obj, _ in rendering.workloads()
    }
    assert components == {
        "iris-train-job": "training",
        "iris-api": "api",
        "iris-batch-predict": "batch",
    }


def test_kustomizations_use_labels_not_common_labels() -> None:
    paths = [
        path
        for folder in ("base", "components", "overlays", "examples")
        for path in (REPO / folder).rglob("kustomization.yaml")
    ]
    assert len(paths) >= 9
    for path in paths:
        content = yaml.safe_load(path.read_text())
        assert "commonLabels" not in content, path.relative_to(REPO)
        assert "bases" not in content, f"{path.relative_to(REPO)}: `bases` is deprecated"
