"""A command refuses what it cannot use before it starts its work, in one line: a port in use,
a credentials file or kubeconfig it cannot read (before NATS is contacted), a kubeconfig
that is not one or none at all, a cluster the dashboard cannot reach, a demo's files and
NATS, the file `tune` or `simulate` would write. `check-config` only notes a credentials file
it cannot read here."""

from __future__ import annotations

import contextlib
import json
import os
import random
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentdash.cli import main
from agentdash.example import BACKTEST_CONFIG, BACKTEST_TRACE
from tests.support.cli import AGENTDASH, EXAMPLE, run_without_kube_setup
from tests.support.kmock import kubeconfig_without_context
from tests.support.mistakes import edited, exit_code
from tests.support.terminal import Terminal


def test_a_port_in_use_is_one_line_and_exit_2(tmp_path: Path, nats_server: Any) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = daemon_listening_on(f"127.0.0.1:{port}", nats_server.url)
    assert result.returncode == 2
    assert result.stderr == (
        "agentdash: --http (or AGENTDASH_HTTP): "
        f"cannot listen on 127.0.0.1:{port}: Address already in use\n"
    )
    assert '"type": "stop"' not in result.stdout  # it never said "start"


def test_an_http_host_that_does_not_resolve_says_so_and_exit_2(nats_server: Any) -> None:
    """Not the resolver's number through os.strerror ('Unknown error -2'), and no "stop"
    line on stdout for a daemon that never said "start"."""
    result = daemon_listening_on("1.2.3.4.5:80", nats_server.url)
    assert result.returncode == 2
    assert result.stderr.startswith(
        "agentdash: --http (or AGENTDASH_HTTP): "
        "cannot listen on 1.2.3.4.5:80: the host does not resolve ("
    )
    assert result.stderr.count("\n") == 1
    assert "Unknown error" not in result.stderr
    assert [json.loads(line)["type"] for line in result.stdout.splitlines()] == []


def daemon_listening_on(listen: str, nats_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [AGENTDASH, "--controller-only", "--config", str(EXAMPLE), "--cluster", "simulated",
         "--nats-url", nats_url, "--http", listen],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    "section",
    [{"nats": {"tls": {"ca_file": "nope.pem"}}}, {"nats": {"creds_file": "nope.pem"}},
     {"nats": {"nkey_seed_file": "nope.pem"}},
     {"prometheus": {"url": "https://p", "tls": {"ca_file": "nope.pem"}}},
     {"prometheus": {"url": "https://p", "bearer_token_file": "nope.pem"}}],
    ids=lambda section: json.dumps(section),
)  # fmt: skip
def test_a_missing_credentials_file_is_one_line_and_exit_2_before_connecting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], section: dict[str, Any]
) -> None:
    """No NATS is running here: the file is checked before anything is reached."""
    missing = tmp_path / "nope.pem"
    text = edited(**section).replace("nope.pem", str(missing))
    path = tmp_path / "agentdash.yaml"
    path.write_text(text)
    code = exit_code(lambda: main(["--controller-only", "--config", str(path)]))
    err = capsys.readouterr().err
    assert code == 2
    field = next(f for f in ("tls.ca_file", "creds_file", "nkey_seed_file", "bearer_token_file")
                 if f in json.dumps(section).replace('"tls": {"', "tls."))  # fmt: skip
    assert err == (
        f"agentdash: {path}: {next(iter(section))}.{field}: cannot read {missing}: "
        "No such file or directory\n"
    )


def test_a_prometheus_ca_file_that_is_not_pem_is_one_line_and_exit_2_before_connecting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """As a nats.tls.ca_file's: the daemon ran on, every query failed its certificate check,
    and no tenant's budget was applied, where the mistake was in the file from the start."""
    garbage = tmp_path / "ca.pem"
    garbage.write_text("not a certificate\n")
    path = tmp_path / "agentdash.yaml"
    path.write_text(edited(prometheus={"url": "https://p", "tls": {"ca_file": str(garbage)}}))
    with untouched_nats() as url:
        code = exit_code(lambda: main(["--controller-only", "--config", str(path),
                                       "--cluster", "simulated", "--nats-url", url]))  # fmt: skip
    assert code == 2
    assert capsys.readouterr().err == (
        f"agentdash: {path}: prometheus.tls.ca_file: expected PEM in {garbage}: "
        "NO_CERTIFICATE_OR_CRL_FOUND\n"
    )


@contextlib.contextmanager
def untouched_nats() -> Iterator[str]:
    """The URL of a NATS that must not be contacted: a socket that listens and never
    answers; leaving, no connection may wait to be accepted."""
    with socket.create_server(("127.0.0.1", 0)) as nats:
        yield f"nats://127.0.0.1:{nats.getsockname()[1]}"
        nats.setblocking(False)
        with pytest.raises(BlockingIOError):
            nats.accept()


def test_a_missing_kubeconfig_is_refused_before_nats_is_contacted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "kubeconfig"
    with untouched_nats() as url:
        argv = ["--controller-only", "--config", str(EXAMPLE), "--kubeconfig", str(missing)]
        code = exit_code(lambda: main([*argv, "--nats-url", url]))
    assert code == 2
    assert capsys.readouterr().err == (
        f"agentdash: argument --kubeconfig: expected a file that can be read, got "
        f"'{missing}' (No such file or directory) (see agentdash --help)\n"
    )


def _only_its_own_error_record(stdout: str) -> bool:
    """The daemon's stdout holds its one `error` record, no log line from the client."""
    return [json.loads(line)["type"] for line in stdout.splitlines()] == ["error"]


NOT_IN_A_CLUSTER = (
    "no in-cluster config either (KUBERNETES_SERVICE_HOST is not set): give --kubeconfig FILE,"
    " or --cluster simulated to try agentdash without a cluster"
)


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("environ", "where", "why"),
    [
        ({}, "HOME/.kube/config", NOT_IN_A_CLUSTER),
        ({"AGENTDASH_KUBECONTEXT": "prod"}, "HOME/.kube/config",
         "the context 'prod' is read from one: give --kubeconfig FILE"),
        ({"KUBECONFIG": "HOME/a:HOME/b"}, "$KUBECONFIG (HOME/a:HOME/b)", NOT_IN_A_CLUSTER),
    ],
    ids=["no flags", "a context", "KUBECONFIG"],
)  # fmt: skip
def test_no_kubeconfig_at_all_is_one_line_and_exit_2_before_nats_is_contacted(
    tmp_path: Path, environ: dict[str, str], where: str, why: str
) -> None:
    environ = {name: value.replace("HOME", str(tmp_path)) for name, value in environ.items()}
    with untouched_nats() as url:
        result = run_without_kube_setup(
            tmp_path, "--controller-only", "--config", EXAMPLE, "--nats-url", url, **environ
        )
    assert result.returncode == 2, result.stderr
    assert result.stderr == (
        f"agentdash: no kubeconfig found at {where.replace('HOME', str(tmp_path))}, and {why}\n"
    )
    assert _only_its_own_error_record(result.stdout), result.stdout


CA_NOT_BASE64 = """\
current-context: a
contexts: [{name: a, context: {cluster: c, user: u}}]
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:9", certificate-authority-data: "!!!notbase64"}
users: [{name: u, user: {token: t}}]
"""


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b"contexts: 5\ncurrent-context: x\n", "contexts: expected a list, got 5"),
        (random.Random(300).randbytes(300), "expected UTF-8 text, got byte 0x"),
        (CA_NOT_BASE64.encode(), "clusters.0.cluster.certificate-authority-data: expected base64"),
    ],
    ids=["contexts a number", "300 random bytes", "CA not base64"],
)
def test_a_kubeconfig_that_is_not_one_is_one_line_naming_it_and_exit_2_before_nats(
    tmp_path: Path, content: bytes, said: str
) -> None:
    path = tmp_path / "kubeconfig"
    path.write_bytes(content)
    with untouched_nats() as url:
        result = run_without_kube_setup(
            tmp_path, "--controller-only", "--config", EXAMPLE, "--nats-url", url,
            "--kubeconfig", path,
        )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"agentdash: kubeconfig {path}: ")
    assert said in result.stderr
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr + result.stdout
    assert _only_its_own_error_record(result.stdout), result.stdout


def test_the_dashboard_without_a_cluster_says_so_in_one_line(
    tmp_path: Path, nats_server: Any
) -> None:
    """A kubeconfig it cannot use: the screen closes and one line says why (no page of
    traceback with the config in its locals), after the screen it drew in its terminal."""
    unusable = kubeconfig_without_context(tmp_path / "kubeconfig")
    terminal = Terminal(
        [AGENTDASH, "--config", str(EXAMPLE), "--nats-url", nats_server.url,
         "--kubeconfig", str(unusable)],
        env={"HOME": str(tmp_path)},
    )  # fmt: skip
    try:
        assert terminal.exited_within(60)
        assert terminal.process.returncode == 2
        said = terminal.output.decode(errors="replace")
        assert "Traceback" not in said
        assert "PoolConfig(" not in said
        last = said.rstrip("\r\n").rsplit("\x1b", 1)[-1]
        assert f"agentdash: kubeconfig {unusable}: " in last
        assert said.count("agentdash: ") == 1
    finally:
        terminal.kill()


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("command", "instead"),
    [
        (("--config", str(EXAMPLE)), "for the daemon, agentdash --controller-only"),
        (("demo",), "for the demo without a screen, agentdash demo --headless"),
    ],
)
def test_a_dashboard_without_a_terminal_is_one_line_and_exit_2_before_anything_starts(
    tmp_path: Path, command: tuple[str, ...], instead: str
) -> None:
    """Piped, or with no input (`< /dev/null`, `ssh host agentdash` without -t), it drew an
    80x24 screen into the pipe, or spun on an input at its end; it says so instead."""
    result = subprocess.run(
        [AGENTDASH, *command], stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=60, check=False, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        "agentdash: the dashboard needs a terminal, and standard input, standard output and"
        f" standard error (where it draws) are not one: {instead}\n"
    )


@pytest.mark.e2e
def test_a_dashboard_whose_standard_error_is_a_file_says_so_there_and_exits_2(
    tmp_path: Path,
) -> None:
    """Textual draws on standard error: `agentdash demo 2> log` drew the whole screen into
    the log, and the terminal stayed blank until the demo was killed."""
    log = tmp_path / "log"
    with log.open("wb") as file:
        terminal = Terminal([AGENTDASH, "demo"], stderr=file.fileno())
    try:
        assert terminal.exited_within(60)
        assert terminal.process.returncode == 2
    finally:
        terminal.kill()
    assert log.read_text() == (
        "agentdash: the dashboard needs a terminal, and standard error (where it draws) is not"
        " one: for the demo without a screen, agentdash demo --headless\n"
    )


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--http", ":9090"), "--http is the daemon's (--controller-only): the dashboard "
         "would ignore it"),
        (("--log-level", "debug"), "--log-level is the daemon's (--controller-only): the "
         "dashboard would ignore it"),
        (("--controller-only", "--lead"), "--lead is the dashboard's: the daemon "
         "(--controller-only) always contends to lead"),
        (("--controller-only", "--cluster", "simulated", "--context", "prod"),
         "--context with --cluster simulated would be ignored: no Kubernetes is read"),
    ],
)  # fmt: skip
def test_a_fleet_flag_the_run_would_ignore_is_one_line_and_exit_2_before_it_starts(
    tmp_path: Path, args: tuple[str, ...], said: str
) -> None:
    """Given where it does nothing (an operator would wait for metrics that no dashboard
    serves, or believe a context was chosen), a flag is refused before anything starts; set
    in the environment (shared by the daemon and the dashboard), it is not."""
    nowhere = ("--config", EXAMPLE, "--nats-url", "nats://127.0.0.1:1")
    code = {"TERM": "xterm", "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    result = run_without_kube_setup(tmp_path, *nowhere, *args, **code)
    assert result.returncode == 2
    assert result.stderr == f"agentdash: {said}\n"
    assert result.stdout == ""
    from_environment = run_without_kube_setup(tmp_path, *nowhere, AGENTDASH_HTTP=":9090", **code)
    assert from_environment.returncode == 2
    assert "needs a terminal" in from_environment.stderr  # it went on, to the dashboard
    assert "--http" not in from_environment.stderr


def test_check_config_only_notes_a_file_it_cannot_read_here(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A CA or a .creds file may be mounted only where the controller runs."""
    path = tmp_path / "agentdash.yaml"
    path.write_text(edited(nats={"creds_file": "/var/run/secrets/nats/agentdash.creds"}))
    assert main(["check-config", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{path}: OK: 5 pools")
    assert out.endswith(
        "note: nats.creds_file: cannot read /var/run/secrets/nats/agentdash.creds: No such file "
        "or directory here; the controller will not start without it\n"
    )


@pytest.mark.parametrize(
    ("flag", "where", "expected"),
    [
        ("--events", "a-folder", "cannot write file: Is a directory"),
        ("--events", "missing/events.jsonl", "cannot write file: No such file or directory"),
        # --overrides is written too (each pin and pause): checked as --events is
        ("--overrides", "a-folder", "cannot write file: Is a directory"),
        ("--overrides", "missing/overrides.json", "cannot write file: No such file or directory"),
        ("--overrides", "binary.json", "byte 0: expected UTF-8 text, got byte 0xd1"),
        ("--overrides", "twice.json", "expected each key once in an object, got 'pins' twice"),
        # read at start and replaced at each pin or pause: a pipe or a device read twice was
        # empty the second time ('expected valid JSON: Expecting value'), and /dev/null as
        # root would have been replaced by a file
        (
            "--overrides",
            "/dev/null",
            "expected a regular file: it is read, then replaced at each pin or pause",
        ),
        (
            "--overrides",
            "a-pipe",
            "expected a regular file: it is read, then replaced at each pin or pause",
        ),
    ],
)
def test_a_demo_file_it_cannot_use_is_one_line_and_exit_2_before_the_fleet_starts(
    flag: str, where: str, expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a-folder").mkdir()
    os.mkfifo(tmp_path / "a-pipe")
    (tmp_path / "binary.json").write_bytes(b"\xd1\xff\x00{")
    (tmp_path / "twice.json").write_text('{"pins": {}, "pins": {"acme-research": 3}}')
    path = tmp_path / where
    code = exit_code(lambda: main(["demo", "--headless", "--duration", "1", flag, str(path)]))
    out, err = capsys.readouterr()
    assert out == ""
    assert code == 2, err
    assert err == f"agentdash: {path}: {expected}\n"


def test_a_bad_overrides_file_leaves_the_events_file_of_an_earlier_run_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every file is checked before any is opened: a run that never starts empties nothing."""
    events = tmp_path / "events.jsonl"
    events.write_text('{"type": "summary"}\n')
    overrides = tmp_path / "binary.json"
    overrides.write_bytes(b"\xd1\xff\x00{")
    argv = ["demo", "--headless", "--events", str(events), "--overrides", str(overrides)]
    code = exit_code(lambda: main(argv))
    _, err = capsys.readouterr()
    assert code == 2, err
    assert err.startswith(f"agentdash: {overrides}: ")
    assert events.read_text() == '{"type": "summary"}\n'


def test_a_demo_on_a_nats_server_that_is_not_there_stops_with_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--nats-url to a port nobody listens on: the demo says why on stderr, as `agentdash
    queues` does, and exits 1 at the refusal, rather than retry for ever before it has
    started; its retries print nothing on stdout meanwhile."""
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    url = f"nats://127.0.0.1:{port}"
    code = exit_code(lambda: main(["demo", "--headless", "--duration", "1", "--nats-url", url]))
    out, err = capsys.readouterr()
    assert code == 1
    assert out == ""
    assert err == f"agentdash: cannot reach NATS at {url}: Connection refused\n"


def test_a_demo_nats_url_that_is_not_one_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = exit_code(lambda: main(["demo", "--headless", "--nats-url", "foo://bar"]))
    _, err = capsys.readouterr()
    assert code == 2
    assert err.count("\n") == 1
    assert "argument --nats-url: expected a URL like nats://HOST:PORT" in err


@pytest.mark.parametrize("where", ["missing/tuned.yaml", "read-only.yaml"])
def test_a_tuned_config_it_cannot_write_is_one_line_before_the_search(
    where: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the bundled example, where nothing changes: the path is refused all the same, before
    the search (which would take seconds and end well)."""
    output = tmp_path / where
    if where == "read-only.yaml":
        output.write_text("mine\n")
        output.chmod(0o444)
        granted = os.access  # root may write it all the same: refuse it as anyone else would
        monkeypatch.setattr(os, "access", lambda p, mode: Path(p) != output and granted(p, mode))
    expected = "Permission denied" if output.exists() else "No such file or directory"
    argv = ["tune", "--config", str(BACKTEST_CONFIG), "--trace", str(BACKTEST_TRACE)]

    code = exit_code(lambda: main([*argv, "--trials", "16", "--output", str(output)]))

    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""  # no search was run
    assert err == f"agentdash: {output}: cannot write file: {expected}\n"


def test_a_plot_it_cannot_write_is_one_line_before_the_replay(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plot = tmp_path / "missing" / "plot.svg"
    code = exit_code(lambda: main(["simulate", "--plot", str(plot)]))
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""  # no replay was run
    assert err == f"agentdash: {plot}: cannot write file: No such file or directory\n"
