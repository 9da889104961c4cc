"""Repository tooling (not installed with the package): the notebook runner (`reproduce`), the
studies after notebook 05 (`studies`), the benchmarks (`bench`), the README and datasheet
generators. The command line runs the first three from a checkout's root
(`python -m hashtag_kit reproduce|evaluate|bench`); the others run as `python tools/<name>.py`."""
