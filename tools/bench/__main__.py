"""`python -m tools.bench <name>|all`, the same as `python -m hashtag_kit bench ...`."""

import sys

from hashtag_kit.cli import main

sys.exit(main(["bench", *sys.argv[1:]]))
