"""The strategy of a kind, as each pkg/registry/<group>/<kind>/strategy.go defines one.

A strategy defaults an object (the scheme's SetDefaults plus PrepareForCreate/Update), validates
it on create and on update (the update adding what may not change), allocates what only a
valid object may take (node ports), runs the validating admission plugins of its kind, says
what a write to the status subresource keeps, and what warnings a valid write earns
(WarningsOnCreate/WarningsOnUpdate: they never refuse it).
"""

from __future__ import annotations

import copy

from sandbox.apimachinery.field import ErrorList
from sandbox.apiserver.registry import meta, names
from sandbox.apiserver.registry.values import Obj, mapping
from sandbox.storage.store import Store


class Strategy:
    """The behaviour every kind shares; kinds override what they add."""

    name_rule: names.NameRule = staticmethod(names.name_is_dns_subdomain)

    def default(self, obj: Obj, old: Obj | None, store: Store) -> None:
        """Fill what the server fills before validating (``old`` is the stored object)."""

    def validate(self, obj: Obj) -> ErrorList:
        """Validation on create."""
        return meta.validate_object_meta(mapping(obj.get("metadata")), self.name_rule)

    def validate_update(self, obj: Obj, old: Obj) -> ErrorList:
        """Validation on update: the metadata update, then the object as on create."""
        errors = meta.validate_object_meta_update(
            mapping(obj.get("metadata")), mapping(old.get("metadata"))
        )
        return errors + self.validate(obj)

    def warnings_on_create(self, obj: Obj) -> list[str]:
        """What to warn the client of, once ``obj`` is valid."""
        return []

    def warnings_on_update(self, obj: Obj, old: Obj) -> list[str]:
        """What to warn the client of, once the update of ``old`` to ``obj`` is valid."""
        return []

    def allocate(self, obj: Obj, old: Obj | None, store: Store) -> ErrorList:
        """Take shared resources once the object is valid (the REST storage's allocators)."""
        return []

    def admit(self, obj: Obj, old: Obj | None, store: Store) -> None:
        """The validating admission plugins, after validation: raise the plugin's refusal."""

    def prepare_for_update(self, obj: Obj, old: Obj) -> None:
        """A write to the object keeps the stored status."""
        if "status" in old:
            obj["status"] = copy.deepcopy(old["status"])
        else:
            obj.pop("status", None)

    def prepare_for_status(self, obj: Obj, old: Obj) -> Obj:
        """A write to the status subresource changes the status only."""
        kept = copy.deepcopy(old)
        kept["status"] = copy.deepcopy(obj.get("status"))
        return kept
