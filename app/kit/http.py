"""Reading request bodies with a size cap, for the endpoints that take outsiders' posts."""

from __future__ import annotations

from fastapi import Request

from app.exceptions import PayloadTooLarge


async def read_body(request: Request, *, limit: int, too_large: str | None = None) -> bytes:
    """The body, or PayloadTooLarge (413, `too_large` or the limit in bytes as its detail) as
    soon as it passes `limit` bytes: a declared Content-Length is refused before anything is
    read, a streamed one while it arrives."""
    detail = too_large or f"body is larger than {limit} bytes"
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(detail)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(detail)
    return bytes(body)
