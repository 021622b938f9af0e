"""The API's errors: a Kubernetes ``Status`` for every failure, as k8s.io/apimachinery's
api/errors builds them (NotFound, AlreadyExists, Conflict, Invalid with causes, Forbidden)."""

from __future__ import annotations

from typing import Any

from sandbox.apimachinery.field import ErrorList, aggregate, go_quote
from sandbox.resources import BY_PLURAL

Obj = dict[str, Any]


class ApiError(Exception):
    """An error the API answers with a Kubernetes ``Status`` object."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        details: Obj | None = None,
        metadata: Obj | None = None,
    ):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.metadata = metadata or {}  # the Status's ListMeta (a 410's fresh continue token)

    def status(self) -> Obj:
        status: Obj = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": dict(self.metadata),
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            status["details"] = self.details
        return status

    @classmethod
    def not_found(cls, resource: str, name: str) -> ApiError:
        return cls(
            404, "NotFound", f'{_qualified(resource)} "{name}" not found', _details(resource, name)
        )

    @classmethod
    def already_exists(cls, resource: str, name: str) -> ApiError:
        return cls(
            409,
            "AlreadyExists",
            f'{_qualified(resource)} "{name}" already exists',
            _details(resource, name),
        )

    @classmethod
    def conflict(cls, resource: str, name: str, why: str) -> ApiError:
        return cls(
            409,
            "Conflict",
            f'Operation cannot be fulfilled on {_qualified(resource)} "{name}": {why}',
            _details(resource, name),
        )

    @classmethod
    def invalid(cls, resource: str, name: str, errors: ErrorList) -> ApiError:
        """422 Invalid as ``apierrors.NewInvalid`` builds it: the message names the Kind (not
        the plural), and ``details.causes`` carry one entry per field error, which kubectl
        prints as ``The Kind "name" is invalid: field: message``."""
        known = BY_PLURAL.get(resource)
        kind = known.kind if known else resource
        group = known.group if known else ""
        qualified = f"{kind}.{group}" if group else kind
        message = f"{qualified} {go_quote(name)} is invalid"
        if errors:
            message += f": {aggregate(errors)}"
        details: Obj = {"name": name, "kind": kind, "causes": [e.cause() for e in errors]}
        if group:
            details["group"] = group
        return cls(422, "Invalid", message, details)

    @classmethod
    def forbidden(
        cls, resource: str, name: str, why: str, causes: list[Obj] | None = None
    ) -> ApiError:
        """403: ``<resource>[.group] "<name>" is forbidden: <why>``, as apierrors.NewForbidden."""
        subject = f'{_qualified(resource)} "{name}"' if name else _qualified(resource)
        details = _details(resource, name)
        if causes:
            details["causes"] = causes
        return cls(403, "Forbidden", f"{subject} is forbidden: {why}", details)

    @classmethod
    def bad_request(cls, message: str) -> ApiError:
        return cls(400, "BadRequest", message)


def _qualified(resource: str) -> str:
    """How the real server names a resource in messages: ``pods``, ``jobs.batch``."""
    known = BY_PLURAL.get(resource)
    return f"{resource}.{known.group}" if known and known.group else resource


def _details(resource: str, name: str) -> Obj:
    known = BY_PLURAL.get(resource)
    details: Obj = {"name": name, "kind": resource}
    if known and known.group:
        details["group"] = known.group
    return details
