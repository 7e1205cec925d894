"""The generated command-line reference holds every subcommand and every option.

The page is generated from :func:`mfval.cli.main.build_parser` by the documentation's
extension (``docs/_ext/mfval_docs.py``); no help text is written twice.
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def extension():
    pytest.importorskip("docutils", reason="the documentation extra is not installed")
    spec = importlib.util.spec_from_file_location(
        "mfval_docs", REPO / "docs" / "_ext" / "mfval_docs.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_option_of_every_subcommand_is_in_the_reference(extension):
    from mfval.cli.main import build_parser

    page = extension.cli_page()
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert sub.choices, "no subcommand"
    for name, subparser in sub.choices.items():
        section = page.split(f".. _cli-{name}:", 1)[1].split(".. _cli-", 1)[0]
        for action in subparser._actions:
            for option in action.option_strings:
                assert f"``{option}" in section or f", {option}" in section, (name, option)
            if action.help and action.help != argparse.SUPPRESS and "%(" not in action.help:
                assert extension.escape(action.help) in section, (name, action.help)


def test_api_pages_cover_every_installed_package(extension):
    pages = extension.api_pages()
    for package in extension.installed_packages():
        assert f".. automodule:: {package}" in pages[package]
        for module in extension.package_modules(package):
            assert f".. automodule:: {module}" in pages[package]
