"""Put on PYTHONPATH by gpu_checks.py only: numba-cuda releases that register an overload
of ``numpy.row_stack`` at import fail with NumPy >= 2.5, which removed that alias of
``numpy.vstack``; restore the alias so that ``numba.cuda`` can be imported there."""
import numpy

if not hasattr(numpy, "row_stack"):
    numpy.row_stack = numpy.vstack  # noqa: NPY201 - restoring the removed alias
