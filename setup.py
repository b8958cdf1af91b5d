"""The wheel carries the migrations and the snippet inside the `app` package.

They live at the top of the repository (`migrations/`, `static/tracker.js`), outside every
package, so a plain wheel left them behind: `callsource migrate` found no migrations and
`/t/tracker.js` answered 404. This build step copies them into `app/_bundled/`, where
`app.bundled` looks first; a checkout (or an editable install) finds them at the top instead.

It also compiles the translation catalogs (`app/locale/*/LC_MESSAGES/messages.po`) into the
`.mo` files gettext reads: they are built, never committed. A checkout compiles them on first
use instead (app.i18n.catalogs).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
BUNDLED = {
    "migrations": ROOT / "migrations",
    "static/tracker.js": ROOT / "static" / "tracker.js",
    "static/forms.js": ROOT / "static" / "forms.js",
}
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc")


def compile_catalogs(target: Path) -> None:
    # Babel is a build requirement (pyproject [build-system]) as well as a dependency.
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    for po in sorted((ROOT / "app" / "locale").glob("*/LC_MESSAGES/messages.po")):
        mo = target / po.relative_to(ROOT / "app").with_suffix(".mo")
        mo.parent.mkdir(parents=True, exist_ok=True)
        with po.open("rb") as source, mo.open("wb") as out:
            write_mo(out, read_po(source, locale=po.parent.parent.name))


class BuildPyWithBundledData(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads them from the checkout itself
        compile_catalogs(Path(self.build_lib) / "app")
        target = Path(self.build_lib) / "app" / "_bundled"
        for name, source in BUNDLED.items():
            destination = target / name
            destination.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(source, destination, ignore=IGNORED, dirs_exist_ok=True)
            else:
                shutil.copy2(source, destination)


setup(cmdclass={"build_py": BuildPyWithBundledData})
