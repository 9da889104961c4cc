"""Reporting a run: the comparison tables beside the published figures,
the plots, the HTML report."""
