"""Sphinx configuration of the documentation site: the pages in ``docs/*.rst`` and the API
reference built from the docstrings (``sphinx-build -W -b html docs docs/_build/html``)."""

project = "gns-pyro"
author = "gns-pyro developers"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.viewcode"]
autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
exclude_patterns = ["_build", "*.png"]
html_theme = "alabaster"
suppress_warnings = ["ref.python"]  # ambiguous short names across modules
