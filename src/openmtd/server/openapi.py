"""For routes that read their body themselves: validation in the usual envelope, and OpenAPI.

FastAPI documents a body only when it parses it. A route that validates raw bytes itself
(see agent_api.views.check_in) points its requestBody at `schema_ref(Model)`, and
`document_models(app)` adds those models to the document's components.
"""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)
_REF = "#/components/schemas/{model}"
_self_parsed: list[type[BaseModel]] = []


def schema_ref(model: type[BaseModel]) -> dict[str, str]:
    if model not in _self_parsed:
        _self_parsed.append(model)
    return {"$ref": _REF.format(model=model.__name__)}


def parse_body(model: type[M], body: bytes) -> M:
    """Validate a JSON body; errors are reported like FastAPI's own (a 422 envelope)."""
    try:
        return model.model_validate_json(body)
    except ValidationError as e:
        errors = [{**err, "loc": ("body", *err["loc"])} for err in e.errors(include_url=False)]
        raise RequestValidationError(errors) from None


def document_models(app: FastAPI) -> None:
    """Make app.openapi() include the schemas of the self-parsed bodies."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        spec = generate()
        schemas = spec.setdefault("components", {}).setdefault("schemas", {})
        for model in _self_parsed:
            schema = model.model_json_schema(ref_template=_REF)
            for name, definition in schema.pop("$defs", {}).items():
                schemas.setdefault(name, definition)
            schemas[model.__name__] = schema
        app.openapi_schema = spec
        return spec

    app.openapi = openapi  # type: ignore[method-assign]
