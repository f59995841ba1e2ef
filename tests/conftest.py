"""Test-suite settings shared by every test module.

Hypothesis profiles (``--hypothesis-profile NAME``; default ``"reproducible"``):

* ``"reproducible"``: each property test draws the same examples on every run (seeded by a
  hash of the test, Hypothesis' ``derandomize``), so that a run of the suite, in CI or on a
  newcomer's machine, gives the same verdict as the last (the brief: no global random
  state; same seed, same numbers). A new example is found only when a test changes.
* ``"explore"``: fresh random examples on every run (as many as each test's settings ask),
  and Hypothesis' example database (``.hypothesis/``) to replay what failed. For hunting:
  property tests have found real defects this way (``tests/test_worktab.py``'s
  tolerance, 2026-12-06).
  ``python -m pytest --hypothesis-profile explore tests/test_rwork.py``.
"""

from __future__ import annotations

from hypothesis import settings

settings.register_profile("reproducible", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile("reproducible")
