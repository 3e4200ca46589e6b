"""The OpenAPI document, generated from the routes' pydantic schemas.

Each API route is declared once with `ApiRoutes.route`, which registers the
Flask view and records its request/response models; the document is assembled
from those records, so it cannot drift from the code.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint
from pydantic import BaseModel

from trials.json_types import JSONObject


class ErrorItem(BaseModel):
    field: str
    message: str


class ErrorBody(BaseModel):
    error: str
    errors: list[ErrorItem] | None = None


@dataclass
class _Operation:
    path: str
    method: str
    summary: str
    body: type[BaseModel] | None
    response: type[BaseModel] | None
    status: int
    produces: str


BEARER = "bearerAuth"


@dataclass
class ApiRoutes:
    blueprint: Blueprint
    prefix: str
    operations: list[_Operation] = field(default_factory=list)

    def route(
        self,
        path: str,
        method: str,
        summary: str,
        *,
        body: type[BaseModel] | None = None,
        response: type[BaseModel] | None = None,
        status: int = 200,
        produces: str = "application/json",
        endpoint: str | None = None,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def register(view: Callable[..., Any]) -> Callable[..., Any]:
            self.blueprint.add_url_rule(path, endpoint=endpoint or view.__name__, view_func=view, methods=[method])
            self.operations.append(_Operation(path, method.lower(), summary, body, response, status, produces))
            return view

        return register

    def document(self, title: str, version: str) -> JSONObject:
        schemas: JSONObject = {}

        def ref(model: type[BaseModel]) -> dict[str, str]:
            schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(schema.pop("$defs", {}))
            schemas[model.__name__] = schema
            return {"$ref": f"#/components/schemas/{model.__name__}"}

        paths: dict[str, JSONObject] = {}
        error: JSONObject = {"description": "error", "content": {"application/json": {"schema": ref(ErrorBody)}}}
        for op in self.operations:
            openapi_path = self.prefix + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", op.path)
            params: list[JSONObject] = [
                {
                    "name": name,
                    "in": "path",
                    "required": True,
                    "schema": {"type": "integer" if kind == "int" else "string"},
                }
                for kind, name in re.findall(r"<(?:(\w+):)?(\w+)>", op.path)
            ]
            content: JSONObject = {op.produces: {"schema": ref(op.response) if op.response else {}}}
            entry: JSONObject = {
                "summary": op.summary,
                "parameters": params,
                "responses": {
                    str(op.status): {"description": "ok", "content": content},
                    "400": error,
                    "404": error,
                    "409": error,
                },
            }
            if op.method == "get":
                entry["security"] = [{BEARER: []}, {}]  # anonymous reads when the operator allows them (public_read)
            if op.body is not None:
                entry["requestBody"] = {"required": True, "content": {"application/json": {"schema": ref(op.body)}}}
            paths.setdefault(openapi_path, {})[op.method] = entry
        return {
            "openapi": "3.1.0",
            "info": {"title": title, "version": version},
            "paths": paths,
            "components": {
                "schemas": schemas,
                "securitySchemes": {
                    BEARER: {"type": "http", "scheme": "bearer", "description": "a member's token (sweeprank user add)"}
                },
            },
            "security": [{BEARER: []}],
        }
