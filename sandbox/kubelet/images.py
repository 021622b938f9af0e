"""The node's image store: which images are "on the machine", and what a pull of any other does.

The sandbox runs the project's own package as the ``iris-ml`` image, so that image is present
from the start at every tag the kustomizations pin (as if ``minikube image build`` had put it
there). ``iris-sandbox image load NAME`` adds a name, as ``minikube image load`` does; the list
lives in ``<state>/images.json`` so a running sandbox sees it. No registry is reachable: every
pull fails as containerd words it when the registry host cannot be resolved.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]  # sandbox/kubelet/images.py -> the checkout
# the kustomizations that pin the tag of the image the sandbox runs (newName would be another)
PINNING = ("base/kustomization.yaml", "overlays/minikube/kustomization.yaml")
LOCAL_IMAGE = "iris-ml"
DOCKER_HUB, HUB_REGISTRY = "docker.io", "registry-1.docker.io"


# distribution/reference's grammar, enough to tell a name from a typo:
# [host[:port]/]path[:tag][@digest]
_REFERENCE = re.compile(
    r"^(?:[a-zA-Z0-9.-]+(?::[0-9]+)?/)?"
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r"(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$"
)


def check_reference(image: str) -> None:
    """ValueError, worded as docker and containerd word it, unless ``image`` is a reference."""
    if _REFERENCE.match(image):
        return
    if _REFERENCE.match(image.lower()):
        raise ValueError(f"invalid reference format: repository name must be lowercase: {image!r}")
    raise ValueError(f"invalid reference format: {image!r}")


def normalize(image: str) -> str:
    """The fully qualified name containerd stores: iris-ml -> docker.io/library/iris-ml:latest."""
    name, digest = image.split("@", 1) if "@" in image else (image, "")
    first, _, rest = name.partition("/")
    if not rest or ("." not in first and ":" not in first and first != "localhost"):
        host, path = DOCKER_HUB, name
    else:
        host, path = first, rest
    if host == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    if digest:
        return f"{host}/{path}@{digest}"
    if ":" not in path.rsplit("/", 1)[-1]:
        path += ":latest"
    return f"{host}/{path}"


def pinned_images(root: Path = REPO_ROOT) -> list[str]:
    """``iris-ml:<tag>`` for every tag the kustomizations pin; none outside a checkout."""
    images = []
    for relative in PINNING:
        try:
            document = yaml.safe_load((root / relative).read_text()) or {}
        except (OSError, yaml.YAMLError):
            continue
        for entry in document.get("images") or []:
            if entry.get("name") == LOCAL_IMAGE and "newName" not in entry and entry.get("newTag"):
                images.append(f"{LOCAL_IMAGE}:{entry['newTag']}")
    return images


class ImageStore:
    """The images present on the node: the built-in ones plus those loaded into the state."""

    def __init__(self, state_dir: Path) -> None:
        self._file = state_dir / "images.json"
        self._builtin = [normalize(image) for image in pinned_images()]
        self._cache: tuple[float, list[str]] = (-1.0, [])

    def loaded(self) -> list[str]:
        try:
            mtime = self._file.stat().st_mtime
        except OSError:
            return []
        if mtime != self._cache[0]:
            try:
                names = [str(name) for name in json.loads(self._file.read_text())]
            except (OSError, ValueError):
                names = []
            self._cache = (mtime, names)
        return self._cache[1]

    def names(self) -> list[str]:
        """Every present image, fully qualified, in a stable order."""
        return sorted({*self._builtin, *self.loaded()})

    def has(self, image: str) -> bool:
        return normalize(image) in self.names()

    def load(self, image: str) -> str:
        name = normalize(image)
        names = sorted({*self.loaded(), name})
        self._file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._file.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(names))
        os.replace(tmp, self._file)
        return name


def image_id(name: str) -> str:
    """A locally built image has no registry digest: containerd names it by its config digest."""
    return f"sha256:{hashlib.sha256(name.encode()).hexdigest()}"


def node_images(state_dir: Path) -> list[dict[str, list[str]]]:
    """Node ``status.images``: one entry per present image (names only, it has no size)."""
    return [{"names": [name]} for name in ImageStore(state_dir).names()]


def pull_error(image: str) -> str:
    """What containerd answers when the registry of ``image`` cannot be reached."""
    name = normalize(image)
    host, _, path = name.partition("/")
    repository, reference = path.split("@", 1) if "@" in path else path.rsplit(":", 1)
    registry = HUB_REGISTRY if host == DOCKER_HUB else host
    return (
        f'failed to pull and unpack image "{name}": failed to resolve reference "{name}": '
        f'failed to do request: Head "https://{registry}/v2/{repository}/manifests/{reference}": '
        f"dial tcp: lookup {registry.split(':')[0]}: no such host"
    )
