"""The OpenAPI document says what the app answers: our 422 shape, the errors each kind of
path gives, and the bodies the tracker and the webhooks read by hand (so they are fuzzed)."""

from __future__ import annotations

from typing import Any

from httpx import AsyncClient


async def _doc(anonymous: AsyncClient) -> dict[str, Any]:
    response = await anonymous.get("/openapi.json")
    assert response.status_code == 200
    doc: dict[str, Any] = response.json()
    return doc


async def test_422_has_the_shape_the_error_handler_answers(anonymous: AsyncClient) -> None:
    doc = await _doc(anonymous)
    schemas = doc["components"]["schemas"]

    assert "HTTPValidationError" not in schemas
    assert schemas["ValidationErrorOut"]["properties"]["detail"]["type"] == "string"
    assert schemas["ErrorOut"]["required"] == ["detail"]
    for operations in doc["paths"].values():
        for operation in operations.values():
            if "422" in operation["responses"]:
                content = operation["responses"]["422"]["content"]["application/json"]
                assert content["schema"] == {"$ref": "#/components/schemas/ValidationErrorOut"}


async def test_each_kind_of_path_documents_its_errors(anonymous: AsyncClient) -> None:
    paths = (await _doc(anonymous))["paths"]

    def codes(path: str, method: str) -> set[str]:
        return {c for c in paths[path][method]["responses"] if c.startswith(("4", "5"))}

    assert codes("/api/v1/sites", "post") == {"400", "401", "409", "422"}
    assert codes("/api/v1/sites/{site_id}", "get") == {"401", "404", "422"}
    assert {"413", "415"} <= codes("/api/v1/sites/{site_id}/costs", "post")
    assert codes("/t/{public_key}/sessions", "post") == {"400", "403", "404", "413", "422", "429"}
    assert {"401", "404", "410", "413", "422", "503"} <= codes(
        "/hooks/pbx/{integration_id}", "post"
    )
    assert codes("/healthz", "get") == {"503"}


async def test_bodies_read_by_hand_are_declared(anonymous: AsyncClient) -> None:
    paths = (await _doc(anonymous))["paths"]

    session = paths["/t/{public_key}/sessions"]["post"]["requestBody"]["content"]
    assert set(session) == {"application/json", "text/plain"}
    assert "url" in session["application/json"]["schema"]["properties"]
    hook = paths["/hooks/pbx/{integration_id}"]["post"]["requestBody"]["content"]
    assert hook["application/json"]["schema"]["required"] == [
        "event", "call_id", "called", "timestamp"
    ]  # fmt: skip
    assert "requestBody" in paths["/t/{public_key}/sessions/{session_id}/ping"]["post"]
    assert "requestBody" in paths["/hooks/crm/{connector_id}"]["post"]
