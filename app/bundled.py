"""Where the files outside the Python packages are: the migrations and the snippet's source.

A wheel carries them inside the package (setup.py copies them into `app/_bundled/`); a checkout,
and an editable install of one, has them at the top of the repository. Only a checkout (marked
by its pyproject.toml) is looked at beside the package: in an installed environment that is
site-packages, where `migrations` would be whatever other distribution owns that name.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_CHECKOUT = _PACKAGE.parent


def bundled_path(name: str) -> Path:
    """The file or folder `name`, written as in the repository (`static/tracker.js`)."""
    installed = _PACKAGE / "_bundled" / name
    if not installed.exists() and (_CHECKOUT / "pyproject.toml").is_file():
        return _CHECKOUT / name
    return installed


def migrations_dir() -> Path:
    return bundled_path("migrations")


def tracker_source() -> Path:
    return bundled_path("static/tracker.js")


def forms_source() -> Path:
    """The snippet's forms part, loaded by tracker.js on sites that take form leads."""
    return bundled_path("static/forms.js")
