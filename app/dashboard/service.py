"""Accounts and access: the first admin, sign-in, viewers and the sites they may see.

Services take the session first, never commit (the request does) and get `now` passed in.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from app.dashboard import auth, repository
from app.exceptions import Conflict, Forbidden, InvalidField, NotFound
from app.i18n import gettext
from app.models import Site, User
from app.security import token_matches
from app.sites import service as sites_service


class Role(StrEnum):
    ADMIN = "admin"
    VIEWER = "viewer"


# An invited account has no password until its owner chooses one: this hash matches none.
NO_PASSWORD = ""


def is_pending(user: User) -> bool:
    """Invited, and no password chosen yet."""
    return user.password_hash == NO_PASSWORD


class SetupClosed(Conflict):
    """The first admin exists: /setup is closed for good."""


@dataclass(frozen=True, slots=True)
class Account:
    """A signed-in user and what they may see."""

    user: User
    site_ids: frozenset[uuid.UUID]  # a viewer's sites; empty for admins, who see all

    @property
    def is_admin(self) -> bool:
        return self.user.role == Role.ADMIN

    def can_see(self, site_id: uuid.UUID) -> bool:
        return self.is_admin or site_id in self.site_ids


def normalise_email(raw: str) -> str:
    email = raw.strip().lower()
    local, _, domain = email.partition("@")
    if not local or "." not in domain or len(email) > 320 or any(c.isspace() for c in email):
        raise InvalidField("email", gettext("is not an e-mail address"))
    return email


async def setup_needed(db: AsyncSession) -> bool:
    return await repository.count_users(db) == 0


async def create_first_admin(
    db: AsyncSession,
    *,
    presented_token: str,
    admin_token: str,
    email: str,
    password: str,
    now: datetime,
) -> User:
    """The first account, for whoever holds the admin token; refused once any account exists."""
    if not await setup_needed(db):
        raise SetupClosed(gettext("the first admin exists already: sign in instead"))
    if not token_matches(presented_token, admin_token):
        raise Forbidden(gettext("the admin token is not right"))
    return await create_user(
        db, email=email, password=password, role=Role.ADMIN, site_ids=(), now=now
    )


async def create_user(
    db: AsyncSession,
    *,
    email: str,
    password: str | None,
    role: Role,
    site_ids: tuple[uuid.UUID, ...] | list[uuid.UUID],
    now: datetime,
) -> User:
    """An account; without a password (None) an invited one, whose owner chooses it by link."""
    email = normalise_email(email)
    problem = auth.password_problem(password) if password is not None else None
    if problem is not None:
        raise InvalidField("password", problem)
    if await repository.user_by_email(db, email) is not None:
        raise Conflict(gettext("email: %(email)s has an account already", email=email))
    if role == Role.VIEWER:
        await check_sites(db, site_ids)
    user = User(
        id=uuid.uuid4(),
        email=email,
        password_hash=NO_PASSWORD if password is None else await auth.hash_password(password),
        role=role.value,
        created_at=now,
        last_login_at=None,
        disabled_at=None,
        session_generation=0,
    )
    repository.add_user(db, user)
    await db.flush()
    if role == Role.VIEWER:
        await repository.replace_sites(db, user_id=user.id, site_ids=site_ids, now=now)
    return user


async def check_sites(db: AsyncSession, site_ids: tuple[uuid.UUID, ...] | list[uuid.UUID]) -> None:
    if not site_ids:
        raise InvalidField("sites", gettext("choose at least one site for a viewer"))
    for site_id in site_ids:
        await sites_service.get_site(db, site_id)


async def authenticate(
    db: AsyncSession, *, email: str, password: str, now: datetime
) -> User | None:
    """The account these credentials open, or None; the same answer (and time) whether the
    e-mail or the password was wrong."""
    try:
        email = normalise_email(email)
    except InvalidField:
        email = ""
    user = await repository.user_by_email(db, email) if email else None
    stored = user.password_hash if user is not None and user.disabled_at is None else None
    if not await auth.verify_password(stored, password) or user is None:
        return None
    if auth.needs_rehash(user.password_hash):
        user.password_hash = await auth.hash_password(password)
    user.last_login_at = now
    await db.flush()
    return user


async def account(db: AsyncSession, *, user_id: uuid.UUID) -> Account | None:
    user = await repository.user(db, user_id)
    if user is None or user.disabled_at is not None:
        return None
    sites = await repository.site_ids(db, [user.id])
    return Account(user=user, site_ids=frozenset(sites[user.id]))


async def visible_sites(db: AsyncSession, account: Account) -> list[Site]:
    sites = await sites_service.list_sites(db)
    return [site for site in sites if account.can_see(site.id)]


async def site_for(db: AsyncSession, account: Account, site_id: uuid.UUID) -> Site:
    """The site if this account may see it; a 404 otherwise, so a viewer cannot even learn
    which other sites exist."""
    if not account.can_see(site_id):
        raise NotFound(f"site {site_id} not found")
    return await sites_service.get_site(db, site_id)


def require_admin(account: Account) -> None:
    if not account.is_admin:
        raise Forbidden(gettext("only an admin can do this"))


# --- managing accounts (admins) ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UserRow:
    user: User
    site_ids: frozenset[uuid.UUID]

    @property
    def pending(self) -> bool:
        return is_pending(self.user)


async def list_users(db: AsyncSession) -> list[UserRow]:
    users = await repository.users(db)
    sites = await repository.site_ids(db, [u.id for u in users])
    return [UserRow(user=u, site_ids=frozenset(sites[u.id])) for u in users]


async def _user(db: AsyncSession, user_id: uuid.UUID) -> User:
    user = await repository.user(db, user_id)
    if user is None:
        raise NotFound(f"user {user_id} not found")
    return user


async def set_viewer_sites(
    db: AsyncSession, *, user_id: uuid.UUID, site_ids: list[uuid.UUID], now: datetime
) -> User:
    user = await _user(db, user_id)
    if user.role != Role.VIEWER:
        raise Conflict(gettext("an admin sees every site; only a viewer's sites can be chosen"))
    await check_sites(db, site_ids)
    await repository.replace_sites(db, user_id=user.id, site_ids=site_ids, now=now)
    return user


async def set_disabled(
    db: AsyncSession, *, actor: Account, user_id: uuid.UUID, disabled: bool, now: datetime
) -> User:
    user = await _user(db, user_id)
    if user.id == actor.user.id:
        raise Conflict(gettext("you cannot disable your own account"))
    if disabled:
        await _guard_last_admin(db, user)
    user.disabled_at = now if disabled else None
    await db.flush()
    return user


async def _guard_last_admin(db: AsyncSession, user: User) -> None:
    if user.role != Role.ADMIN or user.disabled_at is not None or is_pending(user):
        return
    if await repository.count_active_admins(db) <= 1:
        raise Conflict(
            gettext(
                "%(email)s is the last admin: make another account an admin first",
                email=user.email,
            )
        )


async def set_role(db: AsyncSession, *, user_id: uuid.UUID, role: Role, now: datetime) -> User:
    """Makes an account an admin or a viewer; the last admin stays one."""
    user = await _user(db, user_id)
    if user.role == role:
        return user
    if role == Role.VIEWER:
        await _guard_last_admin(db, user)
    user.role = role.value
    # Admins see every site and have no rows; a new viewer starts with none, and the admin
    # chooses its sites next.
    await repository.replace_sites(db, user_id=user.id, site_ids=(), now=now)
    return user


async def end_sessions(db: AsyncSession, user: User) -> None:
    """Every session cookie issued to the account stops opening anything (sign-out)."""
    user.session_generation += 1
    await db.flush()


async def change_password(db: AsyncSession, *, user: User, current: str, new: str) -> None:
    if not await auth.verify_password(user.password_hash, current):
        raise InvalidField("current_password", gettext("is not right"))
    problem = auth.password_problem(new)
    if problem is not None:
        raise InvalidField("new_password", problem)
    user.password_hash = await auth.hash_password(new)
    await db.flush()


async def all_sites(db: AsyncSession) -> list[Site]:
    return await sites_service.list_sites(db)


async def set_language(db: AsyncSession, user: User, language: str | None) -> None:
    user.language = language
    await db.flush()
