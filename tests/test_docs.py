"""The documentation builds without a warning, running every example.

Skipped where the ``docs`` extra is not installed. The build executes the
gallery scripts in ``examples/`` (about a minute here with the kernels
already cached), so it also checks that every example runs.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import skdeep

ROOT = Path(__file__).resolve().parents[1]

# Where the built site is published (estimators' HTML repr links there).
BASE_URL = re.search(r'html_baseurl = "([^"]+)"',
                     (ROOT / "docs" / "conf.py").read_text()).group(1)

pytestmark = pytest.mark.docs

for module in ("sphinx", "sphinx_gallery", "numpydoc", "myst_parser",
               "pydata_sphinx_theme", "matplotlib", "pandas", "dask_ml",
               "distributed", "skops"):
    pytest.importorskip(module, reason=f"docs extra: {module} is missing")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("html")
    doctrees = tmp_path_factory.mktemp("doctrees")
    env = dict(os.environ, MPLBACKEND="Agg",
               PYTHONPATH=os.pathsep.join(
                   [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-E", "-q",
         "-b", "html", "-d", str(doctrees),
         # Run every example even where an earlier build ran it.
         "-D", "sphinx_gallery_conf.run_stale_examples=1",
         str(ROOT / "docs"), str(out)],
        capture_output=True, text=True, env=env, cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-5000:]
    return out


def test_every_public_name_has_an_api_page(site):
    generated = site / "api" / "generated"
    missing = [name for name in skdeep.__all__ if name != "hookimpl"
               and not (generated / f"skdeep.{name}.html").exists()]
    assert not missing
    from skdeep import hookspecs, plugin_types, testing

    for module in (plugin_types, testing):
        for name in module.__all__:
            assert (generated / f"{module.__name__}.{name}.html").exists(), name
    for name in dir(hookspecs):
        if name.startswith("skdeep_"):
            assert (generated / f"skdeep.hookspecs.{name}.html").exists(), name
    assert "skdeep.hookimpl" in (site / "api" / "index.html").read_text()


def test_every_example_ran_with_its_output(site):
    examples = sorted(p.stem for p in (ROOT / "examples").glob("plot_*.py"))
    assert len(examples) >= 8
    for name in examples:
        page = (site / "auto_examples" / f"{name}.html").read_text()
        assert "sphx-glr-script-out" in page or "sphx-glr-single-img" in page, name
    figures = list((site / "_images").glob("sphx_glr_plot_*_001.png"))
    assert len(figures) >= 4


def test_markdown_pages_are_carried_over(site):
    for page in ("usage", "plugins", "architecture", "scaling", "persistence"):
        assert (site / f"{page}.html").exists(), page
    assert "Writing a skdeep plugin" in (site / "plugins.html").read_text()


def test_html_repr_links_to_the_api_page(site):
    from skdeep import MLPClassifier, MLPRegressor

    for cls in (MLPClassifier, MLPRegressor):
        link = cls()._get_doc_link()
        assert link.startswith(BASE_URL)
        relative = link.removeprefix(BASE_URL)
        assert (site / relative).exists(), link
        assert link in cls()._repr_html_()
