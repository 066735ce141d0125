"""YAML files that users write (scenarios, rules, policies), validated with line numbers.

A file is composed with a safe loader (YAML 1.2-style numbers, so ``11:00`` stays a string and
is not read as the sexagesimal integer 660), constructed, and validated by a pydantic model.
Whatever is wrong is reported as :class:`YamlFileError`: ``file:line: reason``, the line
being the one the offending value is on.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class YamlFileError(ValueError):
    """A file that cannot be used: ``file:line: reason``."""

    def __init__(self, file: str, line: int | None, reason: str):
        # one line, whatever a key or value of the file held
        reason = reason.replace("\r", "\\r").replace("\n", "\\n")
        self.file, self.line, self.reason = file, line, reason
        where = f"{file}:{line}" if line is not None else file
        super().__init__(f"{where}: {reason}")


class _Loader(yaml.SafeLoader):  # type: ignore[misc]  # yaml has no stubs in the index
    """SafeLoader with YAML 1.2 scalars: no sexagesimal numbers (``11:00`` is a string), no
    yes/no/on/off booleans (``off`` is a string)."""


_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_Loader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag not in (_INT, _FLOAT, _BOOL)]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
# YAML 1.2 booleans: true and false only (``mode: off`` stays the string "off")
_Loader.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Loader.add_implicit_resolver(
    _INT, re.compile(r"^(?:[-+]?(?:0|[1-9][0-9_]*))$"), list("-+0123456789")
)
_Loader.add_implicit_resolver(
    _FLOAT,
    re.compile(
        r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)"
        r"|\.[0-9_]+(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


def node_at(root: yaml.Node, loc: tuple[Any, ...]) -> yaml.Node:
    """The YAML node an error location points at (as deep as the file goes)."""
    node = root
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == part:
                    node = v
                    break
            # a part that is not a key (e.g. a union's tag) is skipped
        elif (
            isinstance(node, yaml.SequenceNode)
            and isinstance(part, int)
            and 0 <= part < len(node.value)
        ):
            node = node.value[part]
    return node


def _one_line(msg: object) -> str:
    return " ".join(str(msg).split())


def _deep_line(text: str, limit: int = 200) -> int:
    """The line where brackets or indentation first nest deeper than ``limit``."""
    depth = 0
    for n, line in enumerate(text.splitlines(), start=1):
        if len(line) - len(line.lstrip(" ")) > 2 * limit:
            return n
        for ch in line:
            depth += ch in "[{"
            depth -= ch in "]}"
            if depth > limit:
                return n
    return 1


# Aliases let a few hundred bytes stand for billions of values; whatever walks the constructed
# document (validation, JSON, a rule's engine) would walk them all. Files people write here
# hold hundreds of values, the largest shipped ones a few thousand.
MAX_EXPANDED_NODES = 100_000


def _expands_beyond(root: yaml.Node, cap: int) -> yaml.Node | None:
    """The first alias-bearing node whose expansion passes ``cap`` values, or None.

    Sizes are computed once per node (memoized on the node), so this is linear in the
    text; a node that refers to itself (a recursive alias) counts as one value more.
    """
    size: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if key in size and not done:
            continue
        children = (
            node.value
            if isinstance(node, yaml.SequenceNode)
            else (
                [x for kv in node.value for x in kv] if isinstance(node, yaml.MappingNode) else []
            )
        )
        if not done:
            size[key] = 1  # provisional: a cycle back to this node counts 1
            stack.append((node, True))
            stack.extend((c, False) for c in children if id(c) not in size)
            continue
        total = 1 + sum(size[id(c)] for c in children)
        if total > cap:
            return node
        size[key] = total
    return None


def compose(text: str, file: str) -> tuple[yaml.Node, Any]:
    """The node tree (for line numbers) and the constructed document."""
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise YamlFileError(
            file, line, f"not valid YAML: {_one_line(exc.problem or exc)}"
        ) from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow
        line = text.count("\n", 0, max(exc.position, 0)) + 1
        what = f"character #x{exc.character:04x}" if isinstance(exc.character, int) else "byte"
        raise YamlFileError(
            file, line, f"not valid YAML: {what} not allowed: {exc.reason}"
        ) from None
    except yaml.YAMLError as exc:
        raise YamlFileError(file, 1, f"not valid YAML: {_one_line(exc)}") from None
    except RecursionError:  # the composer recurses per level of nesting
        raise YamlFileError(file, _deep_line(text), "not valid here: nested too deeply") from None
    if root is None:
        raise YamlFileError(file, 1, "the file is empty")
    if (where := _expands_beyond(root, MAX_EXPANDED_NODES)) is not None:
        raise YamlFileError(
            file,
            where.start_mark.line + 1,
            f"not valid here: aliases expand the file to more than {MAX_EXPANDED_NODES:,} values",
        )
    loader = _Loader("")
    try:
        data = loader.construct_document(root)
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        raise YamlFileError(file, mark.line + 1 if mark else 1, _one_line(exc.problem)) from None
    except (ValueError, OverflowError) as exc:  # e.g. a timestamp such as 2026-02-30
        raise YamlFileError(file, _line_of_error(root, exc), f"not a valid value: {exc}") from None
    except RecursionError:
        raise YamlFileError(file, _deep_line(text), "not valid here: nested too deeply") from None
    finally:
        loader.dispose()
    return root, data


def _line_of_error(root: yaml.Node, exc: Exception) -> int:
    """The line of the first scalar that fails to construct the way ``exc`` says.

    Each node is visited once: an alias is the same node object as its anchor, so a file
    of nested aliases (a "billion laughs") costs what its text costs, not what it expands to.
    """
    stack = [root]
    seen: set[int] = set()
    loader = _Loader("")
    try:
        while stack:
            node = stack.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            if isinstance(node, yaml.ScalarNode):
                try:
                    loader.construct_object(node)
                except (ValueError, OverflowError) as e:
                    if str(e) == str(exc):
                        return int(node.start_mark.line) + 1
            elif isinstance(node, yaml.SequenceNode):
                stack.extend(reversed(node.value))
            elif isinstance(node, yaml.MappingNode):
                for k, v in reversed(node.value):
                    stack.extend([v, k])
    finally:
        loader.dispose()
    return int(root.start_mark.line) + 1


def describe(exc: ValidationError, root: yaml.Node) -> tuple[int, str]:
    """Line and one-line reason of a validation error's first problem."""
    err = exc.errors()[0]
    loc = tuple(err["loc"])
    node = node_at(root, loc)
    where = ".".join(str(p) for p in loc) or "(top level)"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "missing":
        msg = f"missing {loc[-1]!r}" if loc else "missing field"
    elif err["type"] == "extra_forbidden":
        msg = "unknown field"
    line = node.start_mark.line + 1
    extra = err.get("ctx", {}).get("line_offset") if err.get("ctx") else None
    if isinstance(extra, int):
        line += extra
    return line, f"{where}: {msg}{more}"


def parse_model(
    text: str,
    file: str,
    model: type[M],
    error: type[YamlFileError] = YamlFileError,
    what: str = "a file",
    **extra: Any,
) -> M:
    """Validate YAML ``text`` as ``model``; raise ``error`` naming file and line."""
    try:
        root, data = compose(text, file)
    except YamlFileError as exc:
        raise error(exc.file, exc.line, exc.reason) from None
    if not isinstance(data, dict):
        raise error(file, root.start_mark.line + 1, f"{what} is a mapping of fields")
    try:
        return model.model_validate({**data, **extra})
    except ValidationError as exc:
        line, reason = describe(exc, root)
        raise error(file, line, reason) from None
