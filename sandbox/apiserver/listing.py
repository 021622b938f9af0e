"""Chunked lists as kube-apiserver 1.32 serves them: ``limit``, ``continue``, ``resourceVersion``.

As the etcd3 storage's GetList: a page holds at most ``limit`` matching objects in key order;
when keys follow, ``metadata.continue`` is a token (base64 of ``{"v","rv","start"}``) whose
``rv`` pins every later page to the first page's snapshot, and ``remainingItemCount`` counts
what follows when no selector filters.  The sandbox's etcd compaction is the end of its watch
history: a token older than that is a 410 Expired carrying a token that continues at the
latest version, as the real server answers.  ``resourceVersion=0`` is served from the watch
cache, which ignores ``limit``.
"""

from __future__ import annotations

import base64
import json
import string
from dataclasses import dataclass
from typing import Any

from sandbox.apimachinery.errors import ApiError
from sandbox.apimachinery.field import go_quote
from sandbox.apimachinery.selectors import field_matcher, label_matcher
from sandbox.apiserver.decoding import go_syntax_error, json_kind
from sandbox.storage.store import Compacted, Store, etcd_key

Obj = dict[str, Any]

TOKEN_VERSION = "meta.k8s.io/v1"
_INVALID = "continue key is not valid"
_BASE64URL = frozenset((string.ascii_letters + string.digits + "-_").encode())
_INCONSISTENT = (
    "The provided continue parameter is too old to display a consistent list result. You can "
    "start a new list without the continue parameter, or use the continue token in this "
    "response to retrieve the remainder of the results. Continuing with the provided token "
    "results in an inconsistent list - objects that were created, modified, or deleted "
    "between the time the first chunk was returned and now may show up in the list."
)
_LIST_TOO_OLD = "The resourceVersion for the provided list is too old."


@dataclass
class ListRequest:
    resource: str
    namespace: str | None
    label_selector: str | None = None
    field_selector: str | None = None
    limit: int = 0
    continue_token: str = ""
    resource_version: str = ""


@dataclass
class Page:
    items: list[Obj]
    resource_version: int
    continue_token: str = ""
    remaining: int | None = None

    def metadata(self) -> Obj:
        """The ListMeta: omitempty, as the real server writes it."""
        meta: Obj = {"resourceVersion": str(self.resource_version)}
        if self.continue_token:
            meta["continue"] = self.continue_token
        if self.remaining is not None:
            meta["remainingItemCount"] = self.remaining
        return meta


def encode_continue(start: str, version: int) -> str:
    token = {"v": TOKEN_VERSION, "rv": version, "start": start}
    data = json.dumps(token, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def decode_continue(token: str) -> tuple[str, int]:
    """The start key and resourceVersion of a token, or a 400 in storage.DecodeContinue's
    words."""
    try:
        data = _raw_url_b64decode(token)
        fields = _token_fields(data)
    except ValueError as error:
        raise _bad_token(f"{_INVALID}: {error}") from error
    version, rv, start = fields
    if version != TOKEN_VERSION:
        raise _bad_token(f"{_INVALID}: server does not recognize this encoded version {version}")
    if rv == 0:
        raise _bad_token(
            f"{_INVALID}: incorrect encoded start resourceVersion (version {TOKEN_VERSION})"
        )
    if not start:
        raise _bad_token(f"{_INVALID}: encoded start key empty (version {TOKEN_VERSION})")
    # Against path traversal: the key, rooted, must already be clean.
    key = start if start.startswith("/") else "/" + start
    if _clean(key) != key:
        raise _bad_token(f"{_INVALID}: {start}")
    return key[1:], rv


def list_page(store: Store, request: ListRequest) -> Page:
    """One page of a list (the whole list without a limit)."""
    token, wanted = request.continue_token, request.resource_version
    # The watch cache serves what has no continue token and no limit (or resourceVersion=0).
    if not token and (request.limit <= 0 or wanted == "0"):
        items, version = store.list(
            request.resource,
            request.namespace,
            label_selector=request.label_selector,
            field_selector=request.field_selector,
        )
        return Page(items, version)
    # The selectors are read (and refused) before the storage looks at the token.
    labels_ok = label_matcher(request.label_selector)
    fields_ok = field_matcher(request.field_selector, request.resource)
    start, at = "", None
    if token:
        start, rv = decode_continue(token)
        if wanted not in ("", "0"):
            raise ApiError.bad_request(
                "specifying resource version is not allowed when using continue"
            )
        at = rv if rv > 0 else None
    elif wanted:
        at = _parse_version(wanted) or None
    try:
        everything, version = store.list(request.resource, request.namespace, at=at)
    except Compacted as error:
        if token:
            raise ApiError(
                410, "Expired", _INCONSISTENT, metadata={"continue": encode_continue(start, -1)}
            ) from error
        raise ApiError(410, "Expired", _LIST_TOO_OLD) from error
    keyed = [(_scoped_key(request, obj), obj) for obj in everything]
    following = [(key, obj) for key, obj in keyed if key >= start]
    page: list[Obj] = []
    last, more = "", False
    for key, obj in following:
        if 0 < request.limit <= len(page):
            more = True
            break
        last = key
        if labels_ok(obj) and fields_ok(obj):
            page.append(obj)
    if not more:
        return Page(page, version)
    remaining = None
    if not request.label_selector and not request.field_selector:
        remaining = len(following) - request.limit
    return Page(page, version, encode_continue(last + "\x00", version), remaining)


def _scoped_key(request: ListRequest, obj: Obj) -> str:
    """An object's key below the list's prefix (the namespace's, for a namespaced list)."""
    meta = obj["metadata"]
    if request.namespace is not None:
        return str(meta["name"])
    return etcd_key((request.resource, meta.get("namespace") or "", meta["name"]))


def _parse_version(text: str) -> int:
    try:
        if not text.isdigit():
            raise ValueError
        return int(text)
    except ValueError:
        quoted = go_quote(text)
        raise ApiError.bad_request(
            f"invalid resource version: resourceVersion: Invalid value: {quoted}: "
            f"strconv.ParseUint: parsing {quoted}: invalid syntax"
        ) from None


def _bad_token(detail: str) -> ApiError:
    return ApiError.bad_request(f"invalid continue token: {detail}")


def _raw_url_b64decode(token: str) -> bytes:
    """base64.RawURLEncoding.DecodeString, failing at the byte Go names."""
    raw = token.encode()
    kept = bytearray()
    for index, byte in enumerate(raw):
        if byte in b"\r\n":
            continue
        if byte not in _BASE64URL:
            raise ValueError(f"illegal base64 data at input byte {index}")
        kept.append(byte)
    if len(kept) % 4 == 1:
        raise ValueError(f"illegal base64 data at input byte {len(raw) - 1}")
    return base64.urlsafe_b64decode(bytes(kept) + b"=" * (-len(kept) % 4))


def _token_fields(data: bytes) -> tuple[str, int, str]:
    """json.Unmarshal into storage.continueToken: its errors for what is not one."""
    text = data.decode("utf-8", errors="replace")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(go_syntax_error(error)) from error
    if not isinstance(value, dict):
        raise ValueError(
            f"json: cannot unmarshal {json_kind(value)} into Go value of type storage.continueToken"
        )
    # encoding/json matches keys case-insensitively; the last match wins.
    fields: dict[str, Any] = {}
    for key, item in value.items():
        if key.lower() in ("v", "rv", "start") and item is not None:
            fields[key.lower()] = item
    for name, wanted in (("v", str), ("rv", int), ("start", str)):
        item = fields.get(name)
        if item is None:
            continue
        if wanted is int and isinstance(item, float):
            raise ValueError(
                f"json: cannot unmarshal number {item} into Go struct field "
                f"continueToken.{name} of type int64"
            )
        if not isinstance(item, wanted) or isinstance(item, bool):
            go_type = "int64" if wanted is int else "string"
            raise ValueError(
                f"json: cannot unmarshal {json_kind(item)} into Go struct field "
                f"continueToken.{name} of type {go_type}"
            )
    return str(fields.get("v", "")), int(fields.get("rv", 0)), str(fields.get("start", ""))


def _clean(path: str) -> str:
    """Go's path.Clean for a rooted path."""
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return "/" + "/".join(parts)
