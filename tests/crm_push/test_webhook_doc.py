"""docs/crm-webhook.md is what receivers code against: its field table lists exactly the body's
fields and types, its example is a body we send, and it names the current schema version."""

from __future__ import annotations

import json
import re
from pathlib import Path

from crm_push.webhook_body import SCHEMA_VERSION, WebhookBody
from tests.crm_push.webhook_body.fields import field_types

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "crm-webhook.md"
PINNED = Path(__file__).parent / "webhook_body" / f"v{SCHEMA_VERSION}"
# | `data.call.caller` | string or null | who called; ... |
ROW = re.compile(r"^\| `(?P<field>[^`]+)` \| (?P<type>[^|]+?) \| (?P<meaning>.*?) \|$")


def section(title: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"docs/crm-webhook.md has no '## {title}' section"
    return match.group(1)


def documented_fields() -> list[tuple[str, str, str]]:
    rows = [ROW.match(line) for line in section("Fields").splitlines()]
    return [(m["field"], m["type"], m["meaning"].strip()) for m in rows if m]


def test_the_field_table_lists_exactly_the_bodys_fields_in_order() -> None:
    documented = [(field, kind) for field, kind, _ in documented_fields()]
    sent = field_types(WebhookBody)

    assert documented == sent, (
        "docs/crm-webhook.md's field table is not the webhook body "
        "(crm_push/webhook_body.py). Make its rows, in body order, these:\n"
        + "\n".join(f"| `{field}` | {kind} | ... |" for field, kind in sent)
        + "\nA change to the body itself is a new schema version: see that module."
    )


def test_every_documented_field_says_what_it_means() -> None:
    unexplained = [field for field, _, meaning in documented_fields() if not meaning]
    assert unexplained == []


def test_the_example_body_is_a_body_we_send() -> None:
    blocks = re.findall(r"^```json\n(.*?)^```$", section("What arrives"), re.M | re.S)
    assert len(blocks) == 1, "one JSON example body under '## What arrives'"
    pinned = json.loads((PINNED / "attributed.json").read_text(encoding="utf-8"))
    assert json.loads(blocks[0]) == pinned


def test_the_doc_names_the_current_schema_version() -> None:
    assert f"x-callsource-schema: {SCHEMA_VERSION}\n" in section("What arrives")
    versions = re.findall(r"^\| (\d+) \| .+ \|$", section("Versioning"), re.M)
    assert versions, "docs/crm-webhook.md's 'Versioning' section has a table of versions"
    assert int(versions[-1]) == SCHEMA_VERSION, (
        f"the 'Versioning' table's last row is the current version, {SCHEMA_VERSION}"
    )
    assert f"schema version **{SCHEMA_VERSION}**" in section("Versioning")
