"""Resource groups (Microsoft.Resources) in the fake ARM: just enough to create, read and list them.

Where this sits: ``api`` routes ``/subscriptions/{sub}/resourceGroups/{name}`` here. Every network resource lives
in a group, and ARM answers ``ResourceGroupNotFound`` for anything under a group that does not exist.
"""

from __future__ import annotations

from cloudlb_azure.fake.common import Json
from cloudlb_azure.fake.errors import ArmError, bad_request
from cloudlb_azure.fake.ids import check_group_name
from cloudlb_azure.fake.lro import Reply
from cloudlb_azure.fake.request import Request, json_body, location_name
from cloudlb_azure.fake.state import ArmState, ResourceGroup
from cloudlb_azure.fake.validation import tags

__all__ = ["resource_group"]


def _render(state: ArmState, group: ResourceGroup) -> Json:
    return {
        "id": f"/subscriptions/{state.subscription_id}/resourceGroups/{group.name}",
        "name": group.name,
        "type": "Microsoft.Resources/resourceGroups",
        "location": group.location,
        "tags": dict(group.tags),
        "properties": {"provisioningState": "Succeeded"},
    }


def resource_group(state: ArmState, req: Request, name: str) -> Reply:
    group = state.group(name)
    if req.method == "GET":
        if group is None:
            raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{name}' could not be found.")
        return 200, _render(state, group), {}
    if req.method != "PUT":
        raise ArmError(405, "MethodNotAllowed", f"The fake ARM does not {req.method} resource groups.")
    check_group_name(name)
    body = json_body(req)
    location = body.get("location") or (group.location if group else None)
    if not isinstance(location, str):
        raise bad_request("LocationRequired", "The location property is required for this definition.")
    created = group is None
    group = state.create_group(name, location_name(location), tags(body.get("tags")))
    return 201 if created else 200, _render(state, group), {}
