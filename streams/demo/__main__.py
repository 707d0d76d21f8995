"""``python -m streams.demo [--port 8700] ...``: see :mod:`streams.demo.cli`."""

import sys

from streams.demo.cli import main

sys.exit(main())
