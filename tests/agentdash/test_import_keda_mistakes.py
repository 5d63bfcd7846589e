"""`agentdash import keda` refuses bad input with one line naming the file and the field
(a bad ScaledObject, a bad count, a template, a file that is not YAML, a bad flag, a document
past the input limits), exit 2 and no traceback."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.cli import AGENTDASH
from tests.support.keda_import import DATA, NATS, SO, docs_example, run, write


@pytest.mark.parametrize(
    ("edit", "where", "expected"),
    [
        (
            lambda o: o["spec"]["triggers"][0]["metadata"].update(lagThreshold="ten"),
            "spec.triggers[0].metadata.lagThreshold",
            "expected a whole number, got 'ten'",
        ),
        (
            lambda o: o["spec"]["triggers"][0]["metadata"].pop("stream"),
            "spec.triggers[0].metadata.stream",
            "required field is missing",
        ),
        (
            lambda o: o["spec"]["triggers"][0]["metadata"].update(lagThreshold="-5"),
            "spec.triggers[0].metadata.lagThreshold",
            "expected a number >= 1e-06, got -5",
        ),
        (
            lambda o: o["spec"]["triggers"][0]["metadata"].update(stream="a.b"),
            "spec.triggers[0].metadata.stream",
            "expected a name of 1-255 letters A-Z or a-z, digits, '-' and '_' (no '.', '*', '>', "
            "spaces or other characters:"
            " it is used in NATS subjects), got 'a.b'",
        ),
        (
            lambda o: o["spec"].update(maxReplicaCount=0),
            "spec.maxReplicaCount",
            "expected a number greater than 0, got 0",
        ),
        (
            lambda o: o["spec"].update(maxReplicaCount=-1),
            "spec.maxReplicaCount",
            "expected a number greater than 0, got -1",
        ),
        (
            lambda o: o["spec"].update(cooldownPeriod=-300),
            "spec.cooldownPeriod",
            "expected a number >= 0, got -300",
        ),
        (
            lambda o: o["spec"].update(fallback={"failureThreshold": 3, "replicas": -1}),
            "spec.fallback.replicas",
            "expected a number >= 0, got -1",
        ),
        (
            lambda o: o["spec"].update(
                advanced={
                    "horizontalPodAutoscalerConfig": {
                        "behavior": {
                            "scaleDown": {
                                "policies": [{"type": "Pod", "value": 1, "periodSeconds": 15}]
                            }
                        }
                    }
                }
            ),
            "spec.advanced.horizontalPodAutoscalerConfig.behavior.scaleDown.policies[0].type",
            "input should be 'Pods' or 'Percent', got 'Pod'",
        ),
        (  # KEDA's CRD types the spec's counts int32: the API server refuses text
            lambda o: o["spec"].update(cooldownPeriod="30"),
            "spec.cooldownPeriod",
            "expected a whole number (an integer, not text), got '30'",
        ),
        (
            lambda o: o["spec"].update(fallback={"failureThreshold": "3", "replicas": 1}),
            "spec.fallback.failureThreshold",
            "expected a whole number (an integer, not text), got '3'",
        ),
        (
            lambda o: o["spec"].update(minReplicaCount=5),
            "spec.minReplicaCount",
            "expected at most max_replicas (2), got 5",
        ),
        (
            lambda o: o["spec"].update(triggers={"type": "nats-jetstream"}),
            "spec.triggers",
            "expected a list of triggers, got {'type': 'nats-jetstream'}",
        ),
        (
            lambda o: o["spec"].update(scaleTargetRef={"kind": "Deployment"}),
            "spec.scaleTargetRef.name",
            "required field is missing",
        ),
        (
            lambda o: o["spec"].update(
                advanced={
                    "horizontalPodAutoscalerConfig": {
                        "behavior": {"scaleDown": {"selectPolicy": "Sometimes"}}
                    }
                }
            ),
            "spec.advanced.horizontalPodAutoscalerConfig.behavior.scaleDown.selectPolicy",
            "input should be 'Max', 'Min' or 'Disabled', got 'Sometimes'",
        ),
    ],
)
def test_a_bad_scaled_object_is_one_line_naming_file_and_field(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, edit: Any, where: str, expected: str
) -> None:
    """The one line alone: the docs' example has fields with no equivalent, whose warnings
    are said only for an import that succeeds."""
    obj = docs_example()
    edit(obj)
    path = write(tmp_path, obj)

    code, out, err = run(capsys, path)

    assert code == 2
    assert out == ""
    assert err == [f"agentdash: {path}: {SO}: {where}: {expected}"]


@pytest.mark.parametrize(
    "field",
    ["pollingInterval", "cooldownPeriod", "minReplicaCount", "maxReplicaCount", "idleReplicaCount"],
)
@pytest.mark.parametrize("value", ["abc", -5, 99_999_999_999, 1.5])
def test_every_count_is_checked_whether_a_pool_takes_it_or_not(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, field: str, value: Any
) -> None:
    """pollingInterval has no pool field and idleReplicaCount only at 0: a bad one of either
    was taken without a word (a note that agentdash needs no polling, a warning that 2 has no
    equivalent). Each is refused as the pool's own fields are."""
    obj = docs_example()
    obj["spec"][field] = value
    path = write(tmp_path, obj)

    code, out, err = run(capsys, path)

    assert (code, out) == (2, "")
    (line,) = err
    assert line.startswith(f"agentdash: {path}: {SO}: spec.{field}: expected a ")
    assert line.endswith(f"got {value!r}" if isinstance(value, str) else f"got {value}")


def test_a_bad_tenant_flag_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, NATS, "--tenant", "a.b")

    assert code == 2
    assert len(err) == 1
    assert "--tenant" in err[0]


def test_a_template_is_refused_with_how_to_render_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Unrendered, a Go or Helm template is YAML with mappings for keys, or a name in braces:
    the one line says what the file is and how to get the ScaledObjects out of it."""
    go = DATA / "nats-jetstream-go-template.yaml"  # KEDA's own e2e test's ScaledObject
    helm = tmp_path / "scaledobject.yaml"
    helm.write_text(NATS.read_text().replace("name: sub", 'name: "{{ .Release.Name }}-sub"'))
    render = (
        "; the file holds {{ }}: a template (Helm's, Go's) is read once rendered "
        "(helm template, or kubectl get scaledobjects -o yaml)"
    )

    assert run(capsys, go) == (
        2,
        "",
        [f"agentdash: {go}: line 9 column 15: expected valid YAML: found unhashable key{render}"],
    )
    code, out, err = run(capsys, helm)
    assert (code, out, len(err)) == (2, "", 1)
    assert err[0].startswith(f"agentdash: {helm}: {SO}: spec.scaleTargetRef.name: ")
    assert err[0].endswith(render)


def test_a_file_that_is_not_yaml_or_not_there_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("kind: ScaledObject\nspec: [unclosed\n")
    listed = write(tmp_path, ["not", "an", "object"], name="list.yaml")

    assert run(capsys, broken)[2][-1].startswith(f"agentdash: {broken}: line 3 column 1: expected")
    assert run(capsys, listed)[2] == [
        f"agentdash: {listed}: document 1: expected an object, got list"
    ]
    assert run(capsys, tmp_path / "gone.yaml")[:2] == (2, "")


def test_every_document_is_held_to_the_input_limits(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n"
        for a, b in zip("abcdefgh", "bcdefghi", strict=True)
    )
    path = tmp_path / "bomb.yaml"
    path.write_text(NATS.read_text() + "---\n" + bomb)

    code, out, err = run(capsys, path)

    assert (code, out) == (2, "")
    line = len(NATS.read_text().splitlines()) + 1 + 7  # `g:` (9**7 values), in the file
    # at its first `*f`, where the count of values passes the limit
    assert err == [f"agentdash: {path}: line {line} column 8: expected at most 1,000,000 values "
                   "once aliases are expanded"]  # fmt: skip


@pytest.mark.e2e
def test_the_installed_command_prints_no_traceback(tmp_path: Path) -> None:
    (obj,) = yaml.safe_load_all(NATS.read_text())
    obj["spec"]["triggers"][0]["metadata"]["lagThreshold"] = "ten"
    path = write(tmp_path, obj)

    result = subprocess.run(
        [AGENTDASH, "import", "keda", str(path)], capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1].endswith(
        "spec.triggers[0].metadata.lagThreshold: expected a whole number, got 'ten'"
    )
