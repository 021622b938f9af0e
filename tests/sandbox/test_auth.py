"""kubectl auth can-i and whoami against the sandbox, which lets its one user do everything."""

from __future__ import annotations

import pytest

from sandbox.testing import SandboxProcess

pytestmark = pytest.mark.slow


def test_can_i_says_yes(shared_sandbox: SandboxProcess) -> None:
    assert shared_sandbox.kubectl("auth", "can-i", "create", "pods").stdout == "yes\n"
    assert shared_sandbox.kubectl("auth", "can-i", "delete", "nodes").stdout == "yes\n"


def test_can_i_list_shows_every_rule(shared_sandbox: SandboxProcess) -> None:
    lines = shared_sandbox.kubectl("auth", "can-i", "--list").stdout.splitlines()
    assert lines[0].split() == ["Resources", "Non-Resource", "URLs", "Resource", "Names", "Verbs"]
    assert lines[1].split() == ["*.*", "[]", "[]", "[*]"]


def test_whoami_names_the_admin(shared_sandbox: SandboxProcess) -> None:
    assert shared_sandbox.kubectl("auth", "whoami").stdout.splitlines() == [
        "ATTRIBUTE   VALUE",
        "Username    minikube-user",
        "Groups      [system:masters system:authenticated]",
    ]


def test_reviews_are_not_stored(shared_sandbox: SandboxProcess) -> None:
    result = shared_sandbox.kubectl("get", "selfsubjectaccessreviews", check=False)
    assert result.stderr.strip() == (
        "Error from server (MethodNotAllowed): "
        "the server does not allow this method on the requested resource"
    )
