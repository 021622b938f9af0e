"""Jobs and CronJobs refused as kube-apiserver 1.32 refuses them, checked with the real
kubectl's printed message."""

from __future__ import annotations

import pytest

from sandbox.testing import SandboxProcess
from tests.sandbox.refusals import accepted, refused

NS = "v-batch"


@pytest.fixture(scope="module")
def cluster(shared_sandbox: SandboxProcess) -> SandboxProcess:
    shared_sandbox.kubectl("create", "namespace", NS)
    return shared_sandbox


def _cronjob(schedule: str, extra: str = "", restart: str = "OnFailure") -> str:
    return f"""
apiVersion: batch/v1
kind: CronJob
metadata: {{name: nightly, namespace: {NS}}}
spec:
  schedule: "{schedule}"
{extra}
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: {restart}
          containers: [{{name: c, image: busybox}}]
"""


def test_job_counts_and_restart_policy(cluster: SandboxProcess) -> None:
    manifest = f"""
apiVersion: batch/v1
kind: Job
metadata: {{name: counts, namespace: {NS}}}
spec:
  parallelism: -1
  completions: -2
  backoffLimit: -3
  template:
    spec:
      containers: [{{name: c, image: busybox}}]
"""
    assert refused(cluster, manifest) == [
        'The Job "counts" is invalid: ',
        "* spec.parallelism: Invalid value: -1: must be greater than or equal to 0",
        "* spec.completions: Invalid value: -2: must be greater than or equal to 0",
        "* spec.backoffLimit: Invalid value: -3: must be greater than or equal to 0",
        '* spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never"',
    ]
    always = manifest.replace("parallelism: -1", "parallelism: 1").replace(
        "containers:", "restartPolicy: Sometimes\n      containers:"
    )
    assert refused(cluster, always)[-1] == (
        '* spec.template.spec.restartPolicy: Unsupported value: "Sometimes": supported values: '
        '"OnFailure", "Never"'
    )


def test_a_manual_selector_must_select_the_template(cluster: SandboxProcess) -> None:
    manifest = f"""
apiVersion: batch/v1
kind: Job
metadata: {{name: manual, namespace: {NS}}}
spec:
  manualSelector: true
  selector: {{matchLabels: {{job: manual}}}}
  template:
    metadata: {{labels: {{job: other}}}}
    spec:
      restartPolicy: Never
      containers: [{{name: c, image: busybox}}]
"""
    assert refused(cluster, manifest) == [
        'The Job "manual" is invalid: spec.template.metadata.labels: Invalid value: '
        'map[string]string{"job":"other"}: `selector` does not match template `labels`'
    ]
    assert accepted(cluster, manifest.replace("job: other", "job: manual")) == (
        "job.batch/manual created"
    )


@pytest.mark.parametrize(
    ("schedule", "why"),
    [
        ("61 * * * *", "end of range (61) above maximum (59): 61"),
        ("* * * *", "expected exactly 5 fields, found 4: [* * * *]"),
        ("*/0 * * * *", "step of range should be a positive number: */0"),
        ("a * * * *", 'failed to parse int from a: strconv.Atoi: parsing "a": invalid syntax'),
        ("0 0 31 13 *", "end of range (13) above maximum (12): 13"),
        ("0 0 * * 1-9", "end of range (9) above maximum (6): 1-9"),
        ("@often", "unrecognized descriptor: @often"),
        (
            "@every 5d",
            'failed to parse duration @every 5d: time: unknown unit "d" in duration "5d"',
        ),
        (
            "CRON_TZ=UTC 0 * * * *",
            "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
        ),
    ],
)
def test_cron_schedules_are_parsed_as_the_cron_library_does(
    cluster: SandboxProcess, schedule: str, why: str
) -> None:
    assert refused(cluster, _cronjob(schedule)) == [
        f'The CronJob "nightly" is invalid: spec.schedule: Invalid value: "{schedule}": {why}'
    ]


def test_time_zones_and_the_job_template(cluster: SandboxProcess) -> None:
    assert refused(cluster, _cronjob("0 3 * * *", "  timeZone: Mars/Olympus")) == [
        'The CronJob "nightly" is invalid: spec.timeZone: Invalid value: "Mars/Olympus": '
        "unknown time zone Mars/Olympus"
    ]
    assert refused(cluster, _cronjob("0 3 * * *", "  timeZone: Local")) == [
        'The CronJob "nightly" is invalid: spec.timeZone: Invalid value: "Local": timeZone must '
        "be an explicit time zone as defined in https://www.iana.org/time-zones"
    ]
    assert refused(cluster, _cronjob("0 3 * * *", restart="Always")) == [
        'The CronJob "nightly" is invalid: spec.jobTemplate.spec.template.spec.restartPolicy: '
        'Required value: valid values: "OnFailure", "Never"'
    ]
    zoned = _cronjob("0 3 * * *", "  timeZone: Europe/Paris")
    assert accepted(cluster, zoned) == "cronjob.batch/nightly created"


def test_kubectl_create_job_and_cronjob_are_valid(cluster: SandboxProcess) -> None:
    create = ("create", "-n", NS)
    cluster.kubectl(*create, "job", "quick", "--image=busybox", "--", "true")
    cluster.kubectl(*create, "cronjob", "often", "--image=busybox", "--schedule=*/5 * * * *")
    policy = cluster.kubectl(
        "get", "-n", NS, "job", "quick", "-o", "jsonpath={.spec.template.spec.restartPolicy}"
    ).stdout
    assert policy == "Never"
