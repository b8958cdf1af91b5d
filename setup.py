"""The wheel carries the migrations and the snippet inside the `app` package.

They live at the top of the repository (`migrations/`, `static/tracker.js`), outside every
package, so a plain wheel left them behind: `callsource migrate` found no migrations and
`/t/tracker.js` answered 404. This build step copies them into `app/_bundled/`, where
`app.bundled` looks first; a checkout (or an editable install) finds them at the top instead.
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


class BuildPyWithBundledData(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads them from the checkout itself
        target = Path(self.build_lib) / "app" / "_bundled"
        for name, source in BUNDLED.items():
            destination = target / name
            destination.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(source, destination, ignore=IGNORED, dirs_exist_ok=True)
            else:
                shutil.copy2(source, destination)


setup(cmdclass={"build_py": BuildPyWithBundledData})
