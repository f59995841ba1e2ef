"""Execute every notebook in ``proofs_notebooks/`` (the jupytext ``.py`` is the source of truth).

Each notebook runs top to bottom in a fresh ``python3`` kernel via
:mod:`nbclient`, in its own directory, within :data:`TIMEOUT_S` seconds. The
paired ``.ipynb`` must hold the same cells as the ``.py`` and no stored outputs.
"""

from __future__ import annotations

import pathlib
import time

import pytest

jupytext = pytest.importorskip("jupytext")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

ROOT = pathlib.Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "proofs_notebooks"
TIMEOUT_S = 60


def _sources() -> list[pathlib.Path]:
    """One path per notebook: the ``.py`` where there is one, else the ``.ipynb``."""
    if not NB_DIR.is_dir():
        return []
    pys = sorted(NB_DIR.glob("*.py"))
    stems = {p.stem for p in pys}
    return pys + sorted(p for p in NB_DIR.glob("*.ipynb") if p.stem not in stems)


NOTEBOOKS = _sources()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_executes(path):
    nb = jupytext.read(path)
    client = nbclient.NotebookClient(
        nb,
        timeout=TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    t0 = time.perf_counter()
    client.execute()
    elapsed = time.perf_counter() - t0
    assert elapsed < TIMEOUT_S, f"{path.name} took {elapsed:.1f} s (limit {TIMEOUT_S} s)"


PAIRED = [p for p in NOTEBOOKS if p.suffix == ".py"]


@pytest.mark.parametrize("path", PAIRED, ids=[p.name for p in PAIRED])
def test_ipynb_paired_and_clean(path):
    ipynb = path.with_suffix(".ipynb")
    assert ipynb.exists(), f"{ipynb.name} missing: run `jupytext --to ipynb {path.name}`"
    nb_py = jupytext.read(path)
    nb_ipynb = jupytext.read(ipynb)
    src_py = [(c.cell_type, c.source) for c in nb_py.cells]
    src_ipynb = [(c.cell_type, c.source) for c in nb_ipynb.cells]
    assert src_py == src_ipynb, f"{ipynb.name} is out of sync with {path.name}: re-run jupytext"
    for cell in nb_ipynb.cells:
        if cell.cell_type == "code":
            assert not cell.get("outputs"), f"{ipynb.name} stores outputs: keep it clean"
            assert cell.get("execution_count") is None
