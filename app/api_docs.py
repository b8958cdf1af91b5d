"""The OpenAPI document's error answers: which 4xx/5xx each operation gives, and their shape.

FastAPI documents only a 422 of its own shape (`detail` as a list); ours (app/errors.py) is
`{"detail": "field: message", "errors": [{"field", "message", "type"}]}` and every other
error is `{"detail": "..."}`. The rules below say, by kind of path, which errors happen, in
one place rather than on each of the ~50 routes; a route documents its own extras (the cost
upload's 413 and 415) with `responses=` as usual.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from swagger_ui_bundle import swagger_ui_path

_REF = "#/components/schemas/{model}"


class ErrorOut(BaseModel):
    detail: str = Field(examples=["no site 7b0e..."])


class FieldErrorOut(BaseModel):
    field: str
    message: str
    type: str


class ValidationErrorOut(BaseModel):
    """A 422: `detail` names the field(s); `errors` lists them when the request's shape was
    wrong (a field that failed a domain check, a phone number say, has `detail` only)."""

    detail: str = Field(examples=["timezone: unknown time zone 'Mars/Olympus'"])
    errors: list[FieldErrorOut] | None = None


_MEANING = {
    400: "Bad Request: the body cannot be read (not JSON, not a form, not UTF-8)",
    401: "Unauthorized: a missing or wrong token or signature",
    403: "Forbidden: an origin that is not one of the site's domains",
    404: "Not Found: an unknown id or key",
    409: "Conflict: a number or name already in use elsewhere, or a retired parent",
    410: "Gone: the integration or connector is retired",
    413: "Content Too Large: the body is over the limit the detail names",
    415: "Unsupported Media Type",
    422: "Unprocessable Content: a field is wrong; the detail names it",
    429: "Too Many Requests: see Retry-After",
    502: "Bad Gateway: the outside platform refused; the detail says what it answered",
    503: "Service Unavailable: the database or the pool store is down; see Retry-After",
}


def _codes(path: str, operation: dict[str, Any]) -> set[int]:
    has_body = "requestBody" in operation
    has_input = has_body or bool(operation.get("parameters"))
    codes = {422} if has_input else set()
    if path.startswith("/api/"):
        codes |= {401} | ({404} if "{" in path else set()) | ({400, 409} if has_body else set())
    elif path.startswith("/t/"):
        codes |= {400, 403, 404, 413, 429}
    elif path.startswith("/hooks/"):
        codes |= {400, 401, 404, 410, 413, 503}
    elif path == "/healthz":
        codes |= {503}
    return codes


def _response(code: int) -> dict[str, Any]:
    model = ValidationErrorOut if code == 422 else ErrorOut
    return {
        "description": _MEANING[code],
        "content": {"application/json": {"schema": {"$ref": _REF.format(model=model.__name__)}}},
    }


def document_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` with each operation's error answers, FastAPI's 422 replaced by ours."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in (ErrorOut, ValidationErrorOut):
        definition = model.model_json_schema(ref_template=_REF)
        components.update(definition.pop("$defs", {}))
        components[model.__name__] = definition
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            declared = {int(code) for code in responses if code.isdigit() and int(code) >= 400}
            for code in sorted(_codes(path, operation) | declared):
                # FastAPI's own 422 is not what we answer; a route's bare extra gets our shape.
                given = responses.get(str(code), {})
                if code == 422 or "content" not in given:
                    responses[str(code)] = _response(code) | (
                        {"description": given["description"]} if given.get("description") else {}
                    )
    return schema


def install_error_docs(app: FastAPI) -> None:
    """Serve `/openapi.json` (and /docs) with the error answers documented."""
    build = app.openapi
    documented: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        if not documented:
            documented.append(document_errors(build()))
        return documented[0]

    app.openapi = openapi  # type: ignore[method-assign]


# Swagger UI (5.x: it reads OpenAPI 3.1, which 4.x does not) from the installed swagger-ui-bundle-v2
# package: /docs works on a closed network, and
# the page loads nothing from a CDN a self-hosted install may not reach (or may not trust).
DOCS_ASSETS = "/docs/assets"


def install_docs_ui(app: FastAPI, *, favicon_url: str) -> None:
    """`/docs` (Swagger UI) with its script and styles served from the installation."""
    app.mount(DOCS_ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} API",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=favicon_url,
            oauth2_redirect_url="/docs/oauth2-redirect",
        )

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    async def oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()
