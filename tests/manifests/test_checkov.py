"""checkov finds nothing to fix in any rendering, and every skip says why.

checkov takes seconds per run, so each rendering is scanned once per session, all at once.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.manifests.rendering import REPO, TARGETS, Rendering

SKIP_ANNOTATION = re.compile(r"^checkov\.io/skip\d+$")
SKIP_VALUE = re.compile(r"^(CKV2?_K8S_\d+)=([^=]{10,})$")
# The checks a resource may skip, and where. Anything else must be fixed, not silenced.
ALLOWED_SKIPS = {
    # The settings contract of the app: API_KEY comes from the environment.
    "CKV_K8S_35": {"Deployment"},
    # Only where the image is built into the node: no registry, no digest, no pull.
    "CKV_K8S_43": {"Deployment", "Job", "CronJob"},
    "CKV_K8S_15": {"Deployment", "Job", "CronJob"},
}
IMAGE_SKIPS = {"CKV_K8S_43", "CKV_K8S_15"}


def checkov_binary() -> str:
    """$CHECKOV (set by `make test`), else the copy `make` installs into .tools."""
    configured = os.environ.get("CHECKOV")
    if configured:
        if not Path(configured).is_file():
            pytest.fail(f"CHECKOV={configured} does not exist")
        return configured
    installed = REPO / ".tools/checkov/bin/checkov"
    if installed.exists():
        return str(installed)
    pytest.fail("checkov not found: run `make .tools/checkov/bin/checkov` or set CHECKOV")


@pytest.fixture(scope="session")
def checkov_reports(
    renderings: dict[str, Rendering], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict[str, Any]]:
    binary = checkov_binary()
    folder = tmp_path_factory.mktemp("rendered")
    runs: dict[str, tuple[subprocess.Popen[str], Path]] = {}
    for target, rendering in renderings.items():
        manifest = folder / f"{target.replace('/', '-')}.yaml"
        manifest.write_text(rendering.text)
        command = [binary, "-f", str(manifest), "--framework", "kubernetes", "-o", "json"]
        # --skip-download: no call home for guideline links; the checks themselves are local.
        command += ["--quiet", "--skip-download"]
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        runs[target] = (process, manifest)
    reports = {}
    for target, (process, _) in runs.items():
        stdout, stderr = process.communicate(timeout=240)
        # checkov exits 1 when a check fails; the report says which, so the exit code is moot.
        if process.returncode not in (0, 1) or not stdout.strip():
            pytest.fail(f"checkov on {target} exited {process.returncode}:\n{stderr[-2000:]}")
        reports[target] = json.loads(stdout)
    return reports


@pytest.mark.slow
@pytest.mark.parametrize("target", TARGETS)
def test_checkov_finds_nothing(target: str, checkov_reports: dict[str, dict[str, Any]]) -> None:
    report = checkov_reports[target]
    failed = [
        f"{check['check_id']} {check['check_name']}: {check['resource']}"
        for check in report["results"]["failed_checks"]
    ]
    assert not failed, "\n".join(failed)
    summary = report["summary"]
    assert summary["parsing_errors"] == 0
    assert summary["passed"] > 200, "checkov ran almost no checks: did it read the file?"


def skips(rendering: Rendering) -> list[tuple[str, str, str, str]]:
    """(kind, name, check id, reason) of every checkov skip annotation."""
    found = []
    for obj in rendering.objects:
        for key, value in obj["metadata"].get("annotations", {}).items():
            if "checkov.io" in key:
                assert SKIP_ANNOTATION.match(key), f"{key}: use checkov.io/skip<N>"
                match = SKIP_VALUE.match(value)
                assert match, f"{key}: {value!r} is not CKV_K8S_<n>=<one-line reason>"
                found.append((obj["kind"], obj["metadata"]["name"], match[1], match[2]))
    return found


def test_only_checks_that_do_not_apply_are_skipped(rendering: Rendering) -> None:
    for kind, name, check, reason in skips(rendering):
        assert kind in ALLOWED_SKIPS.get(check, set()), f"{kind}/{name} skips {check}: {reason}"


def test_image_checks_are_skipped_only_for_the_local_image(rendering: Rendering) -> None:
    skipped = {check for _, _, check, _ in skips(rendering)}
    images = {
        container["image"]
        for _, template in rendering.workloads()
        for container in template["spec"]["containers"]
    }
    if all("@sha256:" in image for image in images):
        assert not skipped & IMAGE_SKIPS, "an image pinned by digest needs no skip"
    else:
        assert images == {"iris-ml:0.1.0-dev"}, "only the locally built image may lack a digest"
