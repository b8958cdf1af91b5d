"""tracker.js as served: minified from the readable source and gzipped once, at start-up."""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

import rjsmin
from fastapi import Request
from fastapi.responses import Response

from app.bundled import forms_source, tracker_source
from app.exceptions import NotFound

SOURCE = tracker_source()
FORMS_SOURCE = forms_source()
# Sites cache it for an hour; the ETag makes the revalidation after that nearly free.
CACHE_CONTROL = "public, max-age=3600"


@dataclass(frozen=True, slots=True)
class Snippet:
    minified: bytes
    gzipped: bytes
    etag: str


def build_snippet(source: Path = SOURCE) -> Snippet | None:
    if not source.is_file():
        return None
    minified = rjsmin.jsmin(source.read_text("utf-8")).encode()
    # mtime=0: the same source gives the same bytes, so every process serves one ETag.
    gzipped = gzip.compress(minified, compresslevel=9, mtime=0)
    etag = '"' + hashlib.sha256(minified).hexdigest()[:20] + '"'
    return Snippet(minified=minified, gzipped=gzipped, etag=etag)


def snippet_response(
    request: Request, snippet: Snippet | None, *, name: str = "tracker.js", module: bool = False
) -> Response:
    if snippet is None:
        raise NotFound(f"static/{name} is missing from this installation")
    headers = {"Cache-Control": CACHE_CONTROL, "ETag": snippet.etag, "Vary": "Accept-Encoding"}
    if module:
        # tracker.js import()s it from the customer's pages: a module crosses origins only
        # with a CORS grant. It is the same public file for everyone.
        headers["Access-Control-Allow-Origin"] = "*"
    if request.headers.get("if-none-match") == snippet.etag:
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return Response(snippet.gzipped, media_type="application/javascript", headers=headers)
    return Response(snippet.minified, media_type="application/javascript", headers=headers)
