"""The review APIs kubectl auth asks: can-i (access and rules reviews) and whoami.

The sandbox authenticates nobody and authorizes everything, so it answers as a minikube
cluster answers its admin: every request allowed, the user minikube-user in system:masters.
These reviews are create-only and never stored, as on a real API server.
"""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]

USER = {"username": "minikube-user", "groups": ["system:masters", "system:authenticated"]}
REVIEWS = {
    "selfsubjectaccessreviews": ("authorization.k8s.io/v1", "SelfSubjectAccessReview"),
    "selfsubjectrulesreviews": ("authorization.k8s.io/v1", "SelfSubjectRulesReview"),
    "selfsubjectreviews": ("authentication.k8s.io/v1", "SelfSubjectReview"),
}


def review(plural: str, body: Any) -> Obj:
    """The answered review: the request's spec (when it could be read) and its status."""
    api_version, kind = REVIEWS[plural]
    spec = body.get("spec") if isinstance(body, dict) else None
    answer: Obj = {"kind": kind, "apiVersion": api_version, "metadata": {}}
    if plural == "selfsubjectaccessreviews":
        answer["spec"] = spec or {}
        answer["status"] = {"allowed": True, "reason": "the sandbox authorizes every request"}
    elif plural == "selfsubjectrulesreviews":
        answer["spec"] = spec or {}
        answer["status"] = {
            "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
            "incomplete": False,
        }
    else:
        answer["status"] = {"userInfo": dict(USER)}
    return answer
