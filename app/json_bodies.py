"""The admin API takes JSON only, so a form content type there means "JSON sent by curl -d".

`curl -d '{...}'` labels its body application/x-www-form-urlencoded unless told otherwise; the
README's examples (and people) leave the header out. No /api/ endpoint takes a form, so reading
such a body as JSON loses nothing, and a body that is not JSON still gets a clear 422.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

FORM = b"application/x-www-form-urlencoded"


class FormLabelledJson:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/api/"):
            headers = [
                (name, b"application/json")
                if name == b"content-type" and value.split(b";")[0].strip().lower() == FORM
                else (name, value)
                for name, value in scope["headers"]
            ]
            scope = {**scope, "headers": headers}
        await self.app(scope, receive, send)
