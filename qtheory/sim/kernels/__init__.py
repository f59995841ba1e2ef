"""Simulation kernels: :mod:`.cpu` (Numba ``njit``) and :mod:`.gpu` (``numba.cuda``)."""

__all__: list[str] = []
