"""README.md and docs/*.md as a reader follows them: every `agentdash ...` command in a shell
block names a subcommand and flags the CLI has (checked against the parser itself, in
process), every `python benchmarks/...` and `make` line names what exists, every relative link
and anchor leads somewhere, every repository path quoted exists, the outputs a page shows of
`agentdash plan` and `agentdash simulate` are what those commands print today
(docs/configuration.md has tests/test_configuration_page.py, docs/dashboard.md's demo run
tests/test_dashboard_page.py)."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
from pathlib import Path

import pytest

from agentdash import cli
from agentdash.cli import build_parser
from tests.support.cli import AGENTDASH
from tests.support.pages import blocks, section

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINKED = [*PAGES, ROOT / "CHANGELOG.md"]
"""The pages whose links and quoted paths are checked: CHANGELOG.md is a dated record, so it
narrates history, but what it points to must exist."""
SHELL = {"sh", "bash", "console", "shell"}
HISTORY = re.compile(
    r"previous release|this release|earlier release|before this|it used to|now that"
    r"|commit [0-9a-f]{7,}|under the old|found and fixed|was fixed|it has now|no longer does"
    r"|an earlier version|used to be|of the time\b|[;(] ?before,",
    re.IGNORECASE,
)
ENVIRONMENT = re.compile(r"^(?:[A-Z_][A-Z0-9_]*=\S*\s+)+")
"""Variables set for one command (`AGENTDASH_PURE=1 python ...`): the command follows."""
TOP_FOLDERS = "controller|agentdash|tests|benchmarks|deploy|docs|examples|screenshots|styles"
QUOTED_PATH = re.compile(rf"`((?:{TOP_FOLDERS})/[\w./-]*)(?:::\w+)?`")


def _page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


def shell_lines(page: Path) -> list[str]:
    """The commands of a page's shell blocks: continuations joined, prompts and comments cut."""
    return commands_in(page.read_text())


def commands_in(text: str) -> list[str]:
    """The commands of the shell blocks of some Markdown, as shell_lines says."""
    lines: list[str] = []
    fence: str | None = None
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped.startswith("```"):
            fence = stripped[3:].strip() if fence is None else None
            continue
        if fence not in SHELL:
            continue
        line = stripped.removeprefix("$ ")
        if lines and lines[-1].endswith("\\"):
            lines[-1] = lines[-1][:-1] + " " + line
        else:
            lines.append(line)
    return [_cut(ENVIRONMENT.sub("", line)) for line in lines if line and not line.startswith("#")]


def _cut(line: str) -> str:
    """The line up to a comment, a redirection, a pipe or a `&` (run in the background) outside
    `[...]` (`[--a | --b]` is one option, not a pipe)."""
    depth = 0
    for at, char in enumerate(line):
        depth += {"[": 1, "]": -1}.get(char, 0)
        if depth == 0 and line[at : at + 2] in (" #", " >", " |", "&&", " &", "; "):
            return line[:at].strip()
    return line.strip()


def words(command: str) -> list[str]:
    """A command's words, an optional part's brackets taken off (`[--json]` is `--json`), and
    the `|` between alternatives and a `...` left out."""
    stripped = (word.strip("[]") for word in command.split())
    return [word for word in stripped if word not in ("", "|", "...")]


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _other_positionals(parser: argparse.ArgumentParser) -> bool:
    return any(
        not action.option_strings and not isinstance(action, argparse._SubParsersAction)
        for action in parser._actions
    )


def check_agentdash(command: str) -> str | None:
    """What is wrong with one `agentdash ...` line, or None. A bare word where the parser
    takes only a subcommand must be one; a flag must be in that subcommand's --help."""
    parser = build_parser()
    path = ["agentdash"]
    rest = words(command)[1:]
    at = 0
    while at < len(rest):
        word = rest[at]
        at += 1
        if word.startswith("-"):
            flag = word.split("=", 1)[0]
            action = parser._option_string_actions.get(flag)
            if action is None:
                return f"{flag} is not in `{' '.join(path)} --help`"
            value = word.split("=", 1)[1] if "=" in word else None
            if value is None and action.nargs != 0 and at < len(rest):
                value = rest[at]
                at += 1
            wrong = _not_a_choice(action, value)
            if wrong is not None:
                return f"{flag} {wrong!r} is not one of {sorted(map(str, action.choices or ()))}"
            continue
        commands = _subcommands(parser)
        if word in commands:
            parser = commands[word]
            path.append(word)
        elif commands and not _other_positionals(parser):
            return f"{word!r} is not a command of `{' '.join(path)}`: {', '.join(commands)}"
    return None


def _not_a_choice(action: argparse.Action, value: str | None) -> str | None:
    """The first of a value's alternatives (`a|b`) that the flag does not take, where the
    flag has choices and the value is not a placeholder (FILE, N)."""
    if not action.choices or value is None or value.isupper():
        return None
    for alternative in value.strip("[]").split("|"):
        if alternative and alternative not in map(str, action.choices):
            return alternative
    return None


def commands_of(prefix: str) -> list[tuple[str, str]]:
    return [
        (_page_id(page), line)
        for page in PAGES
        for line in shell_lines(page)
        if line.split()[:1] == [prefix]
    ]


def test_the_pages_show_agentdash_commands() -> None:
    """The extraction finds what it checks: the quick start's and the pages' commands."""
    found = commands_of("agentdash")
    assert len(found) > 20
    assert {page for page, _ in found} >= {"README.md", "docs/backtest.md", "docs/operating.md"}
    make = [line for page, line in commands_of("make") if page == "README.md"]
    assert make[:2] == ["make demo", "make test"]


@pytest.mark.parametrize(("page", "command"), commands_of("agentdash"))
def test_every_agentdash_command_uses_a_real_subcommand_and_its_flags(
    page: str, command: str
) -> None:
    assert check_agentdash(command) is None, f"{page}: `{command}`: {check_agentdash(command)}"


@pytest.mark.parametrize(
    ("command", "problem"),
    [
        ("agentdash simulat --json", "'simulat' is not a command of `agentdash`"),
        ("agentdash simulate --jsn", "--jsn is not in `agentdash simulate --help`"),
        ("agentdash import keeda FILE", "'keeda' is not a command of `agentdash import`"),
        ("agentdash demo [--headless] [--read-only | --leed]", "--leed is not in"),
        ("agentdash simulate [--policy agentdash|kedda|all]", "--policy 'kedda' is not one of"),
    ],
)
def test_a_wrong_command_is_caught(command: str, problem: str) -> None:
    assert problem in (check_agentdash(_cut(command)) or "")


@pytest.mark.parametrize(("page", "command"), commands_of("python"))
def test_every_benchmark_command_names_a_script_and_flags_it_has(page: str, command: str) -> None:
    script = ROOT / words(command)[1]
    assert script.is_file(), f"{page}: `{command}`: no {script.relative_to(ROOT)}"
    source = _with_its_modules(script)
    for flag in (word.split("=", 1)[0] for word in words(command)[2:] if word.startswith("--")):
        assert f'"{flag}"' in source, f"{page}: `{command}`: {script.name} has no {flag}"


def _with_its_modules(script: Path) -> str:
    """A benchmark's source, and that of the benchmarks beside it that it imports (a set of
    shapes takes its command line from benchmarks/shape_sets.py)."""
    source = script.read_text()
    imported = re.findall(r"^(?:import|from) (\w+)", source, flags=re.MULTILINE)
    beside = (script.parent / f"{name}.py" for name in imported)
    return "\n".join([source, *(path.read_text() for path in beside if path.is_file())])


@pytest.mark.parametrize(("page", "command"), commands_of("make"))
def test_every_make_command_names_a_target(page: str, command: str) -> None:
    makefile = (ROOT / "Makefile").read_text()
    for target in words(command)[1:]:
        assert re.search(rf"(?m)^{re.escape(target)}:", makefile), f"{page}: no target {target}"


def anchors(page: Path) -> set[str]:
    """GitHub's anchors for a page's headings."""
    found = set()
    for line in page.read_text().splitlines():
        if line.startswith("#") and " " in line:
            title = line.lstrip("#").strip().lower()
            found.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return found


def links(page: Path) -> list[str]:
    text = re.sub(r"(?ms)^```.*?^```", "", page.read_text())
    return re.findall(r"\]\(([^)\s]+)\)", text)


@pytest.mark.parametrize("page", LINKED, ids=_page_id)
def test_every_relative_link_leads_to_a_file_and_a_heading(page: Path) -> None:
    for link in links(page):
        if re.match(r"[a-z]+:", link):
            continue  # a web address
        target, _, anchor = link.partition("#")
        where = (page.parent / target).resolve() if target else page
        assert where.exists(), f"{_page_id(page)}: ({link}): no {target}"
        if anchor and where.suffix == ".md":
            assert anchor in anchors(where), f"{_page_id(page)}: ({link}): no heading #{anchor}"


@pytest.mark.parametrize("page", LINKED, ids=_page_id)
def test_every_repository_path_quoted_exists(page: Path) -> None:
    for path in QUOTED_PATH.findall(page.read_text()):
        assert (ROOT / path).exists(), f"{_page_id(page)}: `{path}` does not exist"


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_the_pages_say_what_is_true_now_not_what_changed(page: Path) -> None:
    """Before-and-after belongs in the commit messages; a page says what holds today."""
    found = HISTORY.findall(page.read_text())
    assert not found, f"{_page_id(page)} narrates history: {found}"


def only_command(text: str, subcommand: str) -> list[str]:
    """The arguments of the one `agentdash SUBCOMMAND --config ...` in a section's shell
    blocks (the bare one, on the bundled example, is another command)."""
    found = [
        words(line)[1:]
        for line in commands_in(text)
        if line.split()[:2] == ["agentdash", subcommand] and "--config" in line
    ]
    assert len(found) == 1, f"expected one `agentdash {subcommand} --config` line, got {found}"
    return found[0]


def test_the_plan_shown_is_what_plan_prints(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """docs/operating.md shows one decision of its `plan` command: it is that decision today,
    on the files its `agentdash example NAME > FILE` lines write, as from an installed wheel."""
    text = section(ROOT / "docs" / "operating.md", "## Checking a config and a tick")
    argv = only_command(text, "plan")
    (shown,) = [json.loads(body) for body in blocks(text, "json")]
    monkeypatch.chdir(tmp_path)
    for name, file in re.findall(r"(?m)^agentdash example (\w+) > (\S+)", text):
        assert cli.main(["example", name]) == 0
        Path(file).write_text(capsys.readouterr().out)

    assert cli.main(argv) == 0
    decisions = json.loads(capsys.readouterr().out)["decisions"]
    assert [d for d in decisions if d["pool"] == shown["pool"]] == [shown], (
        f"docs/operating.md: the `agentdash {' '.join(argv)}` example differs from its output"
    )


@pytest.mark.e2e
def test_the_bundled_examples_report_is_what_simulate_prints() -> None:
    """docs/backtest.md's report of the bundled example, against the command it shows, run
    as a user runs it (the replay is deterministic)."""
    text = section(ROOT / "docs" / "backtest.md", "### The bundled example")
    argv = only_command(text, "simulate")
    (shown,) = blocks(text, "")

    result = subprocess.run(
        [AGENTDASH, *argv], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout == shown, (
        f"docs/backtest.md: the report differs from `agentdash {' '.join(argv)}`: paste its output"
    )


def test_the_bundled_examples_counts_in_its_reading_are_the_report_s() -> None:
    """The paragraph that reads the report quotes its scale events and reversals (agentdash
    against KEDA and the HPA): the same figures as the report above it."""
    text = section(ROOT / "docs" / "backtest.md", "### The bundled example")
    (shown,) = blocks(text, "")
    reading = " ".join(text.split("```")[-1].split())
    for row, said in (("scale events", "scale events"), ("reversals within 5 min", "reversals")):
        (line,) = [line for line in shown.splitlines() if line.startswith(row)]
        counts = line[len(row) :].split()
        quoted = re.search(rf"{said} \((\S+) against (\S+) and (\S+)\)", reading)
        assert quoted is not None, said
        assert list(quoted.groups()) == counts, f"docs/backtest.md: {said} quoted differ"


TRACE_LIMIT = re.compile(r"(>=|>|<=) ([\d,]+)")


def _trace_fields() -> dict[str, tuple[str, list[tuple[str, float]]]]:
    """docs/backtest.md's table of a trace line's keys: key -> (what it is, its limits)."""
    text = section(ROOT / "docs" / "backtest.md", "## `agentdash simulate`")
    rows = re.findall(r"(?m)^\| `(\w+)` \| (.+?) \| (.+?) \|$", text)
    return {
        key: (meaning, [(op, float(n.replace(",", ""))) for op, n in TRACE_LIMIT.findall(limits)])
        for key, meaning, limits in rows
    }


def test_the_trace_format_says_what_each_key_is_and_its_limits() -> None:
    """A user converting a request log needs to know what `work_s` and `tokens` stand for,
    not only their names: each key has a row saying what it is and its limits."""
    fields = _trace_fields()
    assert sorted(fields) == sorted(["t", "pool", "work_s", "tokens"])
    assert "slot" in fields["work_s"][0]
    assert "queue" in fields["work_s"][0]
    assert "budget" in fields["tokens"][0]
    for key in ("t", "work_s", "tokens"):
        assert fields[key][1], f"docs/backtest.md: no limits given for {key}"


@pytest.mark.parametrize("key", ["t", "work_s", "tokens"])
def test_the_trace_limits_documented_are_the_ones_the_loader_keeps(key: str) -> None:
    """Each documented bound is accepted at the bound and refused just past it, as
    `agentdash simulate` reads the file."""
    from controller.core.config import ConfigError, load_config
    from controller.simulate.trace import parse_trace

    config = load_config(ROOT / "examples" / "backtest.yaml")
    base: dict[str, object] = {"t": 1, "pool": "acme-research", "work_s": 1, "tokens": 1}
    for op, bound in _trace_fields()[key][1]:
        at: float = int(bound) if key == "tokens" else bound
        past: float = at + (1 if key == "tokens" else 0.5) * (1 if op.startswith("<") else -1)
        line = {**base, key: at}
        if op in ("<=", ">="):
            assert len(parse_trace([json.dumps(line)], config)) == 1, (key, op, at)
        with pytest.raises(ConfigError):
            parse_trace([json.dumps({**base, key: past if op != ">" else at})], config)


def test_the_overrides_a_page_puts_with_nats_kv_are_valid_overrides() -> None:
    """An operator who copies the `nats kv put` of operating.md gets a pin and a pause, not an
    `invalid write skipped`."""
    from controller.coordination.overrides import load_overrides
    from controller.core.config import load_config

    page = (ROOT / "docs" / "operating.md").read_text()
    (value,) = re.findall(r"nats kv put agentdash_overrides overrides \\\n\s*'(.+)'", page)
    overrides = load_overrides(value, load_config(ROOT / "examples" / "agentdash.yaml"), "page")
    assert overrides.pins["acme-research"].replicas == 2
    assert overrides.paused_tenants == {"initech"}
