"""The image a platform team builds: the Dockerfile (read, since no docker daemon runs here) and
.dockerignore; the user and command it runs, as the Deployment says them too."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

from tests.support.deploy import DAEMON, ROOT, container, pod


def stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's instructions (continuations joined, ARGs before the first FROM
    substituted), one list per stage."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    steps = [tuple(line.split(None, 1)) for line in lines if line and not line.startswith("#")]
    found: list[list[tuple[str, str]]] = []
    defaults: dict[str, str] = {}
    for keyword, rest in steps:
        if keyword.upper() == "ARG" and not found:
            name, _, value = rest.partition("=")
            defaults[name] = value
            continue
        if keyword.upper() == "FROM":
            for name, value in defaults.items():
                rest = rest.replace(f"${{{name}}}", value)
            found.append([])
        found[-1].append((keyword.upper(), rest))
    return found


def each(stage: list[tuple[str, str]], keyword: str) -> list[str]:
    return [rest for k, rest in stage if k == keyword]


def test_the_image_builds_the_wheel_in_one_stage_and_installs_it_into_a_slim_python() -> None:
    build, runtime = stages()
    (source,) = each(build, "FROM")
    name = source.split()[-1]
    assert re.fullmatch(r"(?i)\S+ AS \S+", source), "the build stage is named"
    assert any("pip wheel" in run for run in each(build, "RUN"))

    (base,) = each(runtime, "FROM")
    version = re.fullmatch(r"python:3\.(\d+)-slim\S*", base)
    assert version, base
    assert int(version[1]) >= 11, base
    # It installs what the build stage made, and never copies in the source tree itself.
    installs = [run for run in each(runtime, "RUN") if "pip install" in run]
    assert installs
    assert all(f"from={name}" in run for run in installs)
    assert all(f"--from={name}" in copied for copied in each(runtime, "COPY"))


def test_the_image_runs_the_daemon_as_a_numeric_user_that_is_not_root() -> None:
    runtime = stages()[-1]
    user = each(runtime, "USER")[-1]
    uid, _, gid = user.partition(":")
    assert uid.isdigit(), "runAsNonRoot can check only a numeric UID"
    assert int(uid) != 0
    assert gid.isdigit()
    assert int(gid) != 0
    assert pod()["spec"]["securityContext"]["runAsUser"] == int(uid)

    (entrypoint,) = each(runtime, "ENTRYPOINT")
    assert json.loads(entrypoint) == DAEMON
    # The Deployment says the same explicitly, so `kubectl get -o yaml` shows what runs.
    assert container()["command"] + container()["args"] == DAEMON


def test_the_image_writes_nothing_outside_tmp() -> None:
    env: dict[str, str] = {}
    for line in each(stages()[-1], "ENV"):
        env |= dict(word.split("=", 1) for word in shlex.split(line))
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    for home in ("HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        assert Path(env[home]).is_relative_to("/tmp"), home


def test_dockerignore_keeps_the_venv_and_git_out_of_the_build() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv"} <= set(ignored)
    assert not {"agentdash", "controller", "styles", "pyproject.toml"} & set(ignored)
