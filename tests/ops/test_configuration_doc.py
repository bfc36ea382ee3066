"""docs/configuration.md documents every configuration key and is up to date with the models."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "gen_configuration", DOCS / "gen_configuration.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_configuration_key_has_a_meaning() -> None:
    generator = _generator()
    missing = [key for key in generator.keys() if not generator.MEANINGS.get(key)]
    assert not missing, f"add these to MEANINGS in docs/gen_configuration.py: {missing}"
    stale = set(generator.MEANINGS) - set(generator.keys())
    assert not stale, f"MEANINGS has keys the settings no longer have: {stale}"


def test_configuration_page_is_regenerated() -> None:
    page = (DOCS / "configuration.md").read_text(encoding="utf-8")
    assert page == _generator().render(), "run: python docs/gen_configuration.py"
