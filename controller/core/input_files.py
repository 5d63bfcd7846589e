"""Reading the YAML and JSON files a person writes, within limits that no file can get past.

A config, an observations file or a trace may be anything: binary, another encoding, a YAML
alias bomb ("billion laughs"), nesting a million levels deep, a 5000-digit number. Each is
refused here as a `ConfigError` (file, where, what was expected), before any model sees it:

- at most MAX_FILE_BYTES (4 MiB) of UTF-8 text, read by controller.core.file_text;
- at most MAX_DEPTH (32) levels of nesting and MAX_NODES (1,000,000) values, counting what
  YAML aliases expand to (each counted as it is read), and no alias inside its own anchor;
- each key once per YAML mapping or JSON object (a second `max_replicas` is a mistake, not
  an override);
- integers of at most MAX_DIGITS (18) digits: a longer one reaches the models as `TooLarge`,
  which they refuse with the field's path and bound (`expected a number <= 1e+15`: one
  limit said, whatever the number's length).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, NamedTuple

import yaml
from yaml._yaml import CParser  # libyaml: PyYAML's wheels for Linux and macOS carry it
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import Resolver
from yaml.scanner import Scanner

from controller.core.config_errors import MAX_DIGITS, ConfigError, TooLarge, key, shown
from controller.core.file_text import BOM as BOM
from controller.core.file_text import MAX_FILE_BYTES as MAX_FILE_BYTES
from controller.core.file_text import decode as decode
from controller.core.file_text import read_text as read_text
from controller.core.file_text import text_of as text_of
from controller.core.yaml_scalars import kind_of, read_scalars_as_json_does

MAX_DEPTH = 32
MAX_NODES = 1_000_000


def load_yaml(text: str, source: str, *, documents: bool = False) -> Any:
    """Parse YAML (JSON is YAML too) within the limits. `documents`: a stream of several
    (`---` between them, as Kubernetes manifests are), as a list of its non-empty ones."""
    if not documents:
        return load_yaml_with_lines(text, source)[0]
    return _parse(text, source, lambda loader: loader.documents())


def load_yaml_with_lines(text: str, source: str) -> tuple[Any, YamlLines]:
    """Parse YAML within the limits, keeping where each field is, for the line of an error."""
    data: Any = _parse(text, source, lambda loader: loader.get_single_data())
    return data, YamlLines(text)


def _parse(text: str, source: str, read: Callable[[_Watched], Any]) -> Any:
    try:
        return _read(_Loader, text, source, read)
    except ConfigError as error:
        if _LIBYAML_DEPTH not in error.message:
            raise
    # libyaml's scanner reads a flow ahead of the composer and refuses a thousand levels of
    # it on its own; the pure-Python parser reads lazily, so it names the level over ours
    return _read(_PureLoader, text, source, read)


_LIBYAML_DEPTH = "exceeded maximum nesting depth"
_BOM_INSIDE = (
    "expected valid YAML, got a byte order mark (U+FEFF) inside the file: files joined "
    "together, one saved with it? remove it"
)


def _read(kind: type[_Watched], text: str, source: str, read: Callable[[_Watched], Any]) -> Any:
    loader = None
    try:
        loader = kind(text)  # checks that every character is printable
        return read(loader)
    except _LimitError as exc:
        raise ConfigError(source, _where(exc.problem_mark), exc.problem or "") from None
    except yaml.reader.ReaderError as exc:
        got = f"#x{exc.character:04x}" if isinstance(exc.character, int) else "a control character"
        raise ConfigError(
            source, f"character {exc.position}", f"expected printable text, got {got}"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or "not valid YAML"
        # One at a line's start (the file's own is gone already: decode) is what the parser
        # stumbled on, whatever it says: files joined together
        marked = text.find("\n" + BOM)
        if marked >= 0:
            where = f"line {text.count(chr(10), 0, marked) + 2} column 1"
            raise ConfigError(source, where, _BOM_INSIDE) from None
        raise ConfigError(source, _where(mark), f"expected valid YAML: {problem}") from None
    finally:
        if loader is not None:
            loader.dispose()


class YamlLines:
    """The line of a field of a YAML file that parsed, looked up when an error needs it:
    `pools.acme.max_replicas` -> 12. The file is parsed again then, rather than its nodes
    kept: kept, they would cost every config with no mistake more time to validate (the
    garbage collector walks them over and over)."""

    def __init__(self, text: str) -> None:
        self._text = text

    def line(self, path: str) -> int | None:
        """The 1-based line of the deepest node on `path`, a dotted field path as
        config_errors.key spells each part. A field that is missing gives the line of the
        mapping that lacks it; None if not even the first part is in the file."""
        if not path:
            return None
        loader = _Loader(self._text)  # within the limits: this text has parsed once already
        try:
            node = loader.get_single_node()
            if node is not None:
                loader.construct_document(node)  # puts merged keys (`<<: *base`) in the nodes
        finally:
            loader.dispose()
        line, rest = None, path
        while rest and node is not None:
            found = _child(node, rest)
            if found is None:
                break
            node, line, rest = found
        return line


def _child(node: Node, path: str) -> tuple[Node, int, str] | None:
    """The child of `node` that `path` starts with: (child, its line, the rest of the path)."""
    if isinstance(node, MappingNode):
        # merged keys (`<<: *base`) come first, each at its anchor's line, and the mapping's
        # own keys after them; the last one wins, as it does in the data
        entries = [(k.value, k, v) for k, v in reversed(node.value) if isinstance(k, ScalarNode)]
    elif isinstance(node, SequenceNode):
        entries = [(str(i), item, item) for i, item in enumerate(node.value)]
    else:
        return None
    for name, marked, child in entries:
        part = key(name)
        if path == part or path.startswith(part + "."):
            return child, marked.start_mark.line + 1, path[len(part) + 1 :]
    return None


def load_json(text: str, source: str) -> Any:
    """Parse JSON within the limits; NaN and Infinity are let through for the models to
    refuse with a field path (every float field is finite)."""
    try:
        data = json.loads(text, parse_int=bounded_int, object_pairs_hook=unique_keys)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            source, f"line {exc.lineno} column {exc.colno}", f"expected valid JSON: {exc.msg}"
        ) from None
    except DuplicateKey as exc:
        message = f"expected each key once in an object, got {shown(exc.key)} twice"
        raise ConfigError(source, "", message) from None
    except RecursionError:
        raise ConfigError(source, "", f"expected at most {MAX_DEPTH} levels of nesting") from None
    if _depth(data) > MAX_DEPTH:
        raise ConfigError(source, "", f"expected at most {MAX_DEPTH} levels of nesting")
    return data


def load_json_line(line: str, source: str, where: str, expected: str) -> Any:
    """One line of JSON lines (a trace's task, a request log's request), read as load_json
    reads a file: each key once, an integer longer than MAX_DIGITS as TooLarge, and nesting
    deeper than json.loads can follow refused as `expected {expected}` at `where` (the line),
    not raised as a RecursionError. A line that is no JSON at all raises json.JSONDecodeError,
    for the caller to say in its own words."""
    try:
        return json.loads(line, parse_int=bounded_int, object_pairs_hook=unique_keys)
    except DuplicateKey as twice:
        said = f"expected each key once in an object, got {shown(twice.key)} twice"
        raise ConfigError(source, where, said) from None
    except RecursionError:
        said = f"expected {expected}, got one nested too deep to read"
        raise ConfigError(source, where, said) from None


def _where(mark: Any) -> str:
    return f"line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""


def bounded_int(text: str) -> int | TooLarge:
    """json.loads' parse_int: an integer longer than MAX_DIGITS is kept as TooLarge, for the
    field that holds it to refuse by name (Python's own int() refuses 4300 digits and more
    with no field to name)."""
    digits = len(text.lstrip("-"))
    return TooLarge(digits, text.startswith("-")) if digits > MAX_DIGITS else int(text)


class DuplicateKey(ValueError):
    """A JSON object gave `key` twice."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json.loads' object_pairs_hook for objects whose keys are each given once (json.loads
    alone keeps the last of two): DuplicateKey otherwise."""
    data = dict(pairs)
    if len(data) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKey(key)
            seen.add(key)
    return data


def _depth(data: Any) -> int:
    """Levels of nesting, without recursion (a structure deep enough would overflow it)."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            deepest = max(deepest, depth)
            if deepest > MAX_DEPTH:
                return deepest
            children = value.values() if isinstance(value, dict) else value
            stack.extend((child, depth + 1) for child in children)
    return deepest


class _LimitError(yaml.MarkedYAMLError):
    """A limit or a duplicate key, said as what was expected (not as bad syntax)."""

    def __init__(self, mark: Any, message: str) -> None:
        super().__init__(None, None, message, mark)


_MERGE = "tag:yaml.org,2002:merge"


class Expansion(NamedTuple):
    """What an anchored node expands to wherever an alias repeats it."""

    values: int
    """Its values, each alias within it counted as what it expands to."""
    levels: int
    """The levels of nesting it adds below where it stands."""


class _Watched(Composer, SafeConstructor, Resolver):
    """PyYAML's safe loader under the pure-Python composer, whose every node can be watched
    (libyaml's own composer cannot). Counts depth and expanded size as nodes are composed;
    refuses duplicate keys. The parser underneath is the subclass's."""

    peek_event: Callable[[], Any]  # the parser's
    dispose: Callable[[], None]  # the parser's

    def __init__(self, text: str) -> None:
        self._start(text)
        Composer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        self._depth = 0
        self._deepest = 0  # the deepest level reached in the node being composed
        self._values = 0  # of the document so far, each alias counted as what it expands to
        self._anchored: dict[int, Expansion] = {}
        """An anchored node's id -> what it expands to."""

    def _start(self, text: str) -> None:
        raise NotImplementedError

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        event = self.peek_event()
        assert event is not None  # compose_node is only called with an event to come
        mark = event.start_mark
        alias = isinstance(event, AliasEvent)
        if alias:
            anchored = self.anchors.get(event.anchor)
            if anchored is not None and id(anchored) not in self._anchored:
                raise _LimitError(mark, "expected no alias inside its own anchor")
        self._depth += 1
        before, deepest, self._deepest = self._values, self._deepest, self._depth
        try:
            if self._depth > MAX_DEPTH:
                raise _LimitError(mark, f"expected at most {MAX_DEPTH} levels of nesting")
            # Counted as they come, not once their collection is whole: a list of two million
            # values would be composed whole (800 MB, 40 s) before its size was known.
            if not alias:
                self._count(1, mark)
            node = super().compose_node(parent, index)  # an alias: the node anchored
            assert node is not None  # only a missing document gives None, never here
        finally:
            self._depth -= 1
        if alias:
            # what an alias stands for is nested where the alias is: anchors nested in one
            # another's aliases can make data thousands of levels deep, too deep to say in an
            # error message
            expands = self._anchored[id(node)]
            self._count(expands.values, mark)
            self._deepest = self._depth + expands.levels
            if self._deepest > MAX_DEPTH:
                raise _LimitError(mark, f"expected at most {MAX_DEPTH} levels of nesting")
        elif getattr(event, "anchor", None) is not None:
            self._anchored[id(node)] = Expansion(
                values=self._values - before, levels=self._deepest - self._depth
            )
        self._deepest = max(deepest, self._deepest)
        return node

    def _count(self, values: int, mark: Any) -> None:
        self._values += values
        if self._values > MAX_NODES:
            raise _LimitError(
                mark, f"expected at most {MAX_NODES:,} values once aliases are expanded"
            )

    def documents(self) -> list[Any]:
        found = []
        while self.check_node():
            # Each document is held to the limits alone, and a node of the last one may have
            # left its id to a new one.
            self._values = 0
            self._anchored.clear()
            data = self.construct_document(self.get_node())
            if data is not None:
                found.append(data)
        return found

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE:
                continue  # `<<: *base` merges keys that the mapping may then override
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str) and isinstance(key_node, ScalarNode):
                # YAML reads `~`, `1` or `2001-01-01` as a null, a number or a date: no name
                # of ours is one, and said as Python prints it, it would not be the key written.
                raise _LimitError(
                    key_node.start_mark,
                    f"expected a key that is a name, got {shown(key_node.value)} (YAML reads it "
                    f"as {kind_of(key)}; quote it if it is one)",
                )
            try:
                first = seen.get(key)
            except TypeError:
                continue  # unhashable: PyYAML refuses it with its own message
            if first is not None:
                raise _LimitError(
                    key_node.start_mark,
                    f"expected each key once in a mapping, got {shown(key)} again "
                    f"(first at line {first.line + 1})",
                )
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, IndexError, OverflowError):  # `!!int ""`, `!!float x`
            raise _LimitError(
                node.start_mark, f"expected a value its tag {node.tag} can hold"
            ) from None

    def construct_yaml_int(self, node: ScalarNode) -> int | TooLarge:  # type: ignore[override]
        written = str(node.value).replace("_", "")
        text = written.lstrip("+-")
        if len(text) > MAX_DIGITS:
            return TooLarge(len(text), written.startswith("-"))
        return super().construct_yaml_int(node)


_Watched.add_constructor("tag:yaml.org,2002:int", _Watched.construct_yaml_int)  # type: ignore[type-var]


read_scalars_as_json_does(_Watched)


class _Loader(_Watched, CParser):
    """Parsed by libyaml: twice as fast as the pure-Python parser."""

    def _start(self, text: str) -> None:
        CParser.__init__(self, text)


class _PureLoader(_Watched, Reader, Scanner, Parser):
    """The same loader on PyYAML's pure-Python parser: read only when libyaml gave up."""

    def _start(self, text: str) -> None:
        Reader.__init__(self, text)
        Scanner.__init__(self)
        Parser.__init__(self)
