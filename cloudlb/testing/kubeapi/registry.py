"""What each verb means: the real API server's create, get, list, update, patch and delete semantics.

Where this sits: between ``server.py`` (HTTP in, JSON out) and ``store.py`` (objects and revisions). Each method
takes a ``ResourceType`` and objects in that type's wire form, does its read-check-write under the store's lock
(so two clients racing on one Lease get exactly one winner), and raises ``KubeError`` as the real server would:
404, 409 AlreadyExists, 409 Conflict on a stale resourceVersion, 422 Invalid, 410 Expired.

The rules that controllers lean on, and that are easy to get wrong in a fake, are here:
- an update or patch that changes nothing writes nothing: no new resourceVersion, no watch event;
- with a status subresource, the main resource ignores ``status`` and ``/status`` changes only ``status``;
- DELETE of an object with finalizers only sets ``deletionTimestamp``; the update that empties the finalizers
  removes it; no finalizer may be added once deletion started.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import secrets
import uuid
from datetime import UTC, datetime
from typing import Any

from cloudlb.testing.kubeapi.errors import KubeError
from cloudlb.testing.kubeapi.patch import apply_patch
from cloudlb.testing.kubeapi.resources import MERGE_LISTS, ResourceType, canonical
from cloudlb.testing.kubeapi.selectors import field_selector, label_selector
from cloudlb.testing.kubeapi.services import ServiceAllocator
from cloudlb.testing.kubeapi.store import Key, Store

__all__ = ["Registry", "now"]

_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_LABEL_1035 = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_GENERATED = "bcdfghjklmnpqrstvwxz2456789"  # the real name generator's alphabet: no vowels, no look-alikes
_SYSTEM_META = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation")


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _meta(obj: Any) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise KubeError.bad_request("the body of the request must be a JSON object")
    meta = obj.setdefault("metadata", {})
    if not isinstance(meta, dict):
        raise KubeError.bad_request("metadata must be an object")
    return meta


class Registry:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.services = ServiceAllocator()

    # -- reads

    def get(self, rt: ResourceType, namespace: str | None, name: str) -> dict[str, Any]:
        with self.store.lock:
            return rt.wire(self._existing(rt, namespace, name))

    def list(
        self,
        rt: ResourceType,
        namespace: str | None,
        query: dict[str, str],
    ) -> dict[str, Any]:
        labels = label_selector(query.get("labelSelector"))
        fields = field_selector(query.get("fieldSelector"), rt.field_labels)
        limit = int(query["limit"]) if query.get("limit", "").isdigit() else 0
        after: Key | None = None
        with self.store.lock:
            if query.get("continue"):
                rv, after = _decode_continue(query["continue"])
                try:
                    state = self.store.state_at(rt.storage, rv)
                except KubeError as exc:
                    if exc.code != 410:
                        raise
                    raise KubeError.expired(
                        "The provided continue parameter is too old to display a consistent list result. "
                        "You can start a new list without the continue parameter."
                    ) from exc
            elif query.get("resourceVersionMatch") == "Exact":
                rv = _revision(query.get("resourceVersion"))
                state = self.store.state_at(rt.storage, rv)
            else:
                asked = query.get("resourceVersion")
                if asked and asked != "0" and _revision(asked) > self.store.revision:
                    raise KubeError(
                        504, "Timeout", f"Too large resource version: {asked}, current: {self.store.revision}"
                    )
                rv, state = self.store.revision, self.store.current(rt.storage)
            keys = sorted(k for k in state if (after is None or k > after) and (namespace is None or k[0] == namespace))
            chosen = [(k, state[k]) for k in keys if labels(state[k]) and fields(state[k])]
        meta: dict[str, Any] = {"resourceVersion": str(rv)}
        if limit and len(chosen) > limit:
            meta["continue"] = _encode_continue(rv, chosen[limit - 1][0])
            meta["remainingItemCount"] = len(chosen) - limit
            chosen = chosen[:limit]
        items = [{k: v for k, v in rt.wire(obj).items() if k not in ("kind", "apiVersion")} for _, obj in chosen]
        return {"kind": f"{rt.kind}List", "apiVersion": rt.api_version, "metadata": meta, "items": items}

    # -- writes

    def create(self, rt: ResourceType, namespace: str | None, body: Any) -> dict[str, Any]:
        _check_type(rt, body)
        obj = rt.stored(copy.deepcopy(body))
        meta = _meta(obj)
        if rt.namespaced:
            if meta.get("namespace") not in (None, "", namespace):
                raise KubeError.bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        if meta.get("resourceVersion"):
            raise KubeError(500, "InternalError", "resourceVersion should not be set on objects to be created")
        with self.store.lock:
            if not meta.get("name") and meta.get("generateName"):
                meta["name"] = self._generate_name(rt, namespace, meta["generateName"])
            self._validate(rt, obj)
            if self.store.get(rt.storage, self._key(rt, namespace, meta["name"])) is not None:
                raise KubeError.already_exists(rt.plural, meta["name"], rt.group)
            for field in ("deletionTimestamp", "deletionGracePeriodSeconds"):
                meta.pop(field, None)
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = now()
            if rt.status_subresource and not rt.keeps_status_on_create:
                obj.pop("status", None)
            if rt.storage == "services":
                self.services.prepare(obj, None)
            stored = self.store.put(rt.storage, self._normalised(rt, obj))
            if rt.storage == "services":
                self.services.commit(None, stored)
            return rt.wire(stored)

    def update(
        self, rt: ResourceType, namespace: str | None, name: str, body: Any, *, subresource: str | None = None
    ) -> dict[str, Any]:
        _check_type(rt, body)
        with self.store.lock:
            old = self._existing(rt, namespace, name)
            return rt.wire(self._replace(rt, old, rt.stored(copy.deepcopy(body)), subresource))

    def patch(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        content_type: str,
        body: bytes,
        *,
        subresource: str | None = None,
    ) -> dict[str, Any]:
        with self.store.lock:
            old = self._existing(rt, namespace, name)
            patched = apply_patch(content_type, rt.wire(copy.deepcopy(old)), body, MERGE_LISTS.get(rt.storage, {}))
            return rt.wire(self._replace(rt, old, rt.stored(patched), subresource))

    def delete(self, rt: ResourceType, namespace: str | None, name: str, options: Any) -> dict[str, Any]:
        with self.store.lock:
            old = self._existing(rt, namespace, name)
            meta = old["metadata"]
            preconditions = (options.get("preconditions") if isinstance(options, dict) else None) or {}
            for field, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
                wanted = preconditions.get(field)
                if wanted and wanted != meta.get(field):
                    why = (
                        f"Precondition failed: {label} in precondition: {wanted}, "
                        f"{label} in object meta: {meta.get(field)}"
                    )
                    raise KubeError.conflict(rt.plural, name, why, rt.group)
            if meta.get("finalizers"):
                if meta.get("deletionTimestamp"):
                    return rt.wire(old)
                deleting = {**old, "metadata": {**meta, "deletionTimestamp": now(), "deletionGracePeriodSeconds": 0}}
                return rt.wire(self.store.put(rt.storage, deleting))
            gone = self._remove(rt, old, old)
            if rt.returns_deleted_object:
                return rt.wire(gone)
            details = {"name": name, "group": rt.group, "kind": rt.plural, "uid": meta["uid"]}
            return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}

    def delete_collection(self, rt: ResourceType, namespace: str | None, query: dict[str, str]) -> dict[str, Any]:
        with self.store.lock:
            listed = self.list(
                rt, namespace, {k: v for k, v in query.items() if k in ("labelSelector", "fieldSelector")}
            )
            items = []
            for item in listed["items"]:
                meta = item["metadata"]
                self.delete(rt, meta.get("namespace"), meta["name"], None)
                items.append(item)
        return {**listed, "items": items}

    # -- helpers

    def _key(self, rt: ResourceType, namespace: str | None, name: str) -> Key:
        return (namespace or "", name) if rt.namespaced else ("", name)

    def _existing(self, rt: ResourceType, namespace: str | None, name: str) -> dict[str, Any]:
        obj = self.store.get(rt.storage, self._key(rt, namespace, name))
        if obj is None:
            raise KubeError.not_found(rt.plural, name, rt.group)
        return obj

    def _generate_name(self, rt: ResourceType, namespace: str | None, prefix: str) -> str:
        while True:
            name = prefix + "".join(secrets.choice(_GENERATED) for _ in range(5))
            if self.store.get(rt.storage, self._key(rt, namespace, name)) is None:
                return name

    @staticmethod
    def _normalised(rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        """``obj`` (stored form) stamped with the storage's kind, and with empty metadata collections dropped.

        Go's ``omitempty`` never stores ``labels: {}`` or ``finalizers: []``; dropping them here keeps a client's
        read-modify-write of an unchanged object a no-op.
        """
        form = canonical(rt.storage)
        meta = {k: v for k, v in obj["metadata"].items() if v not in ({}, [], None)}
        rest = {k: v for k, v in obj.items() if k not in ("kind", "apiVersion", "metadata")}
        return {"kind": form.kind, "apiVersion": form.api_version, "metadata": meta, **rest}

    @staticmethod
    def _validate(rt: ResourceType, obj: dict[str, Any]) -> None:
        meta, causes = obj["metadata"], []
        name = meta.get("name") or ""
        pattern, limit = (_LABEL_1035, 63) if rt.storage == "services" else (_SUBDOMAIN, 253)
        if not name:
            causes.append("metadata.name: Required value: name or generateName is required")
        elif len(name) > limit or not pattern.fullmatch(name):
            causes.append(
                f'metadata.name: Invalid value: "{name}": must be a valid DNS name of at most {limit} characters'
            )
        for field in ("labels", "annotations"):
            values = meta.get(field) or {}
            if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
                causes.append(f"metadata.{field}: Invalid value: values must be strings")
        finalizers = meta.get("finalizers") or []
        if not isinstance(finalizers, list) or not all(isinstance(f, str) for f in finalizers):
            causes.append("metadata.finalizers: Invalid value: must be a list of strings")
        if rt.storage == "endpointslices" and obj.get("addressType") not in ("IPv4", "IPv6", "FQDN"):
            given = obj.get("addressType")
            causes.append(f'addressType: Unsupported value: "{given}": supported values: "FQDN", "IPv4", "IPv6"')
        if causes:
            raise KubeError.invalid(rt.kind, name, causes, rt.group)

    def _replace(
        self, rt: ResourceType, old: dict[str, Any], new: dict[str, Any], subresource: str | None
    ) -> dict[str, Any]:
        old_meta, meta = old["metadata"], _meta(new)
        name = old_meta["name"]
        if meta.get("name") != name:
            raise KubeError.bad_request(
                f"the name of the object ({meta.get('name')}) does not match the name on the URL ({name})"
            )
        if rt.namespaced and meta.get("namespace") not in (None, "", old_meta.get("namespace")):
            raise KubeError.bad_request(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        if meta.get("resourceVersion") and meta["resourceVersion"] != old_meta["resourceVersion"]:
            raise KubeError.stale(rt.plural, name, rt.group)
        if meta.get("uid") and meta["uid"] != old_meta["uid"]:
            why = f"Precondition failed: UID in precondition: {meta['uid']}, UID in object meta: {old_meta['uid']}"
            raise KubeError.conflict(rt.plural, name, why, rt.group)
        if subresource == "status":
            # The status subresource writes status and nothing else; the main resource never writes status.
            new = {
                **{k: v for k, v in old.items() if k != "status"},
                **({"status": new["status"]} if "status" in new else {}),
            }
            meta = new["metadata"] = dict(old_meta)
        elif rt.status_subresource:
            new.pop("status", None)
            if "status" in old:
                new["status"] = old["status"]
        for field in _SYSTEM_META:
            meta.pop(field, None)
            if field in old_meta:
                meta[field] = old_meta[field]
        if rt.namespaced:
            meta["namespace"] = old_meta["namespace"]
        meta["resourceVersion"] = old_meta["resourceVersion"]
        self._validate(rt, new)
        if old_meta.get("deletionTimestamp"):
            added = [f for f in meta.get("finalizers") or [] if f not in (old_meta.get("finalizers") or [])]
            if added:
                why = (
                    "metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, "
                    f"found new finalizers {added}"
                )
                raise KubeError.invalid(rt.kind, name, [why], rt.group)
        if rt.storage == "services" and subresource != "status":
            self.services.prepare(new, old)
        new = self._normalised(rt, new)
        if new == old:
            return old  # a no-op writes nothing, as etcd's GuaranteedUpdate skips an unchanged object
        if old_meta.get("deletionTimestamp") and not new["metadata"].get("finalizers"):
            return self._remove(rt, old, new)
        stored = self.store.put(rt.storage, new)
        if rt.storage == "services":
            self.services.commit(old, stored)
        return stored

    def _remove(self, rt: ResourceType, old: dict[str, Any], last: dict[str, Any]) -> dict[str, Any]:
        gone = self.store.remove(rt.storage, last)
        if rt.storage == "services":
            self.services.commit(old, None)
        return gone


def _check_type(rt: ResourceType, body: Any) -> None:
    if not isinstance(body, dict):
        raise KubeError.bad_request("the body of the request must be a JSON object")
    if body.get("kind") not in (None, "", rt.kind):
        raise KubeError.bad_request(
            f"the kind in the data ({body['kind']}) does not match the expected kind ({rt.kind})"
        )
    if body.get("apiVersion") not in (None, "", rt.api_version):
        raise KubeError.bad_request(
            f"the API version in the data ({body['apiVersion']}) does not match "
            f"the expected API version ({rt.api_version})"
        )


def _revision(text: str | None) -> int:
    if not text or not text.isdigit():
        raise KubeError.bad_request(f"invalid resource version: {text!r}")
    return int(text)


def _encode_continue(rv: int, after: Key) -> str:
    return base64.urlsafe_b64encode(json.dumps({"rv": rv, "after": list(after)}).encode()).decode()


def _decode_continue(token: str) -> tuple[int, Key]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        return int(data["rv"]), (str(data["after"][0]), str(data["after"][1]))
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise KubeError.bad_request(f"continue key is not valid: {exc}") from exc
