"""The kubeconfig a controller takes its credentials from: found, then checked before the
official client loads it.

The client's loader indexes whatever a file holds: `contexts: 5` ends in a TypeError from deep
inside it, bytes that are not UTF-8 in a UnicodeDecodeError, a CA that is not base64 in
binascii's "Invalid base64-encoded string"; no kubeconfig at all in a log line and "Expected
key current-context", as if one were there and wrong. Each is a mistake in the user's file or
setup, said here as one: the file, the field and what was expected (`KubeConfigError`; the
CLI shows it as one line, exit 2).

Only what the loader reads is checked; the rest of a kubeconfig (preferences, extensions, an
exec plugin's arguments) is left to it, as kubectl leaves it.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from controller.core.config import why_unreadable
from controller.core.config_errors import ConfigError, first_error, shown
from controller.core.input_files import load_yaml, read_text

__all__ = ["KubeConfigError", "check_kubeconfig", "kubeconfig_files"]


class KubeConfigError(Exception):
    """The kubeconfig or in-cluster credentials could not be loaded (a user mistake)."""


def _base64(text: str) -> str:
    # The loader decodes these with the alphabet only, as kubectl does; a line break in a
    # value folded by hand is allowed, as both skip it.
    try:
        base64.b64decode("".join(text.split()), validate=True)
    except binascii.Error:
        # Not shown: client-key-data is a private key, and the line may go to a log.
        raise ValueError(
            f"expected base64-encoded data, got {len(text)} characters of other text"
        ) from None
    return text


Base64 = Annotated[str, AfterValidator(_base64)]


def _none_is_empty(value: Any) -> Any:
    return [] if value is None else value  # `users:` with nothing after it, as the loader reads it


class _Part(BaseModel):
    # strict: `insecure-skip-tls-verify: "false"` is a string the loader reads as true
    model_config = ConfigDict(extra="allow", strict=True, frozen=True)


class _Cluster(_Part):
    server: str | None = None
    certificate_authority: str | None = Field(None, alias="certificate-authority")
    certificate_authority_data: Base64 | None = Field(None, alias="certificate-authority-data")
    insecure_skip_tls_verify: bool | None = Field(None, alias="insecure-skip-tls-verify")


class _User(_Part):
    client_certificate: str | None = Field(None, alias="client-certificate")
    client_certificate_data: Base64 | None = Field(None, alias="client-certificate-data")
    client_key: str | None = Field(None, alias="client-key")
    client_key_data: Base64 | None = Field(None, alias="client-key-data")


class _Context(_Part):
    cluster: str
    user: str | None = None
    namespace: str | None = None


class _NamedCluster(_Part):
    name: str
    cluster: _Cluster


class _NamedUser(_Part):
    name: str
    user: _User


class _NamedContext(_Part):
    name: str
    context: _Context


class _KubeConfig(_Part):
    clusters: Annotated[list[_NamedCluster], BeforeValidator(_none_is_empty)] = []
    users: Annotated[list[_NamedUser], BeforeValidator(_none_is_empty)] = []
    contexts: Annotated[list[_NamedContext], BeforeValidator(_none_is_empty)] = []
    current_context: str | None = Field(None, alias="current-context")


def kubeconfig_files(kubeconfig: str | None, context: str | None) -> list[str]:
    """The files the loader will merge: `kubeconfig`, else each of $KUBECONFIG that exists,
    else ~/.kube/config. None found is said here: the loader would log "Config not found" and
    then ask for a current-context, as if the file were there and wrong."""
    if kubeconfig is not None:
        if not os.path.isfile(kubeconfig):
            raise KubeConfigError(f"kubeconfig {kubeconfig}: no such file")
        return [kubeconfig]
    listed = os.environ.get("KUBECONFIG", "")
    tried = [os.path.expanduser(p) for p in listed.split(os.pathsep) if p] or [
        os.path.expanduser("~/.kube/config")
    ]
    found = [path for path in tried if os.path.exists(path)]  # the loader's own test
    for path in found:  # read to be checked, then by the loader: a pipe would wait, or be empty
        why = why_unreadable(path)
        if why is not None:
            raise KubeConfigError(f"kubeconfig {path}: {why}")
    if found:
        return found
    where = f"$KUBECONFIG ({listed})" if listed else tried[0]
    if context is not None:
        raise KubeConfigError(
            f"no kubeconfig found at {where}, and the context {shown(context)} is read from one:"
            " give --kubeconfig FILE"
        )
    # Asked for no cluster in particular: most often someone trying agentdash on a laptop.
    raise KubeConfigError(
        f"no kubeconfig found at {where}, and no in-cluster config either"
        " (KUBERNETES_SERVICE_HOST is not set): give --kubeconfig FILE, or --cluster simulated"
        " to try agentdash without a cluster"
    )


def check_kubeconfig(paths: Sequence[str], context: str | None) -> None:
    """Each file is a kubeconfig, and the context to use (`context`, else the current one)
    is among them with the cluster and user it names. Raises KubeConfigError."""
    configs = [_read(path) for path in paths]
    where = os.pathsep.join(paths)  # the loader merges them, as kubectl does
    contexts = {c.name: c.context for config in configs for c in config.contexts}
    current = next((c.current_context for c in reversed(configs) if c.current_context), None)
    wanted = context if context is not None else current
    known = ", ".join(sorted(contexts)) or "none"
    if wanted is None:
        raise KubeConfigError(
            f"kubeconfig {where}: current-context: expected the name of one of its contexts "
            f"({known}), or --context NAME"
        )
    if wanted not in contexts:
        field = "current-context" if context is None else "--context (or AGENTDASH_KUBECONTEXT)"
        raise KubeConfigError(
            f"kubeconfig {where}: {field}: expected one of its contexts ({known}), "
            f"got {shown(wanted)}"
        )
    _check_names(where, wanted, contexts[wanted], configs)


def _check_names(where: str, name: str, context: _Context, configs: list[_KubeConfig]) -> None:
    clusters = {c.name for config in configs for c in config.clusters}
    users = {u.name for config in configs for u in config.users}
    for kind, wanted, known in (
        ("cluster", context.cluster, clusters),
        ("user", context.user, users),
    ):
        if wanted is not None and wanted not in known:
            raise KubeConfigError(
                f"kubeconfig {where}: context {shown(name)}: {kind}: expected one of its "
                f"{kind}s ({', '.join(sorted(known)) or 'none'}), got {shown(wanted)}"
            )


def _read(path: str) -> _KubeConfig:
    try:
        data = load_yaml(read_text(path, "a kubeconfig"), path)
    except ConfigError as exc:  # not UTF-8, not YAML, too large: said as any file of ours is
        raise KubeConfigError(f"kubeconfig {exc}") from None
    if not isinstance(data, dict):
        got = "an empty file" if data is None else f"a {_KINDS.get(type(data), 'value')}"
        raise KubeConfigError(
            f"kubeconfig {path}: expected a kubeconfig (a mapping with clusters, users "
            f"and contexts), got {got}"
        )
    try:
        return _KubeConfig.model_validate(data)
    except ValidationError as exc:
        field, message = first_error(exc, model=_KubeConfig)
        raise KubeConfigError(f"kubeconfig {ConfigError(path, field, message)}") from None


_KINDS = {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}
