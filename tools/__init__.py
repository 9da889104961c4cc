"""Repository tooling (not installed with the package): the README and datasheet generators
and the loaders benchmark. Run each as `python tools/<name>.py --help`."""
