"""examples/quickstart.ipynb runs top to bottom in a fresh kernel, as a student would run it, on
synthetic data instead of MNIST (the first cell says which data; tests never need the network)."""

from __future__ import annotations

import pytest

from tests.conftest import REPO

nbformat = pytest.importorskip("nbformat", reason="pip install 'cnnlab[dev]'")
nbclient = pytest.importorskip("nbclient", reason="pip install 'cnnlab[dev]'")

NOTEBOOK = REPO / "examples" / "quickstart.ipynb"


def _outputs(cell, kind: str) -> list:
    return [output for output in cell.outputs if kind in output.get("data", {})]


def _html(cell) -> list[str]:
    return [output["data"]["text/html"] for output in _outputs(cell, "text/html")]


def test_the_quickstart_is_committed_without_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(cell.outputs == [] and cell.execution_count is None for cell in code)


@pytest.mark.processes
def test_the_quickstart_runs_top_to_bottom_in_a_fresh_kernel(tmp_path):
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    (parameters,) = [cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", [])]
    parameters.source = f'runs_dir = "{tmp_path / "runs"}"\ndata = {{"data.dataset": "synthetic"}}'
    nbclient.NotebookClient(notebook, timeout=300, resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    cells = {cell.source.splitlines()[-1]: cell for cell in notebook.cells if cell.cell_type == "code"}
    (report,) = [html for html in _html(cells["run"]) if 'class="cnnlab-report"' in html]
    assert "confusion matrix" in report and report.count("data:image/png;base64,") == 3
    assert _outputs(cells["run.gradcam(7)"], "image/png")
    assert any("McNemar" in html for html in _html(cells["comparison"]))
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    printed = "".join(output.get("text", "") for output in outputs)
    assert "test accuracy" in printed and "agrees on 100.00%" in printed
    assert not [output for output in outputs if output.output_type == "error"] and "INFO:" not in printed
    reports = {path.parent.parent.name for path in (tmp_path / "runs").glob("*/*/report.html")}
    assert reports == {"mnist_fast", "mnist_baseline"}
