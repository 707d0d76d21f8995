"""``python -m devkit.demo [--port 8700] ...``: see :mod:`devkit.demo.command_line`."""

import sys

from devkit.demo.command_line import main

sys.exit(main())
