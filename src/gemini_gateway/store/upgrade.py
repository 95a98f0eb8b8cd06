"""`python -m gemini_gateway.store.upgrade`: migrate the store whose URL comes on stdin.

The child process of `store.database.upgrade_in_child`: Alembic's progress goes to stderr a line
each; a failure is described in one line on stdout, with exit status 1 (stdout, because what a
driver's thread prints to stderr while the interpreter ends may come after it).
"""

from __future__ import annotations

import logging
import sys

from gemini_gateway.store.database import upgrade


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    url = sys.stdin.read().strip()
    try:
        upgrade(url)
    except Exception as exc:  # said in one line for the parent's store_error, not a traceback
        message = " ".join(str(exc).split())[:300]
        sys.stdout.write(f"{type(exc).__name__}: {message}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
