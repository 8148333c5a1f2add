"""``python -m linclip``."""

import sys

from .cli import main

sys.exit(main())
