"""Change a few fields of some pools in an agentdash.yaml's own text, and show it as a diff.

Everything else stays byte for byte: comments, key order, flow or block style. A field that
is there is rewritten where it stands (a comment after it on its line is kept); one that is
not is added after the pool's last key. A pool written in flow style (`name: {...}`) is
rewritten whole, on its line. The result is read back and must give exactly the config asked
for; if the file's layout defeats that (anchors, say), its data is written out plainly instead,
and the diff is of the data, not of the file, headed as such (data_diff) so that `patch` takes
it for no file. Either way the text keeps its form: the byte order mark it may start with, and
its line ending (CRLF, say, as saved on Windows) in the lines written as in the others.
"""

from __future__ import annotations

import difflib
import textwrap
from collections.abc import Mapping
from typing import Any

import yaml
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from controller.core.config import Config, parse_config
from controller.core.config_errors import listed
from controller.core.input_files import BOM, load_yaml
from controller.core.yaml_scalars import dump_config

PoolFields = Mapping[str, Mapping[str, Any]]
"""Per pool name: field -> new value (plain YAML data); a field may be a dotted path
(`behavior.scale_down`)."""


def edit_pools(text: str, changes: PoolFields, expected: Config) -> tuple[str, bool]:
    """(the text with `changes` made, whether the file's own layout was kept). `expected` is
    the config the result must parse to."""
    mark, body, newline = _form(text)
    try:
        edited = _edit(body, changes, newline)
        if _same(edited, expected):
            return mark + edited, True
    except (yaml.YAMLError, LookupError, ValueError):
        pass
    data = _unshared(read(body))
    for name, fields in changes.items():
        for path, value in fields.items():
            _put(data["pools"][name], path, value)
    return _written_out(data, mark, newline), False


def plain(text: str) -> str:
    """The file's data written out plainly, as edit_pools writes it where the layout cannot be
    kept (no comments, no anchors), in the file's form."""
    mark, body, newline = _form(text)
    return _written_out(_unshared(read(body)), mark, newline)


def _form(text: str) -> tuple[str, str, str]:
    """(the byte order mark the text starts with, or "", the text after it, its line ending:
    CRLF or LF, as its first line ends)."""
    body = text.removeprefix(BOM)
    end = body.find("\n")
    newline = "\r\n" if end > 0 and body[end - 1] == "\r" else "\n"
    return text[: len(text) - len(body)], body, newline


def _written_out(data: Any, mark: str, newline: str) -> str:
    return mark + dump_config(data, sort_keys=False).replace("\n", newline)


def _unshared(value: Any) -> Any:
    """The data with every alias made a copy of its own: pools that share a `behavior` by an
    anchor are tuned apart, and a change to one must not reach the others."""
    if isinstance(value, dict):
        return {key: _unshared(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [_unshared(inner) for inner in value]
    return value


def unified_diff(before: str, after: str, path: str) -> str:
    """A diff `patch` applies to the file: `patch FILE < diff`, or `patch -p0` beside it."""
    lines = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=path,
        tofile=path,
        fromfiledate="(current)",
        tofiledate="(tuned)",
    )
    return "".join(
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines
    )


def data_diff(before: str, after: str, path: str) -> str:
    """Where the file's layout could not be kept (edit_pools said so): the change to its data,
    after a line saying why no diff of the file can be given. The current side is the data
    written out as `after` is, not the file's text: headed as the data, not as the file, so
    that `patch` finds no file to apply it to, rather than failing on every hunk of one."""
    aliases = _aliases(before)
    why = "its layout could not be kept by an edit in place"
    if aliases:
        shared = f"it shares values by YAML anchors and aliases ({listed(aliases)})"
        why = f"{shared}, which an edit in place could not keep apart"
    said = (
        f"(no diff of {path} that patch applies: {why}; below, the change to its data, "
        "written out plainly without comments or anchors, as --output writes the tuned config)"
    )
    return said + "\n" + unified_diff(plain(before), after, f"the data of {path}")


def _aliases(text: str) -> list[str]:
    """The aliases the text uses (`*shared`), each once, in the order they come."""
    try:
        events = list(yaml.parse(text.removeprefix(BOM)))
    except yaml.YAMLError:
        return []
    found = [event.anchor for event in events if isinstance(event, AliasEvent)]
    return [f"*{name}" for name in dict.fromkeys(found)]


def read(text: str) -> Any:
    """The file's data as agentdash reads it (controller.core.input_files), not as PyYAML's
    YAML 1.1 would: `budget_reset: 12:30` is the text 12:30 there, the number 750 here, and
    `on`, `010` or `1e3` are not what they are here either. Dumped again (dump_config), such
    text is quoted, and reads back as it was."""
    return load_yaml(text, "<the tuned config>")


def _same(text: str, expected: Config) -> bool:
    try:
        got = parse_config(read(text))
    except Exception:
        return False
    return got.model_dump() == expected.model_dump()


def _edit(text: str, changes: PoolFields, newline: str) -> str:
    root = yaml.compose(text)
    if root is None:
        raise ValueError("an empty file")
    pools = _value(root, "pools")
    edits: list[tuple[int, int, str]] = []  # (start, end, replacement) in the text
    for name, fields in changes.items():
        _set(text, _value(pools, name), fields, edits)
    for start, end, replacement in sorted(edits, reverse=True):  # each written with "\n"
        text = text[:start] + replacement.replace("\n", newline) + text[end:]
    return text


def _set(
    text: str, node: Node, fields: Mapping[str, Any], edits: list[tuple[int, int, str]]
) -> None:
    """Set `fields` (dotted paths below `node`, a mapping) by edits of the text."""
    if not isinstance(node, MappingNode) or not node.value:
        raise ValueError("expected a mapping")
    if node.flow_style:  # rewritten whole, in flow style, where it stands
        data = read(text[node.start_mark.index : node.end_mark.index])
        for path, value in fields.items():
            _put(data, path, value)
        flat = dump_config(data, default_flow_style=True, width=10**9, sort_keys=False)
        edits.append((node.start_mark.index, node.end_mark.index, flat.strip()))
        return
    indent = node.value[0][0].start_mark.column
    keys = {str(key.value): (key, value) for key, value in node.value}
    nested: dict[str, dict[str, Any]] = {}
    added: list[str] = []
    for path, value in fields.items():
        field, _, rest = path.partition(".")
        if rest:
            nested.setdefault(field, {})[rest] = value
        else:
            _replace(text, keys, field, value, indent, edits, added)
    for field, inner in nested.items():
        found = _find(keys, field)
        if found is not None and isinstance(found[1], MappingNode) and found[1].value:
            _set(text, found[1], inner, edits)
            continue
        fresh: dict[str, Any] = {}
        for path, value in inner.items():
            _put(fresh, path, value)
        _replace(text, keys, field, fresh, indent, edits, added)
    if added:
        at = text.find("\n", _end(node))  # after the mapping's last line, before its ending
        at = len(text) if at < 0 else at - 1 if text[at - 1] == "\r" else at
        edits.append((at, at, "".join("\n" + " " * indent + block for block in added)))


def _replace(
    text: str,
    keys: Mapping[str, tuple[Node, Node]],
    field: str,
    value: Any,
    indent: int,
    edits: list[tuple[int, int, str]],
    added: list[str],
) -> None:
    found = _find(keys, field)
    if found is None:
        if any(key in HPA_NAMES.values() for key in keys):  # a block in the HPA's names:
            field, value = HPA_NAMES.get(field, field), _hpa_names(value)  # what joins it too
        added.append(_render(field, value, indent))
        return
    key, node = found
    if node.start_mark.index < key.end_mark.index:  # an alias of a node elsewhere
        raise ValueError(f"{field} is an alias")
    if key.value != field:  # written with the HPA's names: kept in them
        field, value = key.value, _hpa_names(value)
    edits.append((key.start_mark.index, _end(node), _render(field, value, indent)))


ALIASES = {"scale_up": "scaleUp", "scale_down": "scaleDown"}
"""The HPA's names that agentdash.yaml also accepts (controller.core.behavior.Behavior)."""
HPA_NAMES = {
    **ALIASES,
    "stabilization_seconds": "stabilizationWindowSeconds",
    "select_policy": "selectPolicy",
    "period_seconds": "periodSeconds",
}
"""The HPA's names for a behavior's fields, as a block written in them is rewritten."""


def _hpa_names(value: Any) -> Any:
    if isinstance(value, dict):
        return {HPA_NAMES.get(key, key): _hpa_names(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [_hpa_names(inner) for inner in value]
    return value


def _find(keys: Mapping[str, tuple[Node, Node]], field: str) -> tuple[Node, Node] | None:
    return keys.get(field) or keys.get(ALIASES.get(field, field))


def _put(data: dict[str, Any], path: str, value: Any) -> None:
    field, _, below = path.partition(".")
    if below:
        inner = data.get(field)
        if not isinstance(inner, dict):
            inner = data[field] = {}
        _put(inner, below, value)
    else:
        data.pop(ALIASES.get(field, field), None)
        data[field] = value


def _value(mapping: Node, key: str) -> Node:
    if isinstance(mapping, MappingNode):
        for k, v in mapping.value:
            if isinstance(k, ScalarNode) and k.value == key:
                found: Node = v
                return found
    raise LookupError(key)


def _end(node: Node) -> int:
    """Where a node's own text ends: its last scalar or flow collection, not the comments
    and blank lines a block collection's end mark takes in."""
    if isinstance(node, ScalarNode) or getattr(node, "flow_style", False) or not node.value:
        return int(node.end_mark.index)
    last = node.value[-1]
    if isinstance(node, MappingNode):
        return _end(last[1])
    assert isinstance(node, SequenceNode)
    return _end(last)


def _render(field: str, value: Any, indent: int) -> str:
    """`field: value` in block style, the nested lines indented under the field, the
    innermost mappings in flow style (on the field's line, if it has no other); no newline at
    the end."""
    if isinstance(value, dict) and not any(isinstance(v, dict | list) for v in value.values()):
        text = dump_config({field: value}, sort_keys=False, default_flow_style=None)
        text = text.rstrip("\n")  # a mapping of plain values: on the field's own line
    elif isinstance(value, dict | list):
        body = dump_config(value, sort_keys=False, default_flow_style=None, width=10**9)
        text = f"{field}:\n" + textwrap.indent(body.rstrip("\n"), "  ")
    else:
        text = dump_config({field: value}, default_flow_style=False).rstrip("\n")
    return text.replace("\n", "\n" + " " * indent)
