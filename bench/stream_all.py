"""Bare mitmdump baseline for ``make bench``: stream every response, nothing else."""


def responseheaders(flow):
    flow.response.stream = True
