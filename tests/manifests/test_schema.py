"""Every rendered object is valid, strictly, against the schemas of Kubernetes 1.29 to 1.33."""

from __future__ import annotations

import kubernetes_validate
import pytest
from kubernetes_validate import utils

from tests.manifests.rendering import Rendering

# From the oldest release still commonly run (1.29) on: a misspelt key, a field a release
# does not know yet or a wrong type fails here, not at `kubectl apply` time.
KUBERNETES_VERSIONS = ("1.29", "1.30", "1.31", "1.32", "1.33")


def test_the_validator_ships_the_versions() -> None:
    shipped = {utils.major_minor(version) for version in utils.all_versions()}
    assert set(KUBERNETES_VERSIONS) <= shipped


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_objects_match_the_schema_strictly(rendering: Rendering, version: str) -> None:
    errors = []
    for obj in rendering.objects:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(part) for part in exc.absolute_path)
            errors.append(f"{obj['kind']}/{obj['metadata']['name']} at {path}: {exc.message}")
    assert not errors, "\n".join(errors)
