from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, UUIDPrimaryKey


class User(UUIDPrimaryKey, Base):
    """A dashboard account: an admin sees and changes everything; a viewer reads its sites only.

    `email` is stored lower-cased so that uniqueness and sign-in ignore case.
    `password_hash` is an argon2id PHC string; the password itself is never kept.
    """

    __tablename__ = "users"

    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))  # admin | viewer
    created_at: Mapped[datetime]
    last_login_at: Mapped[datetime | None]
    # A disabled account keeps its row (who did what) but cannot sign in.
    disabled_at: Mapped[datetime | None]
    # Part of every session cookie's fingerprint: signing out bumps it, which ends on the
    # server every session the account holds (a stolen copy of the cookie included).
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The dashboard's language for this account (ru, en, es); None: the browser's, else the
    # server's CALLSOURCE_LANGUAGE.
    language: Mapped[str | None] = mapped_column(String(8))
