"""``python -m keys``: see keys/cli.py."""

from __future__ import annotations

import sys

from keys.cli import main

if __name__ == "__main__":
    sys.exit(main())
