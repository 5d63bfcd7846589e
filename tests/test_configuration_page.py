"""docs/configuration.md, the reference of agentdash.yaml: what docs/generate.py makes from the
config's schema, every field with a word of what it does, an example that loads, and the
mistake it shows (as operating.md does) the line check-config prints for it."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

from agentdash import cli

ROOT = Path(__file__).resolve().parent.parent


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_generate", ROOT / "docs" / "generate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_configuration_page_is_what_the_schema_makes() -> None:
    generate = _generator()
    assert (ROOT / "docs" / "configuration.md").read_text() == generate.render(), (
        "docs/configuration.md differs from the config's schema: run `python docs/generate.py`"
        " (or `make docs`) and commit the result"
    )


def test_the_configuration_page_documents_every_pool_field() -> None:
    from controller.core.config import PoolConfig

    page = (ROOT / "docs" / "configuration.md").read_text()
    for field in PoolConfig.model_fields:
        assert f"| `{field}`" in page, field


def test_the_configuration_page_says_what_every_field_is() -> None:
    """A row of the reference with type and default and no word of what the field does leaves
    the reader to guess (what `burst` or `stabilization_seconds` bounds)."""
    page = (ROOT / "docs" / "configuration.md").read_text()
    fields = page.partition("## Every field")[2].partition("## The default `behavior`")[0]
    rows = [row for row in fields.splitlines() if row.startswith("| `")]
    assert rows
    unsaid = [row.split(" | ")[0] for row in rows if row.endswith(" |  |")]
    assert unsaid == [], "docs/configuration.md: fields with no description (docs/generate.py)"


def test_the_configuration_page_example_is_a_valid_config(tmp_path: Path) -> None:
    from controller.core.config import load_config

    page = (ROOT / "docs" / "configuration.md").read_text()
    example = re.search(r"(?ms)^## An annotated example\n\n```yaml\n(.*?)^```", page)
    assert example is not None
    path = tmp_path / "agentdash.yaml"
    path.write_text(example.group(1))
    assert list(load_config(path).pools) == ["acme-research"]


MISTAKE_SHOWN = re.compile(
    r"(?m)^agentdash: (?P<file>[\w.]+):\d+: pools\.acme-research\.max_replicas: .*got 'ten'$"
)


@pytest.mark.parametrize("page", ["docs/configuration.md", "docs/operating.md"])
def test_the_mistake_shown_is_what_check_config_says_of_it(
    page: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The pages show check-config's one line for `max_replicas: ten` in acme-research: made in
    the config `agentdash example config` writes, it is that line, its line number included."""
    (shown,) = MISTAKE_SHOWN.finditer((ROOT / page).read_text())
    monkeypatch.chdir(tmp_path)
    assert cli.main(["example", "config"]) == 0
    example = capsys.readouterr().out
    pool = example.index("  acme-research:\n")
    mistake = example[pool:].replace("max_replicas: 10", "max_replicas: ten", 1)
    Path(shown["file"]).write_text(example[:pool] + mistake)

    assert cli.main(["check-config", shown["file"]]) == 2
    assert capsys.readouterr().err == shown[0] + "\n", f"{page}: the mistake shown differs"


def test_each_flag_s_default_is_the_one_its_help_names() -> None:
    """The flags' table says each default as `agentdash --help` does (`10`, not `10.0`)."""
    page = (ROOT / "docs" / "configuration.md").read_text()
    helps = {
        action.option_strings[0]: " ".join((action.help or "").split())
        for action in cli.build_parser()._actions
        if action.option_strings
    }
    shown = re.findall(r"(?m)^\| `(--[\w-]+)` \| `\w+` \| `([^`]+)` \|$", page)
    assert shown
    for flag, default in shown:
        assert f"default {default})" in helps[flag], (flag, default, helps[flag])
