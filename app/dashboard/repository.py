"""All SQL of the dashboard: its accounts and the sites a viewer may see. Everything else the
dashboard shows comes through the services of the domains that own it."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import User, UserSite, UserToken


async def count_users(db: AsyncSession) -> int:
    return int(await db.scalar(select(func.count()).select_from(User)) or 0)


async def user(db: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await db.get(User, user_id)


async def user_by_email(db: AsyncSession, email: str) -> User | None:
    return (await db.execute(select(User).where(User.email == email))).scalar_one_or_none()


async def users(db: AsyncSession) -> list[User]:
    return list((await db.execute(select(User).order_by(User.created_at, User.email))).scalars())


def add_user(db: AsyncSession, row: User) -> None:
    db.add(row)


async def delete_user(db: AsyncSession, row: User) -> None:
    await db.delete(row)


async def site_ids(
    db: AsyncSession, user_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, set[uuid.UUID]]:
    """The sites each of `user_ids` may see (viewers; admins have no rows)."""
    wanted = list(user_ids)
    found: dict[uuid.UUID, set[uuid.UUID]] = {user_id: set() for user_id in wanted}
    if not wanted:
        return found
    query = select(UserSite.user_id, UserSite.site_id).where(UserSite.user_id.in_(wanted))
    for user_id, site_id in (await db.execute(query)).all():
        found[user_id].add(site_id)
    return found


async def replace_sites(
    db: AsyncSession, *, user_id: uuid.UUID, site_ids: Iterable[uuid.UUID], now: datetime
) -> None:
    await db.execute(delete(UserSite).where(UserSite.user_id == user_id))
    for site_id in sorted(set(site_ids)):
        db.add(UserSite(user_id=user_id, site_id=site_id, created_at=now))
    await db.flush()


async def count_active_admins(db: AsyncSession) -> int:
    """Admins who can sign in: enabled, and with a password chosen (not only invited)."""
    query = (
        select(func.count())
        .select_from(User)
        .where(User.role == "admin", User.disabled_at.is_(None), User.password_hash != "")
    )
    return int(await db.scalar(query) or 0)


def add_token(db: AsyncSession, row: UserToken) -> None:
    db.add(row)


async def token_by_hash(db: AsyncSession, token_hash: str) -> UserToken | None:
    query = select(UserToken).where(UserToken.token_hash == token_hash)
    return (await db.execute(query)).scalar_one_or_none()


async def void_tokens(
    db: AsyncSession, *, user_id: uuid.UUID, purpose: str | None, now: datetime
) -> None:
    """Uses up the account's open links (of one purpose, or all)."""
    query = update(UserToken).where(UserToken.user_id == user_id, UserToken.used_at.is_(None))
    if purpose is not None:
        query = query.where(UserToken.purpose == purpose)
    await db.execute(query.values(used_at=now))
