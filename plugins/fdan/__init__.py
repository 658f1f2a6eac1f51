"""FDAN (cross-modal feature distribution adaptation, Li et al. 2024): the network so far.

The ``fdan`` method (audio-visual features, LMMD training, bench wiring) is being built in issue 5;
until it lands this package registers nothing.
"""
