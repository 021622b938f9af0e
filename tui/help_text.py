"""What each kind of object is, in a few plain sentences, and the kubectl commands that show it.

The help screen shows the entry for the kind under the cursor, so a user learns the word and
the command next to the thing on screen.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KindHelp:
    title: str
    what: str
    commands: tuple[str, ...]


KIND_HELP: dict[str, KindHelp] = {
    "pods": KindHelp(
        "Pod",
        "The smallest thing Kubernetes runs: one or more containers that share a network "
        "address and volumes, scheduled together on one node. Pods are disposable; a "
        "controller (Deployment, Job) makes new ones when they go away. STATUS tells you "
        "where it is in its life (Pending, Running, Completed, CrashLoopBackOff...).",
        (
            "kubectl -n {ns} get pods -o wide",
            "kubectl -n {ns} describe pod <name>",
            "kubectl -n {ns} logs <name> [-c container] [--previous] [-f]",
        ),
    ),
    "deployments": KindHelp(
        "Deployment",
        "Keeps a number of identical, long-running pods alive (here: the prediction API). "
        "Change its pod template and it rolls the pods over one by one; scale it to change "
        "how many run. A rollout restart replaces every pod without changing the template.",
        (
            "kubectl -n {ns} get deployments",
            "kubectl -n {ns} rollout status deployment/iris-api",
            "kubectl -n {ns} rollout restart deployment/iris-api",
            "kubectl -n {ns} scale deployment/iris-api --replicas=2",
        ),
    ),
    "jobs": KindHelp(
        "Job",
        "Runs pods until a set number of them finish successfully, then stops (here: "
        "training the model, or one batch-scoring run). A finished Job stays around so you "
        "can read its logs; its pod template cannot be changed, so re-running means creating "
        "a new Job.",
        (
            "kubectl -n {ns} get jobs",
            "kubectl -n {ns} describe job iris-train-job",
            "kubectl -n {ns} logs job/iris-train-job",
        ),
    ),
    "cronjobs": KindHelp(
        "CronJob",
        "Creates a Job on a schedule written like a crontab line (here: batch scoring). You "
        "can suspend it so no new Jobs start, or create a Job from it right now to test it.",
        (
            "kubectl -n {ns} get cronjobs",
            "kubectl -n {ns} create job --from=cronjob/iris-batch-predict manual-run",
            'kubectl -n {ns} patch cronjob iris-batch-predict -p \'{{"spec":{{"suspend":true}}}}\'',
        ),
    ),
    "services": KindHelp(
        "Service",
        "A stable name and address in front of a changing set of pods, chosen by their "
        "labels. Traffic to the Service is spread over the pods that are Ready. Its TYPE "
        "says who can reach it: ClusterIP (inside only), NodePort, LoadBalancer.",
        (
            "kubectl -n {ns} get services",
            "kubectl -n {ns} get endpoints iris-api-svc",
            "kubectl -n {ns} port-forward svc/iris-api-svc 8080:80",
        ),
    ),
    "persistentvolumeclaims": KindHelp(
        "PersistentVolumeClaim",
        "A request for storage that outlives any pod. The training Job writes the model "
        "into it and the API and batch pods read it. Pending means no volume could be found "
        "or made for it yet (often: no storage class).",
        (
            "kubectl -n {ns} get pvc",
            "kubectl -n {ns} describe pvc ml-model-pvc",
            "kubectl get storageclass",
        ),
    ),
    "horizontalpodautoscalers": KindHelp(
        "HorizontalPodAutoscaler",
        "Watches a metric (here CPU use of the API pods) and changes the Deployment's replica "
        "count between a minimum and a maximum. It needs the metrics server to see usage.",
        (
            "kubectl -n {ns} get hpa",
            "kubectl -n {ns} describe hpa iris-api-hpa",
            "kubectl top pods -n {ns}",
        ),
    ),
    "events": KindHelp(
        "Event",
        "A short note the cluster writes when something happens to an object: a pod was "
        "scheduled, an image could not be pulled, a probe failed. Warnings are the first "
        "place to look when something does not start. They expire after about an hour.",
        (
            "kubectl -n {ns} get events --field-selector type=Warning",
            "kubectl -n {ns} get events --sort-by=.lastTimestamp",
        ),
    ),
    "configmaps": KindHelp(
        "ConfigMap",
        "Plain settings (key and value) given to pods as environment variables or files. "
        "Kustomize generates this one with a hash in its name, so changing a setting makes "
        "a new ConfigMap and rolls the pods that use it.",
        (
            "kubectl -n {ns} get configmaps",
            "kubectl -n {ns} describe configmap <name>",
        ),
    ),
    "secrets": KindHelp(
        "Secret",
        "Like a ConfigMap but for values that must not be shown around, such as the API "
        "key. They are only base64-encoded, not encrypted, unless the cluster is set up to "
        "encrypt them.",
        (
            "kubectl -n {ns} get secrets",
            "kubectl -n {ns} get secret iris-api-secret -o jsonpath='{{.data.API_KEY}}'",
        ),
    ),
}


def commands_for(kind: str, namespace: str) -> list[str]:
    """The kubectl commands for ``kind`` with the namespace filled in."""
    entry = KIND_HELP.get(kind)
    return [c.format(ns=namespace) for c in entry.commands] if entry else []
