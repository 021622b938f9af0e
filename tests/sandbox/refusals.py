"""What the real kubectl prints when the sandbox refuses a write, for the validation tests."""

from __future__ import annotations

from sandbox.testing import SandboxProcess

# IsDNS1123Label's and IsQualifiedName's long messages, as 1.32 words them.
LABEL_RULE = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
SUBDOMAIN_RULE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
NAME_PART_RULE = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
    "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
    "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)


def refused(cluster: SandboxProcess, manifest: str, *args: str) -> list[str]:
    """Apply ``manifest`` (or run ``args`` with it on stdin), expect a refusal, return
    kubectl's stderr lines."""
    command = args or ("apply", "-f", "-")
    result = cluster.kubectl(*command, check=False, input=manifest)
    assert result.returncode == 1, result
    return result.stderr.strip().splitlines()


def accepted(cluster: SandboxProcess, manifest: str, *args: str) -> str:
    command = args or ("apply", "-f", "-")
    return cluster.kubectl(*command, input=manifest).stdout.strip()
