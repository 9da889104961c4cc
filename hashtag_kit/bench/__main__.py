"""`python -m hashtag_kit.bench <name>|all`, the same as `python -m hashtag_kit bench ...`."""

import sys

from hashtag_kit.bench import main

sys.exit(main())
