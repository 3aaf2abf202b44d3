"""mdeinterp: depth selectivity of hidden units in monocular depth estimation networks (ICCV 2021 reproduction)."""

__version__ = "0.1.0"
