"""What people add to a call on its page: notes, tags and the lead's status.

Tags are free text, compared and stored in lower case ("Wholesale" and "wholesale" are one
tag), several per call, given as one comma-separated field.

A change of the tags or the status goes to the CRMs (crm_push `call.updated`) in the same
transaction, so what is saved is what the CRM will be told.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from app.calls import repository
from app.exceptions import InvalidField
from app.i18n import gettext
from app.models import Call, CallNote
from crm_push import outbox

MAX_NOTE = 5000
MAX_TAG = 64
MAX_TAGS = 20


class LeadStatus(StrEnum):
    NEW = "new"
    IN_PROGRESS = "in_progress"
    QUALIFIED = "qualified"
    SPAM = "spam"


def lead_status(call: Call) -> LeadStatus:
    return LeadStatus(call.lead_status) if call.lead_status else LeadStatus.NEW


async def set_lead_status(
    db: AsyncSession, *, call: Call, status: LeadStatus, now: datetime
) -> None:
    if lead_status(call) == status:
        return
    # "new" is stored as no status: every call starts there without a write.
    call.lead_status = None if status == LeadStatus.NEW else status.value
    await db.flush()
    await outbox.queue_call_update(db, call=call, now=now)


async def notes(db: AsyncSession, call: Call) -> list[CallNote]:
    """Oldest first, as a conversation reads."""
    return await repository.notes(db, call_id=call.id)


async def add_note(
    db: AsyncSession,
    *,
    call: Call,
    author_id: uuid.UUID,
    author_email: str,
    body: str,
    now: datetime,
) -> CallNote:
    text = body.strip()
    if not text:
        raise InvalidField("note", gettext("write something first"))
    if len(text) > MAX_NOTE:
        raise InvalidField("note", gettext("keep it under %(num)s characters", num=MAX_NOTE))
    note = CallNote(
        id=uuid.uuid4(),
        call_id=call.id,
        author_id=author_id,
        author_email=author_email,
        body=text,
        created_at=now,
    )
    repository.add_note(db, note)
    await db.flush()
    return note


def normalise_tag(raw: str) -> str:
    return " ".join(raw.split()).lower()


def parse_tags(raw: str) -> list[str]:
    """Comma-separated free text as distinct tags, in the order given."""
    tags: list[str] = []
    for part in raw.split(","):
        tag = normalise_tag(part)
        if not tag or tag in tags:
            continue
        if len(tag) > MAX_TAG:
            raise InvalidField(
                "tags",
                gettext("“%(tag)s…” is longer than %(num)s characters", tag=tag[:20], num=MAX_TAG),
            )
        tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise InvalidField("tags", gettext("give at most %(num)s tags", num=MAX_TAGS))
    return tags


async def set_tags(db: AsyncSession, *, call: Call, raw: str, now: datetime) -> list[str]:
    tags = parse_tags(raw)
    before = (await repository.tags_of(db, [call.id]))[call.id]
    await repository.replace_tags(db, call=call, tags=tags, now=now)
    if sorted(before) != sorted(tags):
        await outbox.queue_call_update(db, call=call, now=now)
    return tags


async def tags_of(db: AsyncSession, call_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
    return await repository.tags_of(db, call_ids)


async def calls_tagged(db: AsyncSession, *, site_id: uuid.UUID, tag: str) -> set[uuid.UUID]:
    return await repository.calls_tagged(db, site_id=site_id, tag=normalise_tag(tag))


async def site_tags(db: AsyncSession, *, site_id: uuid.UUID) -> list[str]:
    return await repository.site_tags(db, site_id=site_id)
