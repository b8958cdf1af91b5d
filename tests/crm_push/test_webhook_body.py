"""The CRM webhook body is a contract of its own (crm_push.webhook_body), pinned here field by
field and byte by byte, so no change elsewhere (the admin API's view of a call above all)
alters what receivers parse without a new schema version."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import get_args

import pytest

from app.models import Call
from crm_push.outbox import FORM_EVENT, UPDATE_EVENT
from crm_push.schemas import WebhookEvent
from crm_push.webhook_body import SCHEMA_VERSION, EventType, WebhookBody, WebhookUpdateBody
from crm_push.worker import Worker
from tests.crm_push.conftest import World
from tests.crm_push.fake_crm import FakeCrmServer
from tests.crm_push.webhook_body import samples
from tests.crm_push.webhook_body.fields import field_types

ROOT = Path(__file__).resolve().parents[2]
PINNED = Path(__file__).parent / "webhook_body" / f"v{SCHEMA_VERSION}"

BUMP = (
    "The CRM webhook body changed, and receivers parse it in code we never see. If the change "
    "is meant: bump SCHEMA_VERSION in crm_push/webhook_body.py, describe the new version in "
    "docs/crm-webhook.md (its field table and its 'Versioning' section), and pin the new "
    "version in tests/crm_push/webhook_body/v<N>/ (its fields.json and samples). Otherwise "
    "undo it.\n"
)


def pinned_json(name: str) -> object:
    return json.loads((PINNED / name).read_text(encoding="utf-8"))


def test_every_field_keeps_its_name_type_nullability_and_place() -> None:
    pinned = list(pinned_json("fields.json").items())  # type: ignore[attr-defined]
    now = field_types(WebhookBody)

    assert now == pinned, BUMP + "\n".join(
        [f"  now only: {f}: {t}" for f, t in now if (f, t) not in pinned]
        + [f"  pinned only: {f}: {t}" for f, t in pinned if (f, t) not in now]
        or ["  the same fields, in another order"]
    )


SAMPLES = {
    "attributed.json": samples.attributed_call,
    "missed.json": samples.missed_call,
    "started.json": samples.ringing_call,
}


@pytest.mark.parametrize("sample", sorted(SAMPLES))
def test_a_call_is_sent_as_the_pinned_bytes(sample: str) -> None:
    expected = pinned_json(sample)
    assert isinstance(expected, dict)
    call: Call = SAMPLES[sample]()

    sent = WebhookBody.of(expected["type"], call, now=samples.SENT_AT).encode()

    # The pinned file is indented for reading; the wire form is compact, in the same order.
    wire = json.dumps(expected, separators=(",", ":"), ensure_ascii=False).encode()
    assert sent == wire, BUMP + f"sent:   {sent.decode()}\npinned: {wire.decode()}"


def test_the_body_names_every_event_a_delivery_can_be_for() -> None:
    # The outbox has more call events (deal.won for destinations, call.missed for alerts);
    # what matters is every call event a webhook connector may ask for. Form leads and tag
    # and status changes are additions to version 1 with messages of their own.
    own_messages = {FORM_EVENT, UPDATE_EVENT}
    webhook_call_events = tuple(e for e in get_args(WebhookEvent) if e not in own_messages)
    assert get_args(EventType) == webhook_call_events, (
        "a webhook connector may ask for call events the webhook body's `type` lacks. " + BUMP
    )
    assert get_args(WebhookUpdateBody.model_fields["type"].annotation) == (UPDATE_EVENT,)


def test_crm_push_builds_the_body_without_the_admin_apis_call_view() -> None:
    importing = []
    for path in sorted((ROOT / "crm_push").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            if any(n == "app.calls" or n.startswith("app.calls.") for n in names):
                importing.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert importing == [], "crm_push must not import app.calls (build from app.models)"


async def test_what_a_receiver_gets_is_the_schema_and_names_its_version(
    world: World, crm: FakeCrmServer, worker: Worker
) -> None:
    await world.webhook(crm, events=["call.started", "call.attributed"])
    await world.call()

    await worker.drain()

    assert len(crm.crm.webhook_posts) == 2
    for headers, body in crm.crm.webhook_posts:
        assert headers["x-callsource-schema"] == str(SCHEMA_VERSION)
        # Nothing beyond the schema (extra fields are refused), nothing of it missing.
        assert WebhookBody.model_validate_json(body).encode() == body
