"""docs/pbx-recipes.md: every example the page shows goes through the generic provider.

The examples are read from the markdown itself (code blocks tagged `recipe-*`), so the page and
this test cannot drift apart: an edit that breaks a body, the token encoding or a signature fails
here. Pure: no database, no network, no conftest fixtures.
"""

from __future__ import annotations

import itertools
import re
import shlex
import shutil
import subprocess
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from app.calls.events import CallEvent
from app.calls.merge import facts_from, final_outcome, fold
from pbx_webhooks.events import InboundRequest, SignatureInvalid
from pbx_webhooks.providers.generic import GenericProvider, signing_key
from tests.backends import IN_CI

DOC = Path(__file__).resolve().parents[2] / "docs" / "pbx-recipes.md"
PROVIDER = GenericProvider()
NOW = datetime(2024, 1, 15, 10, 35, tzinfo=UTC)
CONTENT_TYPES = {"json": "application/json", "form": "application/x-www-form-urlencoded"}
PBXS = {"asterisk", "freeswitch", "kamailio"}


@dataclass(frozen=True)
class Block:
    lang: str
    tags: tuple[str, ...]
    text: str
    line: int

    @property
    def where(self) -> str:
        return f"{DOC.name}:{self.line}"


def _blocks() -> list[Block]:
    text = DOC.read_text(encoding="utf-8")
    blocks = []
    # Top-level fences only (the nginx/c snippets nested in list items are indented).
    for match in re.finditer(r"^```([^\n`]*)\n(.*?)^```$", text, re.MULTILINE | re.DOTALL):
        info = match.group(1).split()
        line = text.count("\n", 0, match.start()) + 1
        if info:
            blocks.append(Block(info[0], tuple(info[1:]), match.group(2), line))
    return blocks


BLOCKS = _blocks()


def _tagged(tag: str) -> list[Block]:
    return [block for block in BLOCKS if tag in block.tags]


def _one(tag: str) -> Block:
    found = _tagged(tag)
    assert len(found) == 1, f"expected exactly one `{tag}` block in {DOC.name}, found {len(found)}"
    return found[0]


def _query(url: str) -> dict[str, str]:
    """The query as the app sees it (Starlette's `request.query_params`: `+` is a space)."""
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))


URL = _one("recipe-url").text.strip()
SECRET = _query(URL)["token"]
CREDENTIALS = {"secret": SECRET}
EXAMPLES = _tagged("recipe-example")


def _request(
    body: bytes,
    *,
    content_type: str,
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> InboundRequest:
    return InboundRequest(
        method="POST",
        url=URL,
        subpath="",
        query=query or {},
        headers=headers or {},
        body=body,
        content_type=content_type,
    )


def _accepted(request: InboundRequest, *, now: datetime = NOW) -> CallEvent:
    PROVIDER.verify(request, CREDENTIALS, now=now)
    events = PROVIDER.parse(request, CREDENTIALS, now=now)
    assert len(events) == 1
    return events[0]


# ---- the token in the URL ------------------------------------------------------------------------


def test_example_secret_is_a_real_whsec_secret_that_needs_encoding() -> None:
    assert SECRET.startswith("whsec_")
    assert len(signing_key(SECRET)) == 32
    # The example is only instructive if encoding matters for it.
    assert set("+/=") & set(SECRET)


def test_token_pasted_unencoded_still_matches() -> None:
    """What the page says: a raw `+` reads as a space, and Callsource turns it back."""
    raw = URL.split("?token=")[0] + "?token=" + SECRET
    assert _query(raw)["token"] != SECRET
    PROVIDER.verify(
        _request(b"{}", content_type="application/json", query=_query(raw)), CREDENTIALS, now=NOW
    )


def test_every_token_on_the_page_is_the_encoded_secret() -> None:
    tokens = re.findall(r"[?&]token=([^\s'\"&)<`]+)", DOC.read_text(encoding="utf-8"))
    assert len(tokens) >= 5  # the URL, curl, Asterisk, FreeSWITCH, Kamailio
    for token in tokens:
        if token.startswith("..."):
            continue  # prose placeholders such as `?token=...`
        assert _query(f"?token={token}")["token"] == SECRET, token


# ---- the example bodies --------------------------------------------------------------------------


def test_page_has_examples_for_every_pbx() -> None:
    assert {tag for block in EXAMPLES for tag in block.tags} - {"recipe-example"} == PBXS
    for block in EXAMPLES:
        assert block.lang in CONTENT_TYPES, f"{block.where}: unknown body type {block.lang!r}"


@pytest.mark.parametrize("block", EXAMPLES, ids=lambda block: block.where)
def test_example_is_accepted_with_the_token(block: Block) -> None:
    body = block.text.strip().encode()
    request = _request(body, content_type=CONTENT_TYPES[block.lang], query=_query(URL))

    event = _accepted(request)

    assert event.provider_call_id
    assert event.called
    assert event.called.lstrip("+").isdigit()
    assert event.occurred_at.year == 2024
    if event.kind == "ended":
        assert event.duration_s is not None
        assert event.talk_duration_s is not None
        assert event.talk_duration_s <= event.duration_s


@pytest.mark.parametrize("block", EXAMPLES, ids=lambda block: block.where)
def test_example_is_accepted_without_a_content_type(block: Block) -> None:
    """Some HTTP clients send no type; the generic provider tells JSON from a form itself."""
    request = _request(block.text.strip().encode(), content_type="", query=_query(URL))
    assert _accepted(request).kind in ("started", "answered", "ended")


def _calls() -> dict[tuple[str, str], list[CallEvent]]:
    calls: dict[tuple[str, str], list[CallEvent]] = defaultdict(list)
    for block in EXAMPLES:
        (pbx,) = set(block.tags) & PBXS
        request = _request(
            block.text.strip().encode(),
            content_type=CONTENT_TYPES[block.lang],
            query=_query(URL),
        )
        event = _accepted(request)
        calls[pbx, event.provider_call_id].append(event)
    return calls


EXPECTED_OUTCOMES = {
    # Asterisk: answered by an agent; a caller who gave up (final event alone).
    ("asterisk", "1705314598.42"): "answered",
    ("asterisk", "1705315000.57"): "missed",
    # FreeSWITCH sends no status: the outcome follows from talk_duration.
    ("freeswitch", "6b3a1f7e-1c2d-4e5f-9a8b-7c6d5e4f3a2b"): "answered",
    ("freeswitch", "0d9c2b4a-5e6f-4a1b-8c7d-9e0f1a2b3c4d"): "missed",
    # Kamailio: answered; busy callee (486).
    ("kamailio", "a84b4c76e66710@192.0.2.10"): "answered",
    ("kamailio", "3c26700b7f1a45d8@192.0.2.10"): "busy",
}


def test_each_example_call_folds_into_a_finished_call() -> None:
    calls = _calls()
    assert set(calls) == set(EXPECTED_OUTCOMES)
    for key, events in calls.items():
        call = facts_from(events[0])
        for event in events[1:]:
            call = fold(call, event)
        assert call.status == "ended", key
        assert call.ended_at is not None, key
        assert call.started_at <= call.ended_at, key
        assert final_outcome(call) == EXPECTED_OUTCOMES[key], key
        # Without call.started, the final event's duration still dates the start.
        ended = next(event for event in events if event.kind == "ended")
        assert ended.duration_s is not None
        assert (call.ended_at - call.started_at).total_seconds() == ended.duration_s, key


# ---- the curl test command -----------------------------------------------------------------------


def test_curl_command_posts_an_accepted_body_to_the_encoded_url() -> None:
    argv = shlex.split(_one("recipe-curl").text)
    assert argv[0] == "curl"
    url = argv[-1]
    body = argv[argv.index("--data") + 1].encode()
    assert "Content-Type: application/json" in argv
    assert url == URL

    event = _accepted(_request(body, content_type="application/json", query=_query(url)))

    assert (event.kind, event.outcome, event.duration_s) == ("ended", "answered", 73)


# ---- signing -------------------------------------------------------------------------------------


def _signed_example() -> tuple[dict[str, str], bytes]:
    head, _, body = _one("recipe-signed").text.partition("\n\n")
    lines = head.splitlines()
    assert lines[0].startswith("POST /hooks/pbx/")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return headers, body.strip("\n").encode()


def test_worked_signature_example_verifies() -> None:
    headers, body = _signed_example()
    sent_at = datetime.fromtimestamp(int(headers["webhook-timestamp"]), UTC)
    request = _request(body, content_type=headers["content-type"], headers=headers)

    event = _accepted(request, now=sent_at)

    assert event.dedup_key == headers["webhook-id"]
    assert event.outcome == "answered"


def test_worked_signature_example_is_stale_now_and_breaks_if_the_body_changes() -> None:
    headers, body = _signed_example()
    sent_at = datetime.fromtimestamp(int(headers["webhook-timestamp"]), UTC)
    with pytest.raises(SignatureInvalid, match="too old"):
        PROVIDER.verify(
            _request(body, content_type="application/json", headers=headers),
            CREDENTIALS,
            now=datetime.now(UTC),
        )
    tampered = body.replace(b'"duration":73', b'"duration": 73')
    with pytest.raises(SignatureInvalid, match="does not match"):
        PROVIDER.verify(
            _request(tampered, content_type="application/json", headers=headers),
            CREDENTIALS,
            now=sent_at,
        )


def test_python_signing_snippet_produces_accepted_headers() -> None:
    namespace: dict[str, Any] = {}
    exec(_one("recipe-sign-python").text, namespace)  # noqa: S102 - our own documentation
    body = b'{"event":"call.started","call_id":"py-1","called":"+74951234567","timestamp":1}'

    headers = namespace["standard_webhooks_headers"](SECRET, body)

    event = _accepted(
        _request(body, content_type=headers["content-type"], headers=headers),
        now=datetime.now(UTC),
    )
    assert event.provider_call_id == "py-1"


_SHELL_TOOLS = ("bash", "openssl", "od", "base64", "tr", "date")


@pytest.mark.skipif(
    not IN_CI and not all(shutil.which(tool) for tool in _SHELL_TOOLS),
    reason="needs " + ", ".join(_SHELL_TOOLS),
)
def test_shell_signing_snippet_produces_accepted_headers() -> None:
    # Run the snippet as printed, with `curl` replaced by a function that prints its arguments.
    script = 'curl() { printf "%s\\0" "$@"; }\n' + _one("recipe-sign-shell").text
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], capture_output=True, check=True, timeout=30
    )
    argv = result.stdout.decode().split("\0")[:-1]
    headers = {}
    for flag, value in itertools.pairwise(argv):
        if flag == "-H":
            name, _, header_value = value.partition(":")
            headers[name.strip().lower()] = header_value.strip()
    body = argv[argv.index("--data-binary") + 1].encode()
    assert not _query(argv[-1]), "a signed request needs no token in the URL"

    event = _accepted(
        _request(body, content_type=headers["content-type"], headers=headers),
        now=datetime.now(UTC),
    )
    assert event.dedup_key == headers["webhook-id"]


# ---- the Kamailio recipe, when Kamailio is installed ---------------------------------------------

_KAMAILIO_MODULES = ("dialog.so", "jansson.so", "http_client.so", "tm.so", "rr.so", "pv.so")


def _kamailio_module_dir() -> Path | None:
    for pattern in (
        "/usr/lib/*/kamailio/modules",
        "/usr/lib*/kamailio/modules",
        "/usr/local/lib*/kamailio/modules",
    ):
        for candidate in sorted(Path("/").glob(pattern.lstrip("/"))):
            if all((candidate / module).exists() for module in _KAMAILIO_MODULES):
                return candidate
    return None


# CI installs kamailio (.ci/run), so there the test runs and a missing module fails it.
@pytest.mark.skipif(
    not IN_CI and (shutil.which("kamailio") is None or _kamailio_module_dir() is None),
    reason="needs kamailio with the dialog, jansson and http_client modules",
)
def test_kamailio_recipe_is_a_valid_config(tmp_path: Path) -> None:
    section = DOC.read_text(encoding="utf-8").split("## 6. Kamailio", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"^```c\n(.*?)^```$", section, re.MULTILINE | re.DOTALL)
    assert match is not None
    recipe = match.group(1).replace('loadmodule "tls.so"', "# tls not needed for a syntax check")
    config = tmp_path / "kamailio.cfg"
    config.write_text(
        "#!KAMAILIO\n"
        f'mpath="{_kamailio_module_dir()}/"\n'
        "listen=udp:127.0.0.1:5060\n"
        + "".join(
            f'loadmodule "{module}"\n'
            for module in ("kex.so", "corex.so", "tm.so", "tmx.so", "sl.so", "rr.so", "pv.so")
        )
        + 'loadmodule "xlog.so"\nloadmodule "siputils.so"\nloadmodule "textops.so"\n'
        + recipe,
        encoding="utf-8",
    )
    result = subprocess.run(
        ["kamailio", "-c", "-f", str(config)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
