"""Fixtures of the manifest tests: each overlay and example rendered once per session."""

from __future__ import annotations

import pytest

from tests.manifests.rendering import TARGETS, Rendering, render


@pytest.fixture(scope="session")
def renderings() -> dict[str, Rendering]:
    return {target: render(target) for target in TARGETS}


@pytest.fixture(params=TARGETS)
def rendering(request: pytest.FixtureRequest, renderings: dict[str, Rendering]) -> Rendering:
    return renderings[request.param]
