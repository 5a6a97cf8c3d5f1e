"""An OpenAPI 3 description of the network API, generated from the resource attribute maps
(so it cannot drift from what the controller accepts). Used by schemathesis and API explorers.

Besides the standard formats (``uuid``), attribute schemas use three of neutrino's own, named after
the validators: ``cidr``, ``ip-address`` (IPv4 or IPv6) and ``mac-address``.
"""

from __future__ import annotations

from neutrino.api.definition import Resource

ERROR = {"$ref": "#/components/schemas/NeutronError"}
TAG = {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[^,]*$"}


def _member_schema(resource: Resource, verb: str) -> dict:
    allowed = [a for a in resource.attributes if (a.post if verb == "post" else a.put)]
    properties = {a.name: a.schema or {} for a in allowed}
    required = [a.name for a in allowed if verb == "post" and repr(a.default) == "REQUIRED"]
    member = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        member["required"] = required
    return {"type": "object", "properties": {resource.member: member}, "required": [resource.member],
            "additionalProperties": False}


def _responses(ok: str, description: str = "OK", schema: dict | None = None) -> dict:
    responses = {ok: {"description": description}}
    if schema is not None:
        responses[ok]["content"] = {"application/json": {"schema": schema}}
    for status in ("400", "401", "403", "404", "409", "412", "503"):
        responses[status] = {"description": "NeutronError", "content": {"application/json": {"schema": ERROR}}}
    return responses


def _paths_for(resource: Resource) -> dict:
    collection = resource.path
    member = collection + "/{id}"
    id_param = [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]
    filters = [{"name": a.name, "in": "query", "required": False, "schema": {"type": "string"}}
               for a in resource.attributes if a.filter and not a.admin_only]
    paging = [{"name": n, "in": "query", "required": False, "schema": s} for n, s in (
        ("limit", {"type": "integer"}), ("marker", {"type": "string"}), ("sort_key", {"type": "string"}),
        ("sort_dir", {"type": "string", "enum": ["asc", "desc"]}), ("fields", {"type": "string"}))]
    paths = {
        collection: {
            "get": {"operationId": f"list_{resource.collection}", "parameters": filters + paging,
                    "responses": _responses("200")},
        },
        member: {
            "get": {"operationId": f"show_{resource.member}", "parameters": id_param, "responses": _responses("200")},
        },
    }
    if any(a.post for a in resource.attributes):
        paths[collection]["post"] = {
            "operationId": f"create_{resource.member}",
            "requestBody": {"required": True, "content": {"application/json": {"schema": _member_schema(resource, "post")}}},
            "responses": _responses("201", "Created"),
        }
    if any(a.put for a in resource.attributes):
        paths[member]["put"] = {
            "operationId": f"update_{resource.member}", "parameters": id_param,
            "requestBody": {"required": True, "content": {"application/json": {"schema": _member_schema(resource, "put")}}},
            "responses": _responses("200"),
        }
    paths[member]["delete"] = {"operationId": f"delete_{resource.member}", "parameters": id_param,
                               "responses": _responses("204", "Deleted")}
    if resource.tags:
        tag_param = id_param + [{"name": "tag", "in": "path", "required": True, "schema": TAG}]
        tags_body = {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "properties": {"tags": {"type": "array", "items": TAG}},
            "required": ["tags"], "additionalProperties": False}}}}
        paths[member + "/tags"] = {
            "get": {"operationId": f"list_{resource.member}_tags", "parameters": id_param,
                    "responses": _responses("200")},
            "put": {"operationId": f"replace_{resource.member}_tags", "parameters": id_param,
                    "requestBody": tags_body, "responses": _responses("200")},
            "post": {"operationId": f"set_{resource.member}_tags", "parameters": id_param,
                     "requestBody": tags_body, "responses": _responses("201")},
            "delete": {"operationId": f"clear_{resource.member}_tags", "parameters": id_param,
                       "responses": _responses("204")},
        }
        paths[member + "/tags/{tag}"] = {
            "get": {"operationId": f"check_{resource.member}_tag", "parameters": tag_param,
                    "responses": _responses("204")},
            "put": {"operationId": f"add_{resource.member}_tag", "parameters": tag_param,
                    "responses": _responses("201")},
            "delete": {"operationId": f"remove_{resource.member}_tag", "parameters": tag_param,
                       "responses": _responses("204")},
        }
    return paths


def _quota_paths() -> dict:
    project = [{"name": "project_id", "in": "path", "required": True, "schema": {"type": "string"}}]
    body = {"type": "object", "properties": {"quota": {"type": "object", "additionalProperties": {"type": "integer"}}},
            "required": ["quota"]}
    return {
        "/v2.0/quotas": {"get": {"operationId": "list_quotas", "responses": _responses("200")}},
        "/v2.0/quotas/{project_id}": {
            "get": {"operationId": "show_quota", "parameters": project, "responses": _responses("200")},
            "put": {"operationId": "update_quota", "parameters": project, "responses": _responses("200"),
                    "requestBody": {"required": True, "content": {"application/json": {"schema": body}}}},
            "delete": {"operationId": "reset_quota", "parameters": project, "responses": _responses("204")},
        },
        "/v2.0/quotas/{project_id}/default": {
            "get": {"operationId": "show_quota_default", "parameters": project, "responses": _responses("200")}},
        "/v2.0/quotas/{project_id}/details": {
            "get": {"operationId": "show_quota_details", "parameters": project, "responses": _responses("200")}},
    }


_TRACE = {"type": "object", "required": ["trace"], "additionalProperties": False, "properties": {"trace": {
    "type": "object", "required": ["source", "destination"], "additionalProperties": False, "properties": {
        "source": {"type": "string", "minLength": 1, "maxLength": 255},
        "destination": {"type": "string", "minLength": 1, "maxLength": 255},
        "protocol": {"type": "string", "enum": ["icmp", "tcp", "udp"]},
        "port": {"type": "integer", "minimum": 1, "maximum": 65535, "nullable": True},
        "source_ip": {"type": "string", "nullable": True}}}}}


def _service_paths() -> dict:
    """Version discovery, extensions, the change feed and the trace (admins and services only)."""
    alias = [{"name": "alias", "in": "path", "required": True, "schema": {"type": "string"}}]
    watch = [{"name": "since", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 0}},
             {"name": "timeout", "in": "query", "required": False,
              "schema": {"type": "number", "minimum": 0, "maximum": 60}}]
    return {
        "/": {"get": {"operationId": "list_versions", "responses": _responses("200")}},
        "/v2.0": {"get": {"operationId": "list_resources", "responses": _responses("200")}},
        "/v2.0/extensions": {"get": {"operationId": "list_extensions", "responses": _responses("200")}},
        "/v2.0/extensions/{alias}": {
            "get": {"operationId": "show_extension", "parameters": alias, "responses": _responses("200")}},
        "/neutrino/v1/snapshot": {"get": {"operationId": "feed_snapshot", "responses": _responses("200")}},
        "/neutrino/v1/trace": {"post": {"operationId": "trace", "responses": _responses("200"), "requestBody": {
            "required": True, "content": {"application/json": {"schema": _TRACE}}}}},
        "/neutrino/v1/changes": {"get": {"operationId": "feed_changes", "parameters": watch,
                                         "responses": {**_responses("200"), "410": {
                                             "description": "compacted past since: relist",
                                             "content": {"application/json": {"schema": ERROR}}}}}},
    }


def _router_action_paths(resource: Resource) -> dict:
    """The member actions of routers (api/router_actions.py), with their bodies from the attribute map."""
    router = [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]
    uuid = {"type": "string", "format": "uuid"}
    interface = {"type": "object", "properties": {"subnet_id": uuid, "port_id": uuid},
                 "minProperties": 1, "additionalProperties": False}
    routes = {"type": "object", "required": ["router"], "additionalProperties": False, "properties": {
        "router": {"type": "object", "required": ["routes"], "additionalProperties": False,
                   "properties": {"routes": resource.attribute("routes").schema}}}}

    def action(name: str, body: dict) -> dict:
        return {"put": {"operationId": name, "parameters": router, "responses": _responses("200"),
                        "requestBody": {"required": True, "content": {"application/json": {"schema": body}}}}}

    member = resource.path + "/{id}"
    return {
        member + "/add_router_interface": action("add_router_interface", interface),
        member + "/remove_router_interface": action("remove_router_interface", interface),
        member + "/add_extraroutes": action("add_extraroutes", routes),
        member + "/remove_extraroutes": action("remove_extraroutes", routes),
        member + "/l3-agents": {"get": {"operationId": "list_l3_agents_hosting_router", "parameters": router,
                                        "responses": _responses("200")}},
    }


def openapi_document(resources: list[Resource]) -> dict:
    paths = _service_paths()
    for resource in resources:
        paths.update(_paths_for(resource))
        if resource.collection == "routers":
            paths.update(_router_action_paths(resource))
    paths.update(_quota_paths())
    return {
        "openapi": "3.0.3",
        "info": {"title": "neutrino: the Neutron v2.0 networking API", "version": "2.0"},
        "paths": paths,
        "components": {
            "schemas": {"NeutronError": {"type": "object", "properties": {"NeutronError": {
                "type": "object", "properties": {"type": {"type": "string"}, "message": {"type": "string"},
                                                 "detail": {"type": "string"}},
                "required": ["type", "message", "detail"]}}, "required": ["NeutronError"]}},
            "securitySchemes": {"token": {"type": "apiKey", "in": "header", "name": "X-Auth-Token"}},
        },
        "security": [{"token": []}],
    }
