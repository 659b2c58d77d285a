"""The operations guide (docs/operations.md) keeps up with the settings: every environment variable a module of
config/settings/ reads is in .env.example, and the guide's configuration reference is the one generated from
.env.example (``python -m config.config_reference``)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from config.config_reference import (
    END,
    ENV_EXAMPLE,
    GUIDE,
    START,
    env_example_names,
    env_example_sections,
    guide_with_reference,
    reference_markdown,
)
from config.settings.paths import BASE_DIR

SETTINGS = BASE_DIR / "config" / "settings"
_READERS = ("env", "os.environ.get", "os.getenv", "os.environ.setdefault")


def variables_read(path: Path) -> set[str]:
    """The variable names a settings module reads: the first argument of ``env(...)``, ``env.<cast>(...)`` and
    ``os.environ.get(...)`` calls, and ``os.environ[...]`` subscripts."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            reader = ast.unparse(node.func)
            if reader in _READERS or (reader.startswith("env.") and reader.count(".") == 1):
                names.add(node.args[0].value)
        elif (
            isinstance(node, ast.Subscript)
            and ast.unparse(node.value) == "os.environ"
            and isinstance(node.slice, ast.Constant)
        ):
            names.add(node.slice.value)
    return {name for name in names if isinstance(name, str) and name.isupper()}


def test_every_variable_the_settings_read_is_in_env_example():
    modules = [path for path in SETTINGS.glob("*.py") if path.name != "test.py"]  # test.py: the suite's own
    read = {name: path.name for path in modules for name in variables_read(path)}
    assert len(read) > 100  # the reader found the settings' variables (134 when written)
    documented = env_example_names(ENV_EXAMPLE.read_text())
    missing = {name: module for name, module in read.items() if name not in documented}
    assert not missing, f"read in config/settings/ but missing from .env.example: {missing}"


def test_the_guide_holds_the_reference_generated_from_env_example():
    guide = GUIDE.read_text()
    assert guide == guide_with_reference(guide, ENV_EXAMPLE.read_text()), (
        "docs/operations.md's configuration reference is out of date: run `python -m config.config_reference`"
    )
    reference = guide.partition(START)[2].partition(END)[0]
    for name in env_example_names(ENV_EXAMPLE.read_text()):
        assert f"`{name}" in reference, name


def test_the_reference_keeps_each_comment_with_the_variables_it_describes():
    text = (
        "# preamble\nIGNORED=1\n\n# --- core ---\n# The first.\nA=1\n# Two at once | with a pipe.\nB=\nC=x\n\n"
        "# a comment that describes nothing\n\n# --- more ---\nD=2\n"
    )
    sections = env_example_sections(text)
    assert [(s.title, [(g.variables, g.comment) for g in s.groups]) for s in sections] == [
        ("core", [([("A", "1")], ["The first."]), ([("B", ""), ("C", "x")], ["Two at once | with a pipe."])]),
        ("more", [([("D", "2")], [])]),
    ]
    assert "| `B`<br>`C=x` | Two at once \\| with a pipe. |" in reference_markdown(text)
    with pytest.raises(ValueError, match="lacks the markers"):
        guide_with_reference("# a guide without markers\n", text)


def test_the_readme_links_the_guide():
    assert "(docs/operations.md)" in (BASE_DIR / "README.md").read_text()
