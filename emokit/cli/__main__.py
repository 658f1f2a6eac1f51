"""``python -m emokit.cli``: the ``emokit`` command."""

import sys

from emokit.cli import main

sys.exit(main())
