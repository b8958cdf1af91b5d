"""Random keys and secrets handed to users."""

from __future__ import annotations

import base64
import secrets


def new_public_key() -> str:
    """The site's public key: goes into the snippet, so short, URL-safe and unguessable."""
    return "cs_" + secrets.token_urlsafe(12)


def new_webhook_secret() -> str:
    """A Standard Webhooks signing secret: `whsec_` + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def new_admin_token() -> str:
    return secrets.token_urlsafe(32)
