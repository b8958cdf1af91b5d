"""One-time links to choose a password: invites to a new account and password resets.

A link carries a random token; only its SHA-256 is stored, so the table opens no account. A
link works once and for LINK_LIFETIME; issuing a new link of the same kind for the same person
voids the earlier ones. Using a link sets the password and ends every session the account held
(a reset after a stolen password must shut the thief out).

Services take the session first, never commit (the request does) and get `now` passed in.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from app.dashboard import auth, repository
from app.dashboard.service import Role, check_sites, is_pending, normalise_email
from app.dashboard.service import create_user as create_account
from app.exceptions import AppError, Conflict, InvalidField, NotFound
from app.i18n import current_language, gettext, ngettext, use_language
from app.mail import Mail
from app.models import User, UserToken

LINK_LIFETIME = timedelta(hours=72)


class Purpose(StrEnum):
    INVITE = "invite"
    RESET = "reset"


class LinkInvalid(AppError):
    """Unknown, used or expired: one answer for all three, so a link's state leaks nothing."""

    status_code = 410

    def __init__(self) -> None:
        super().__init__(
            gettext(
                "this link has expired or was used already: ask an admin of Callsource for a "
                "new one"
            )
        )


@dataclass(frozen=True, slots=True)
class Link:
    user: User
    purpose: Purpose
    token: str  # the raw token, shown once: only its hash is stored

    def path(self) -> str:
        return f"/{self.purpose.value}/{self.token}"

    def url(self, public_url: str) -> str:
        return public_url.rstrip("/") + self.path()

    def mail(self, *, public_url: str) -> Mail:
        """In the language the account chose, else the request's (the inviting admin's, or the
        browser's of whoever asked for the reset)."""
        url = self.url(public_url)
        hours = int(LINK_LIFETIME.total_seconds() // 3600)
        with use_language(self.user.language or current_language()):
            if self.purpose == Purpose.INVITE:
                subject = gettext("Your Callsource account")
                text = (
                    gettext("You are invited to Callsource, the call tracking of your team.")
                    + "\n\n"
                    + gettext("Open this link to choose your password and sign in:")
                    + f"\n{url}\n\n"
                    + ngettext(
                        "The link works once, for %(num)s hour.",
                        "The link works once, for %(num)s hours.",
                        hours,
                    )
                )
            else:
                subject = gettext("A new Callsource password")
                text = (
                    gettext(
                        "Open this link to choose a new password for %(email)s:",
                        email=self.user.email,
                    )
                    + f"\n{url}\n\n"
                    + ngettext(
                        "The link works once, for %(num)s hour; your other sessions end when "
                        "you use it. If you did not ask for it, ignore this message.",
                        "The link works once, for %(num)s hours; your other sessions end when "
                        "you use it. If you did not ask for it, ignore this message.",
                        hours,
                    )
                )
        return Mail(to=(self.user.email,), subject=subject, text=text)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def _issue(db: AsyncSession, *, user: User, purpose: Purpose, now: datetime) -> Link:
    await repository.void_tokens(db, user_id=user.id, purpose=purpose.value, now=now)
    token = secrets.token_urlsafe(32)
    repository.add_token(
        db,
        UserToken(
            id=uuid.uuid4(),
            user_id=user.id,
            purpose=purpose.value,
            token_hash=_digest(token),
            created_at=now,
            expires_at=now + LINK_LIFETIME,
            used_at=None,
        ),
    )
    await db.flush()
    return Link(user=user, purpose=purpose, token=token)


async def invite(
    db: AsyncSession,
    *,
    email: str,
    role: Role,
    site_ids: list[uuid.UUID],
    now: datetime,
) -> Link:
    """A new account without a password, and the link its owner chooses one with. Inviting
    someone invited before (who never chose a password) sends a fresh link with these rights."""
    email = normalise_email(email)
    existing = await repository.user_by_email(db, email)
    if existing is not None and not is_pending(existing):
        raise InvalidField("email", gettext("%(email)s has an account already", email=email))
    if existing is not None:
        if role == Role.VIEWER:
            await check_sites(db, site_ids)
        existing.role = role.value
        chosen = site_ids if role == Role.VIEWER else []
        await repository.replace_sites(db, user_id=existing.id, site_ids=chosen, now=now)
        return await _issue(db, user=existing, purpose=Purpose.INVITE, now=now)
    user = await create_account(
        db, email=email, password=None, role=role, site_ids=site_ids, now=now
    )
    return await _issue(db, user=user, purpose=Purpose.INVITE, now=now)


async def reset_link(db: AsyncSession, *, user_id: uuid.UUID, now: datetime) -> Link:
    """For an admin to hand over: a link that sets a new password (an invite again for an
    account whose owner never chose one)."""
    user = await repository.user(db, user_id)
    if user is None:
        raise NotFound(f"user {user_id} not found")
    if user.disabled_at is not None:
        raise Conflict(gettext("the account is disabled: enable it first"))
    purpose = Purpose.INVITE if is_pending(user) else Purpose.RESET
    return await _issue(db, user=user, purpose=purpose, now=now)


async def forgotten(db: AsyncSession, *, email: str, now: datetime) -> Link | None:
    """A reset link for the account with this e-mail, or None (unknown, disabled): the caller
    answers the same either way."""
    try:
        email = normalise_email(email)
    except InvalidField:
        return None
    user = await repository.user_by_email(db, email)
    if user is None or user.disabled_at is not None:
        return None
    purpose = Purpose.INVITE if is_pending(user) else Purpose.RESET
    return await _issue(db, user=user, purpose=purpose, now=now)


async def check(db: AsyncSession, *, purpose: Purpose, token: str, now: datetime) -> User:
    """The account a link opens, or LinkInvalid."""
    found = await repository.token_by_hash(db, _digest(token))
    if found is None or found.purpose != purpose.value or found.used_at is not None:
        raise LinkInvalid()
    if found.expires_at <= now:
        raise LinkInvalid()
    user = await repository.user(db, found.user_id)
    if user is None or user.disabled_at is not None:
        raise LinkInvalid()
    return user


async def redeem(
    db: AsyncSession, *, purpose: Purpose, token: str, password: str, now: datetime
) -> User:
    """Sets the password the link was for, uses up every open link of the account and ends
    its other sessions."""
    user = await check(db, purpose=purpose, token=token, now=now)
    problem = auth.password_problem(password)
    if problem is not None:
        raise InvalidField("password", problem)
    user.password_hash = await auth.hash_password(password)
    user.session_generation += 1
    user.last_login_at = now
    await repository.void_tokens(db, user_id=user.id, purpose=None, now=now)
    await db.flush()
    return user
