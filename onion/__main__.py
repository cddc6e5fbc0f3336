"""``python -m onion``: see onion.cli."""

import sys

from onion.cli import main

sys.exit(main())
