"""`python -m hashtag_kit.data.embedded`: generate (or reuse) the embedded dataset."""

import sys

from hashtag_kit.data.embedded.generator import main

sys.exit(main())
