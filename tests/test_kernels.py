"""Tests of amos_tutorial.utils.kernels: the kernels that execute chapters run on an encrypted channel."""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient

from amos_tutorial.utils import kernels as kernel


def _run_one_cell(capfd, km=None):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(6 * 7)")])
    if km is None:
        NotebookClient(nb, timeout=60, kernel_name="python3").execute()
    else:
        NotebookClient(nb, km=km, timeout=60).execute(cleanup_kc=True)
        assert not km.is_alive()  # a client that did not make the manager leaves its kernel running unless told
    return nb.cells[0].outputs[0]["text"], capfd.readouterr().err


@pytest.mark.skipif(not kernel.curve_available(), reason="pyzmq without CurveZMQ")
def test_a_kernel_manager_of_the_module_runs_a_cell_without_the_tcp_warning(capfd):
    text, err = _run_one_cell(capfd, km=kernel.kernel_manager("python3"))
    assert text.strip() == "42"
    assert "without encryption" not in err


@pytest.mark.skipif(not kernel.curve_available(), reason="pyzmq without CurveZMQ")
def test_a_plain_client_is_encrypted_after_encrypt_kernels(capfd):
    # conftest calls encrypt_kernels(); myst-nb's own client (no km passed) is covered the same way.
    from jupyter_client.manager import KernelManager

    assert kernel.encrypt_kernels() is True
    assert KernelManager().transport_encryption == "auto"
    text, err = _run_one_cell(capfd)
    assert text.strip() == "42"
    assert "without encryption" not in err


def test_the_book_build_loads_the_extension():
    import yaml
    from conftest import REPO_ROOT

    config = yaml.safe_load((REPO_ROOT / "_config.yml").read_text(encoding="utf-8"))
    assert "amos_tutorial.utils.kernels" in config["sphinx"]["extra_extensions"]
    assert kernel.setup(None)["parallel_read_safe"] is True


def test_the_warning_is_seen_when_encryption_is_off(capfd):
    # The two tests above would pass vacuously if the kernel's stderr were not captured.
    from jupyter_client.manager import KernelManager

    text, err = _run_one_cell(capfd, km=KernelManager(kernel_name="python3", transport_encryption="disabled"))
    assert text.strip() == "42"
    assert "without encryption" in err
