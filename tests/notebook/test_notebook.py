"""lbdsl in a Jupyter notebook, executed by a real kernel (nbclient, ipykernel): a PyTorch
model imported, inverted on arrays, its figure shown inline, and ``verbose=False`` silent."""

from __future__ import annotations

import sys

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("torch")

CELLS = [
    # 0: a PyTorch encoder, imported through ONNX
    """import numpy as np, torch, lbdsl
torch.manual_seed(0)
encoder = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 96), torch.nn.ReLU())
spec = lbdsl.from_torch(encoder, torch.zeros(1, 1, 8, 8), out=OUT, name="encoder")""",
    # 1: inverted on arrays, quietly
    """from lbdsl.tasks.data import image
u = image("shepp_logan", (8, 8)).reshape(1, 8, 8)
f = spec.forward(u)
result = spec.invert(f, truth=u, regulariser="0.01 * tv")""",
    # 2: a whole spec solved quietly, with arrays
    """[again] = lbdsl.loads(spec.to_text() + '''
invert encoder {
    truth = given
    data = given
    regulariser = 0.01 * tv
}''').solve(verbose=False, data=f, truth=u)""",
    # 3: the result shown: numbers with units and the figure inline
    "result",
]


def test_a_notebook_imports_torch_inverts_arrays_and_is_quiet(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(f"OUT = {str(tmp_path)!r}")]
    nb.cells += [nbformat.v4.new_code_cell(source) for source in CELLS]
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    outputs = [cell.outputs for cell in nb.cells]
    assert outputs[2] == [] and outputs[3] == []          # verbose=False: nothing at all
    [shown] = outputs[4]
    html = shown["data"]["text/html"]
    assert "PSNR" in html and " dB" in html and "data:image/png;base64," in html
