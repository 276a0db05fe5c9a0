"""The three PATCH flavours the API server accepts: JSON merge (RFC 7386), strategic merge, JSON patch (RFC 6902).

Where this sits: ``registry.py`` applies a patch to the current object with ``apply_patch`` and then treats the
result as an update (resourceVersion precondition, status isolation, finalizer rules). Nothing here mutates its
inputs; each function builds a new document.

Strategic merge follows the Go types' tags for the fields cloudlb's controller touches: ``metadata.finalizers`` is
a *merged* primitive list (a patch adds to it; removing needs ``$deleteFromPrimitiveList/finalizers`` or a merge
or JSON patch), while ``status.loadBalancer.ingress`` is atomic and replaced whole. The directives ``$patch``
(replace, delete), ``$deleteFromPrimitiveList/<field>``, ``$retainKeys`` and ``$setElementOrder/<field>`` are
understood (the last is accepted and ignored: order is kept as merged).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from cloudlb.testing.kubeapi.errors import KubeError
from cloudlb.testing.kubeapi.resources import ListStrategy

__all__ = [
    "JSON_PATCH",
    "MERGE_PATCH",
    "STRATEGIC_MERGE_PATCH",
    "apply_patch",
    "json_patch",
    "merge_patch",
    "strategic_merge",
]

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
_DELETE = object()  # a strategic "$patch: delete" on a map removes the map from its parent


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _strip(value: Any) -> Any:
    """A patch value with its directives removed, as it is stored when it adds something new."""
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if not k.startswith("$")}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def strategic_merge(original: Any, patch: Any, lists: Mapping[str, ListStrategy], path: str = "") -> Any:
    """``patch`` merged into ``original``; ``lists`` names the merged (non-atomic) list fields by dotted path."""
    if not isinstance(patch, dict):
        return _strip(patch)
    directive = patch.get("$patch")
    if directive == "replace":
        return _strip(patch)
    if directive == "delete":
        return _DELETE
    if directive is not None:
        raise KubeError.bad_request(f"unknown patch type: {directive!r}")
    result = dict(original) if isinstance(original, dict) else {}
    if "$retainKeys" in patch:
        keep = set(patch["$retainKeys"]) | {k for k in patch if not k.startswith("$")}
        result = {k: v for k, v in result.items() if k in keep}
    removals: list[tuple[str, list[Any]]] = []
    for key, value in patch.items():
        if key.startswith("$deleteFromPrimitiveList/"):
            removals.append((key.split("/", 1)[1], value if isinstance(value, list) else []))
            continue
        if key.startswith("$"):
            continue
        child = f"{path}.{key}" if path else key
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            merged = strategic_merge(result.get(key), value, lists, child)
            if merged is _DELETE:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list):
            result[key] = _merge_list(result.get(key), value, lists, child)
        else:
            result[key] = value
    # Removals run after the merges, so one patch may both add to and delete from a list.
    for key, values in removals:
        if isinstance(result.get(key), list):
            result[key] = [item for item in result[key] if item not in values]
    return result


def _merge_list(original: Any, patch: list[Any], lists: Mapping[str, ListStrategy], path: str) -> list[Any]:
    strategy = lists.get(path)
    replace = any(isinstance(item, dict) and item.get("$patch") == "replace" for item in patch)
    if strategy is None or replace or not isinstance(original, list):
        return [_strip(item) for item in patch if not (isinstance(item, dict) and "$patch" in item and len(item) == 1)]
    result = list(original)
    if strategy.key is None:
        result += [item for item in patch if item not in result]
        return result
    key = strategy.key
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            raise KubeError.bad_request(f"map: {item!r} does not contain declared merge key: {key}")
        at = next((i for i, old in enumerate(result) if isinstance(old, dict) and old.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            result = [old for old in result if not (isinstance(old, dict) and old.get(key) == item[key])]
        elif at is None:
            result.append(_strip(item))
        else:
            result[at] = strategic_merge(result[at], item, lists, path)
    return result


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise KubeError(422, "Invalid", f"JSON pointer must start with '/': {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _index(container: list[Any], token: str, *, adding: bool) -> int:
    if adding and token == "-":
        return len(container)
    if not token.isdigit():
        raise KubeError(422, "Invalid", f"invalid array index {token!r}")
    index = int(token)
    if index > len(container) or (not adding and index == len(container)):
        raise KubeError(422, "Invalid", f"array index {index} out of bounds")
    return index


def _parent(doc: Any, tokens: list[str]) -> Any:
    for token in tokens[:-1]:
        if isinstance(doc, dict) and token in doc:
            doc = doc[token]
        elif isinstance(doc, list):
            doc = doc[_index(doc, token, adding=False)]
        else:
            raise KubeError(422, "Invalid", f"doc is missing path: /{'/'.join(tokens)}")
    return doc


def _get(doc: Any, tokens: list[str]) -> Any:
    if not tokens:
        return doc
    parent, last = _parent(doc, tokens), tokens[-1]
    if isinstance(parent, dict) and last in parent:
        return parent[last]
    if isinstance(parent, list):
        return parent[_index(parent, last, adding=False)]
    raise KubeError(422, "Invalid", f"doc is missing path: /{'/'.join(tokens)}")


def _remove(doc: Any, tokens: list[str]) -> Any:
    value = _get(doc, tokens)
    parent, last = _parent(doc, tokens), tokens[-1]
    if isinstance(parent, dict):
        del parent[last]
    else:
        del parent[_index(parent, last, adding=False)]
    return value


def _add(doc: Any, tokens: list[str], value: Any) -> Any:
    if not tokens:
        return value
    parent, last = _parent(doc, tokens), tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, adding=True), value)
    else:
        raise KubeError(422, "Invalid", f"doc is missing path: /{'/'.join(tokens)}")
    return doc


def json_patch(document: Any, operations: Any) -> Any:
    if not isinstance(operations, list):
        raise KubeError.bad_request("a JSON patch must be a list of operations")
    doc = copy.deepcopy(document)
    for op in operations:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise KubeError.bad_request(f"invalid JSON patch operation: {op!r}")
        tokens, kind = _pointer(op["path"]), op["op"]
        if kind == "add":
            doc = _add(doc, tokens, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            _remove(doc, tokens)
        elif kind == "replace":
            if tokens:
                _remove(doc, tokens)  # replacing requires the target to exist
            doc = _add(doc, tokens, copy.deepcopy(op.get("value")))
        elif kind in ("move", "copy"):
            source = _pointer(op.get("from", ""))
            value = _remove(doc, source) if kind == "move" else copy.deepcopy(_get(doc, source))
            doc = _add(doc, tokens, value)
        elif kind == "test":
            if _get(doc, tokens) != op.get("value"):
                raise KubeError(422, "Invalid", f"testing value {op['path']} failed")
        else:
            raise KubeError.bad_request(f"unexpected JSON patch operation {kind!r}")
    return doc


def apply_patch(content_type: str, current: dict[str, Any], body: bytes, lists: Mapping[str, ListStrategy]) -> Any:
    """``current`` patched by ``body`` of the given media type; a 415 for types the fake does not speak."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media not in (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH):
        raise KubeError(
            415, "UnsupportedMediaType", f"the body of the request was in an unknown format - accepted media types "
            f"include: {JSON_PATCH}, {MERGE_PATCH}, {STRATEGIC_MERGE_PATCH} (server-side apply is not served)"
        )  # fmt: skip
    try:
        patch = json.loads(body or b"null")
    except ValueError as exc:
        raise KubeError.bad_request(f"error decoding patch: {exc}") from exc
    if media == JSON_PATCH:
        return json_patch(current, patch)
    if not isinstance(patch, dict):
        raise KubeError.bad_request("a merge patch must be a JSON object")
    if media == MERGE_PATCH:
        return merge_patch(current, patch)
    return strategic_merge(current, patch, lists)
