"""`python -m app.i18n.cli extract|update|compile|check` (what scripts/i18n runs)."""

from __future__ import annotations

import argparse
import sys

from app.i18n import tooling


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/i18n", description=__doc__)
    parser.add_argument("command", choices=["extract", "update", "compile", "check"])
    command = parser.parse_args(argv).command
    if command == "compile":
        for path in tooling.compile():
            print(f"compiled {path.relative_to(tooling.ROOT)}")
        return 0
    template = tooling.extract()
    if command == "check":
        problems = tooling.check(template)
        for line in problems.lines:
            print(line, file=sys.stderr)
        if problems:
            print(f"{len(problems.lines)} problems in the catalogs", file=sys.stderr)
            return 1
        print(f"{len(template)} texts, translated in every language")
        return 0
    path = tooling.write_template(template)
    print(f"{len(template)} texts in {path.relative_to(tooling.ROOT)}")
    if command == "update":
        for po in tooling.update(template):
            print(f"updated {po.relative_to(tooling.ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
