"""`python -m hashtag_kit.data.embedded` = `python -m hashtag_kit embedded`."""

import sys

from hashtag_kit.cli import main

sys.exit(main(["embedded", *sys.argv[1:]]))
