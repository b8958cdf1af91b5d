"""A stand-in Telegram Bot API server, as https://core.telegram.org/bots/api documents it.

`POST /bot<token>/sendMessage` with JSON `{chat_id, text, parse_mode}`: a wrong token is a
401 `Unauthorized`, an unknown chat a 400 `Bad Request: chat not found`, a chat whose user
blocked the bot a 403 `Forbidden: bot was blocked by the user`; a text that is not valid
Telegram HTML (a bare `<` or `&`, a tag Telegram does not know) is a 400 `can't parse
entities`, as the real parser answers. `rate_limit(n, retry_after)` answers the next n
requests with 429 and `parameters.retry_after`. Answers are `{"ok": true, "result":
Message}` or `{"ok": false, "error_code", "description", "parameters"?}`.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

BOT_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
CHAT_ID = "-1001234567890"
_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre"}
_TOKEN = re.compile(
    r"<(/?)([A-Za-z-]+)((?:\s+[a-z-]+=\"[^\"<>]*\")*)\s*>|&(?:lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);|[<>&]"
)


def parse_error(text: str) -> str | None:
    """Why Telegram's HTML parser would refuse `text`, or None."""
    for match in _TOKEN.finditer(text):
        token = match.group(0)
        if token in ("<", ">", "&"):
            return f"Can't parse entities: unexpected {token!r} at byte offset {match.start()}"
        name = match.group(2)
        if name is not None and name.lower() not in _TAGS:
            return f'Can\'t parse entities: unsupported start tag "{name}"'
        if name == "a" and not match.group(1):
            href = re.search(r'href="([^"]*)"', match.group(3) or "")
            if href is None or not href.group(1).startswith(("http://", "https://", "tg://")):
                return "Can't parse entities: unsupported URL protocol"
    return None


def plain(text: str) -> str:
    """The text as the chat shows it: tags dropped, entities read."""
    import html

    return html.unescape(re.sub(r"<[^>]+>", "", text))


@dataclass
class Sent:
    chat_id: str
    text: str
    parse_mode: str | None

    @property
    def plain(self) -> str:
        return plain(self.text)


@dataclass
class FakeTelegram:
    token: str = BOT_TOKEN
    chats: set[str] = field(default_factory=lambda: {CHAT_ID})
    blocked: set[str] = field(default_factory=set)
    sent: list[Sent] = field(default_factory=list)
    requests: int = 0
    _limited: int = 0
    _retry_after: int = 0

    def rate_limit(self, count: int, *, retry_after: int) -> None:
        self._limited, self._retry_after = count, retry_after

    @staticmethod
    def _error(code: int, description: str, **parameters: Any) -> JSONResponse:
        body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
        if parameters:
            body["parameters"] = parameters
        return JSONResponse(body, status_code=code)

    async def send_message(self, request: Request) -> JSONResponse:
        self.requests += 1
        if request.path_params["token"] != self.token:
            return self._error(401, "Unauthorized")
        if self._limited > 0:
            self._limited -= 1
            return self._error(
                429,
                f"Too Many Requests: retry after {self._retry_after}",
                retry_after=self._retry_after,
            )
        try:
            body = await request.json()
        except ValueError:
            return self._error(400, "Bad Request: message text is empty")
        chat_id = str(body.get("chat_id", ""))
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            return self._error(400, "Bad Request: message text is empty")
        if len(text) > 4096:
            return self._error(400, "Bad Request: message is too long")
        if chat_id not in self.chats:
            return self._error(400, "Bad Request: chat not found")
        if chat_id in self.blocked:
            return self._error(403, "Forbidden: bot was blocked by the user")
        if body.get("parse_mode") == "HTML" and (problem := parse_error(text)) is not None:
            return self._error(400, f"Bad Request: {problem}")
        self.sent.append(Sent(chat_id, text, body.get("parse_mode")))
        message_id = len(self.sent)
        result = {"message_id": message_id, "chat": {"id": int(chat_id)}, "text": plain(text)}
        return JSONResponse({"ok": True, "result": result})

    def app(self) -> Starlette:
        return Starlette(
            routes=[Route("/bot{token}/sendMessage", self.send_message, methods=["POST"])]
        )


class _InLoopServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class FakeTelegramServer:
    def __init__(self, telegram: FakeTelegram) -> None:
        self.telegram = telegram
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port: int = probe.getsockname()[1]
        probe.close()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: _InLoopServer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        config = uvicorn.Config(
            self.telegram.app(), log_level="warning", lifespan="off", access_log=False, ws="none"
        )
        self._server = _InLoopServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        for _ in range(1000):
            if self._server.started:
                return
            await asyncio.sleep(0.005)
        raise RuntimeError("the Telegram stand-in did not start")

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        await self._task
        self._server = self._task = None
