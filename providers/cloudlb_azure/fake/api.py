"""The fake ARM's request handling, independent of HTTP: authentication, api-version, routing, preconditions
(ETags), and the generic GET/PUT/PATCH/DELETE of resources and their child resources.

Where this sits: ``server`` parses each HTTP request into a ``Request`` and sends back the ``Reply``; the per-type
modules (through ``kinds``) validate and render. A child write (a subnet, a security rule, a backend pool) is a
write of its parent: the child is merged into the parent's document, the parent is validated whole and gets a new
ETag, as in Azure, where a child's ETag is its parent's.
"""

from __future__ import annotations

import json

from cloudlb_azure.fake import lro
from cloudlb_azure.fake.common import Json
from cloudlb_azure.fake.errors import ArmError, bad_request, not_found
from cloudlb_azure.fake.groups import resource_group
from cloudlb_azure.fake.ids import (
    NAMESPACE,
    ResourceRef,
    canonical_child,
    canonical_kind,
    check_name,
)
from cloudlb_azure.fake.kinds import KIND_TABLE, render
from cloudlb_azure.fake.request import (
    Request,
    api_version,
    authenticate,
    json_body,
    location_name,
    precondition_failed,
    preconditions,
)
from cloudlb_azure.fake.state import ArmState, Operation, StoredResource
from cloudlb_azure.fake.validation import lookup, mapping, string_list, tags

__all__ = ["ArmApi", "Request"]

Reply = lro.Reply


class ArmApi:
    """One fake ARM endpoint for one subscription."""

    def __init__(self, state: ArmState, *, poll_interval: float, token: str | None = None) -> None:
        self.state = state
        self.poll_interval = poll_interval
        self.token = token

    def handle(self, req: Request) -> Reply:
        try:
            authenticate(req, self.token)
            version = api_version(req)
            with self.state.lock:
                return self._route(req, version)
        except ArmError as exc:
            headers = {}
            if exc.status == 401:
                headers["WWW-Authenticate"] = (
                    'Bearer authorization_uri="https://login.microsoftonline.com/common", error="invalid_token", '
                    "error_description=\"The authentication failed because of missing 'Authorization' header.\""
                )
            return exc.status, exc.body(), headers

    def create(self, kind: str, group: str, name: str, body: Json) -> Json:
        """Create or replace a resource as a PUT would, without HTTP, authentication or a wait: it is Succeeded
        at once. For seeding a fake and for tests that plant resources; an invalid body raises ``ArmError``."""
        canonical = canonical_kind(kind)
        if canonical is None:
            raise ValueError(f"the fake ARM serves no resource type {kind!r}")
        path = ResourceRef(self.state.subscription_id, group, canonical, name).id
        req = Request("PUT", path, {"api-version": "2024-05-01"}, lambda _name: None, json.dumps(body).encode(), "")
        with self.state.lock:
            self._route(req, "2024-05-01")
            res = self.state.find(ResourceRef(self.state.subscription_id, group, canonical, name))
            assert res is not None
            res.ready_at = self.state.clock()
            return render(self.state, res)

    # --- routing ----------------------------------------------------------------------------------------------

    def _route(self, req: Request, version: str) -> Reply:
        parts = req.path.strip("/").split("/")
        low = [p.lower() for p in parts]
        if len(parts) < 2 or low[0] != "subscriptions":
            raise ArmError(404, "NotFound", f"No route for {req.method} {req.path}.")
        if low[1] != self.state.subscription_id.lower():
            raise ArmError(404, "SubscriptionNotFound", f"The subscription '{parts[1]}' could not be found.")
        rest, low_rest = parts[2:], low[2:]
        if low_rest[:2] == ["providers", NAMESPACE.lower()]:
            return self._subscription_scope(req, rest[2:], low_rest[2:], version)
        if low_rest[:1] == ["resourcegroups"] and len(rest) == 2:
            return resource_group(self.state, req, rest[1])
        if low_rest[:1] == ["resourcegroups"] and len(rest) >= 5 and low_rest[2:4] == ["providers", NAMESPACE.lower()]:
            return self._group_scope(req, rest[1], rest[4:])
        if low_rest[:1] == ["resourcegroups"] and len(rest) >= 4 and low_rest[2] == "providers":
            raise ArmError(404, "NoRegisteredProviderFound", f"The fake ARM serves only {NAMESPACE}, not {rest[3]}.")
        raise ArmError(404, "NotFound", f"No route for {req.method} {req.path}.")

    def _subscription_scope(self, req: Request, rest: list[str], low: list[str], version: str) -> Reply:
        if (
            len(rest) == 4
            and low[0] == "locations"
            and low[2] in ("operations", "operationresults")
            and req.method == "GET"
        ):
            if low[2] == "operations":
                return lro.operation_status(self.state, rest[3], self.poll_interval)
            own = f"{req.base_url}{req.path}?api-version={version}"
            return lro.operation_result(self.state, rest[3], self.poll_interval, own)
        kind = canonical_kind(rest[0]) if len(rest) == 1 else None
        if kind is None or req.method != "GET":
            raise ArmError(404, "NotFound", f"No route for {req.method} {req.path}.")
        return 200, {"value": [render(self.state, res) for res in self.state.all(kind)]}, {}

    def _group_scope(self, req: Request, group_name: str, rest: list[str]) -> Reply:
        kind = canonical_kind(rest[0])
        if kind is None:
            raise ArmError(
                404,
                "InvalidResourceType",
                f"The resource type '{rest[0]}' could not be found in the namespace '{NAMESPACE}'.",
            )
        group = self.state.group(group_name)
        if group is None:
            raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{group_name}' could not be found.")
        if len(rest) == 1:
            if req.method != "GET":
                raise ArmError(405, "MethodNotAllowed", f"{req.method} is not supported on a collection.")
            return 200, {"value": [render(self.state, res) for res in self.state.all(kind, group.name)]}, {}
        existing = self.state.find(ResourceRef(self.state.subscription_id, group.name, kind, rest[1]))
        ref = existing.ref if existing else ResourceRef(self.state.subscription_id, group.name, kind, rest[1])
        if len(rest) == 2:
            return self._resource(req, ref, existing)
        child = canonical_child(kind, rest[2])
        if child is None or len(rest) > 4:
            raise ArmError(404, "InvalidResourceType", f"The resource type '{kind}/{rest[2]}' could not be found.")
        if existing is None:
            raise ArmError(
                404,
                "ParentResourceNotFound",
                f"Can not perform requested operation on nested resource. Parent resource '{rest[1]}' not found.",
            )
        if len(rest) == 3:
            if req.method != "GET":
                raise ArmError(405, "MethodNotAllowed", f"{req.method} is not supported on a collection.")
            return 200, {"value": render(self.state, existing)["properties"].get(child, [])}, {}
        return self._child(req, existing, child, rest[3])

    # --- top-level resources ----------------------------------------------------------------------------------

    def _resource(self, req: Request, ref: ResourceRef, existing: StoredResource | None) -> Reply:
        if req.method == "GET":
            if existing is None:
                raise not_found(ref.arm_type, ref.name, ref.group)
            return 200, render(self.state, existing), {}
        if req.method == "PUT":
            return self._put(req, ref, existing)
        if req.method == "PATCH":
            return self._patch_tags(req, ref, existing)
        if req.method == "DELETE":
            return self._delete(req, ref, existing)
        raise ArmError(405, "MethodNotAllowed", f"{req.method} is not supported on {ref.arm_type}.")

    def _put(self, req: Request, ref: ResourceRef, existing: StoredResource | None) -> Reply:
        check_name(ref.name, ref.arm_type)
        self._refuse_while_deleting(existing)
        preconditions(req, existing.etag if existing else None, ref.id)
        body = json_body(req)
        location = body.get("location")
        if not isinstance(location, str) or not location:
            raise bad_request("LocationRequired", "The location property is required for this definition.")
        location = location_name(location)
        if existing is not None and existing.location != location:
            raise bad_request(
                "InvalidResourceLocation",
                f"The resource '{ref.name}' already exists in location '{existing.location}' in resource group "
                f"'{ref.group}'. A resource with the same name cannot be created in location '{location}'.",
            )
        zones = string_list(body.get("zones"), "zones") or None
        if existing is not None and sorted(existing.zones or []) != sorted(zones or []):
            raise bad_request("ResourceAvailabilityZonesCannotBeModified", f"The zones of {ref.id} cannot be changed.")
        resource_tags = tags(body.get("tags"))
        validated = KIND_TABLE[ref.kind].validate(self.state, ref, location, body, existing)
        return self._store(req, ref, existing, validated.properties, validated.sku, resource_tags, location, zones)

    def _store(
        self,
        req: Request,
        ref: ResourceRef,
        existing: StoredResource | None,
        properties: Json,
        sku: Json | None,
        resource_tags: dict[str, str],
        location: str,
        zones: list[str] | None,
        *,
        reply_child: tuple[str, str] | None = None,
    ) -> Reply:
        op = self.state.start_operation()
        res = StoredResource(
            ref=ref,
            location=location,
            tags=resource_tags,
            sku=sku,
            properties=properties,
            etag=self.state.new_etag(),
            ready_at=op.done_at,
            zones=zones,
        )
        if existing is not None:
            res.resource_guid = existing.resource_guid
        self.state.put(res)
        rendered = render(self.state, res)
        created = existing is None
        if reply_child is not None:
            collection, name = reply_child
            before = lookup(existing.properties.get(collection, []), name) if existing else None
            created = before is None
            found = lookup(rendered["properties"].get(collection, []), name)
            rendered = dict(found) if found else {}
        headers = self._async(req, res, op, delete=False)
        return 201 if created else 200, rendered, headers

    def _patch_tags(self, req: Request, ref: ResourceRef, existing: StoredResource | None) -> Reply:
        """``update_tags``: synchronous in Azure, and it changes the ETag like any write."""
        if existing is None:
            raise not_found(ref.arm_type, ref.name, ref.group)
        self._refuse_while_deleting(existing)
        preconditions(req, existing.etag, ref.id)
        body = json_body(req)
        existing.tags = tags(body.get("tags"))
        existing.etag = self.state.new_etag()
        return 200, render(self.state, existing), {}

    def _delete(self, req: Request, ref: ResourceRef, existing: StoredResource | None) -> Reply:
        if existing is None:
            if req.header("If-Match") is not None:
                raise precondition_failed(ref.id)
            return 204, None, {}
        preconditions(req, existing.etag, ref.id)
        if existing.gone_at is None:
            KIND_TABLE[ref.kind].check_delete(self.state, existing)
        op = self.state.start_operation()
        if existing.gone_at is not None:
            op.done_at = existing.gone_at
        else:
            existing.gone_at = op.done_at
        if op.done_at <= self.state.clock():
            self.state.remove(existing.ref)
        return 202, None, self._async(req, existing, op, delete=True)

    def _refuse_while_deleting(self, existing: StoredResource | None) -> None:
        if existing is not None and existing.gone_at is not None:
            raise ArmError(
                409,
                "AnotherOperationInProgress",
                f"Another operation on this or a dependent resource is in progress: {existing.ref.id} is being "
                "deleted.",
            )

    def _async(self, req: Request, res: StoredResource, op: Operation, *, delete: bool) -> dict[str, str]:
        version = next(v for k, v in req.query.items() if k.lower() == "api-version")
        return lro.async_headers(
            self.state,
            op,
            base_url=req.base_url,
            location=res.location,
            api_version=version,
            interval=self.poll_interval,
            delete=delete,
        )

    # --- child resources --------------------------------------------------------------------------------------

    def _child(self, req: Request, parent: StoredResource, collection: str, name: str) -> Reply:
        kind = KIND_TABLE[parent.ref.kind]
        current = lookup(parent.properties.get(collection, []), name)
        if req.method == "GET":
            found = lookup(render(self.state, parent)["properties"].get(collection, []), name)
            if found is None:
                raise not_found(
                    parent.ref.child(collection, name).arm_type, f"{parent.ref.name}/{name}", parent.ref.group
                )
            return 200, dict(found), {}
        if req.method not in ("PUT", "DELETE") or collection not in kind.writable_children:
            raise ArmError(
                405, "MethodNotAllowed", f"{req.method} is not supported on {collection} of {parent.ref.kind}."
            )
        self._refuse_while_deleting(parent)
        child_ref = parent.ref.child(collection, str(current["name"]) if current else name)
        if req.method == "DELETE" and current is None:
            return 204, None, {}
        # A child's ETag is its parent's; a child that does not exist has none.
        preconditions(req, parent.etag if current else None, child_ref.id)
        items = [item for item in parent.properties.get(collection, []) if item["name"].lower() != name.lower()]
        if req.method == "PUT":
            check_name(name, child_ref.arm_type)
            body = json_body(req)
            entry: Json = {"name": child_ref.child_name, "properties": mapping(body.get("properties"), "properties")}
            position = next(
                (
                    i
                    for i, item in enumerate(parent.properties.get(collection, []))
                    if item["name"].lower() == name.lower()
                ),
                len(items),
            )
            items.insert(position, entry)
        merged = {"sku": parent.sku, "properties": {**parent.properties, collection: items}}
        validated = kind.validate(self.state, parent.ref, parent.location, merged, parent)
        if req.method == "PUT":
            assert child_ref.child_name is not None
            return self._store(
                req,
                parent.ref,
                parent,
                validated.properties,
                validated.sku,
                parent.tags,
                parent.location,
                parent.zones,
                reply_child=(collection, child_ref.child_name),
            )
        _, _, headers = self._store(
            req, parent.ref, parent, validated.properties, validated.sku, parent.tags, parent.location, parent.zones
        )
        headers["Location"] = headers["Azure-AsyncOperation"].replace("/operations/", "/operationResults/")
        return 202, None, headers
