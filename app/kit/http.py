"""Reading request bodies with a size cap, for the endpoints that take outsiders' posts."""

from __future__ import annotations

from fastapi import Request

from app.exceptions import PayloadTooLarge


async def read_body(request: Request, *, limit: int) -> bytes:
    """The body, or PayloadTooLarge (413) as soon as it passes `limit` bytes: a declared
    Content-Length is refused before anything is read, a streamed one while it arrives."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"body is larger than {limit} bytes")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(f"body is larger than {limit} bytes")
    return body
