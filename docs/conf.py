"""Sphinx configuration of the mfval documentation.

Build (warnings are errors)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

Generated at build time, never written by hand (``docs/_ext/mfval_docs.py``): the
command-line reference (from ``mfval.cli.main.build_parser()``), the API pages (every
module of every installed package), and the findings' numbers and tables (from the
records, ``scripts/readme_numbers.py``). The gallery (``examples/``) runs through
sphinx-gallery; its output lies in ``docs/auto_examples`` and ``docs/generated``
(both ignored by git).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import mfval

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(DOCS / "_ext"))

# the gallery's results store: MFVAL_DOCS_CACHE_DIR, else the user's store of `mfval run`
# (MFVAL_CACHE_DIR or ~/.cache/mfval), so that a rebuild reads the simulations back
if os.environ.get("MFVAL_DOCS_CACHE_DIR"):
    os.environ["MFVAL_CACHE_DIR"] = os.environ["MFVAL_DOCS_CACHE_DIR"]
os.environ.setdefault("PYNEST_QUIET", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

project = "mfval"
author = "the mfval developers"
copyright = "2026, the mfval developers"
release = version = mfval.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
    "mfval_docs",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "**.ipynb_checkpoints", "auto_examples/*.ipynb"]
myst_enable_extensions = ["dollarmath", "amsmath", "deflist"]
myst_heading_anchors = 3

autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_typehints = "none"
autodoc_member_order = "bysource"
autosummary_generate = False
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_validation_checks: set = set()

sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "within_subsection_order": "mfval_docs.GalleryOrder",
    "download_all_examples": False,
    "remove_config_comments": True,
    "show_memory": False,
    "image_scrapers": ("matplotlib",),
    "default_thumb_file": None,
    "capture_repr": (),
    "first_notebook_cell": None,
}

html_theme = "pydata_sphinx_theme"
html_title = f"mfval {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_show_sourcelink = False
