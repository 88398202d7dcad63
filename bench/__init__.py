"""Benchmarks run by `make bench`; each prints its peers' figures and the ratios."""
