"""`python -m tools.bench <name>|all`, the same as `python -m hashtag_kit bench ...`."""

import sys

from tools.bench import main

sys.exit(main())
