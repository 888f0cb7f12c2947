"""`python -m fraudit.cli`: the `fraudit` command."""

import sys

from fraudit.cli import main

sys.exit(main())
