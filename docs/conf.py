"""Sphinx configuration of the skdeep documentation.

Build with ``python -m sphinx -W -b html docs docs/_build/html`` after
``pip install ".[docs]"``. The gallery runs every script in ``examples/``
during the build, so the first build in a fresh environment also compiles
skdeep's kernels (10-20 s); later builds load them from the cache.
"""

import importlib.util
import os
import re
import sys
import warnings
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
# Document the source tree next to this file, not another installed copy.
sys.path.insert(0, str(ROOT))
# Example scripts run in this process; child processes they start (joblib,
# Dask workers) must import the same skdeep.
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
)

import skdeep  # noqa: E402

project = "skdeep"
author = "The skdeep developers"
copyright = "the skdeep developers"
version = release = skdeep.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = ["_build", "**/README.md", "auto_examples/*.ipynb",
                    "auto_examples/*.py", "auto_examples/*.zip"]

# The ONNX exporter (``skdeep.onnx``) is optional: document it when the
# module is in the tree, and leave its page out otherwise.
HAVE_ONNX = importlib.util.find_spec("skdeep.onnx") is not None
if not HAVE_ONNX:
    exclude_patterns.append("api/onnx.rst")

# -- API reference -----------------------------------------------------------
# Pages are generated per public name as api/generated/<full name>.html, e.g.
# api/generated/skdeep.MLPClassifier.html; estimators' HTML repr links there.
autosummary_generate = True
autodoc_default_options = {"member-order": "groupwise"}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True

# -- Markdown pages ----------------------------------------------------------
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]

# -- Gallery -----------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "within_subsection_order": "FileNameSortKey",
    "doc_module": ("skdeep",),
    "backreferences_dir": "api/generated/backreferences",
    "reference_url": {"skdeep": None},
    "abort_on_example_error": True,
    "min_reported_time": 1,
    "show_memory": False,
    "download_all_examples": False,
    "matplotlib_animations": False,
    "remove_config_comments": True,
}

# Warnings that examples emit on purpose (convergence at a small max_iter) do
# not belong in the rendered output.
warnings.filterwarnings("ignore", category=UserWarning,
                        message="Matplotlib is currently using agg")

# -- HTML --------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"skdeep {release}"
html_baseurl = "https://skdeep.readthedocs.io/en/stable/"
html_static_path = ["_static"]
html_css_files = ["skdeep.css"]
html_show_sourcelink = False
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "navbar_align": "left",
    "header_links_before_dropdown": 6,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
    "secondary_sidebar_items": ["page-toc"],
}
html_sidebars = {"index": [], "auto_examples/index": []}


_SKLEARN_REF = re.compile(r":ref:`([^`<]*?)\s*<[^`>]*>`|:ref:`([^`]*)`")


def _unlink_sklearn_refs(app, what, name, obj, options, lines):
    """Inherited scikit-learn docstrings (``score``) cite labels of
    scikit-learn's own guide; keep their text, drop the link."""
    if getattr(obj, "__module__", "").startswith("sklearn"):
        lines[:] = [_SKLEARN_REF.sub(lambda m: m.group(1) or m.group(2), line)
                    for line in lines]


def _drop_missing_onnx(app, docname, source):
    """Leave the ONNX entries out of the API index (the last section)."""
    if docname == "api/index":
        text = source[0].replace("   onnx\n", "")
        source[0] = text.split(".. _api-onnx:")[0]


def setup(app):
    app.connect("autodoc-process-docstring", _unlink_sklearn_refs)
    if not HAVE_ONNX:
        app.connect("source-read", _drop_missing_onnx)
