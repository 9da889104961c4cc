"""`python -m hashtag_kit`: the command line (`hashtag_kit.cli`)."""

import sys

from hashtag_kit.cli import main

if __name__ == "__main__":
    sys.exit(main())
