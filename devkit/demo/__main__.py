"""``python -m devkit.demo [--port 8700] ...``: see :mod:`devkit.demo.cli`."""

import sys

from devkit.demo.cli import main

sys.exit(main())
