"""The one permission class: every guarded field asks `POLICY` before its resolver runs."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from strawberry import UNSET
from strawberry.permission import BasePermission
from strawberry.utils.str_converters import to_snake_case

from tollway.auth.ownership import IdKind, IdRef, Ownership
from tollway.auth.policy import POLICY
from tollway.errors import Forbidden
from tollway.schema.context import Info


class Allowed(BasePermission):
    """The caller's role is in the field's policy, and every id it names is its tenant's.

    UNAUTHENTICATED without a valid token; FORBIDDEN for a role the policy leaves out, for a
    field without a policy, or for another tenant's id; NOT_FOUND for an id that exists nowhere.
    """

    message = "not allowed"

    async def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        principal = info.context.principal
        operation = f"{info.path.typename}.{info.field_name}"
        access = POLICY.get(operation)
        if access is None:
            raise Forbidden(f"{operation} has no access policy")
        if principal.role not in access.roles:
            raise Forbidden(f"role {principal.role.value} may not use {info.field_name}")
        if access.ids:
            await Ownership(principal).check(list(id_refs(access.ids, kwargs)))
        return True


def id_refs(ids: Mapping[str, IdKind], arguments: Mapping[str, Any]) -> Iterator[IdRef]:
    """Every id given at the policy's paths (`filter.keyId`, `events.apiKeyId`), lists included."""
    for path, kind in ids.items():
        for where, value in _values(path.split("."), arguments, ""):
            if isinstance(value, list):
                yield from (IdRef(kind, str(v), f"{where}[{i}]") for i, v in enumerate(value))
            else:
                yield IdRef(kind, str(value), where)


def _values(path: list[str], holder: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    name, rest = path[0], path[1:]
    python_name = to_snake_case(name)
    if isinstance(holder, Mapping):
        value = holder.get(python_name)
    elif hasattr(holder, python_name):
        value = getattr(holder, python_name)
    else:
        raise LookupError(f"the access policy names {name!r}, which {holder!r} has not")
    where = f"{prefix}.{name}" if prefix else name
    if value is None or value is UNSET:
        return
    if not rest:
        yield where, value
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _values(rest, item, f"{where}[{index}]")
    else:
        yield from _values(rest, value, where)
