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
        self.file, self.line, self.reason = file, line, reason
        where = f"{file}:{line}" if line is not None else file
        super().__init__(f"{where}: {reason}")


class _Loader(yaml.SafeLoader):
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


def compose(text: str, file: str) -> tuple[yaml.Node, Any]:
    """The node tree (for line numbers) and the constructed document."""
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise YamlFileError(file, line, f"not valid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise YamlFileError(file, None, f"not valid YAML: {exc}") from None
    if root is None:
        raise YamlFileError(file, 1, "the file is empty")
    loader = _Loader("")
    try:
        data = loader.construct_document(root)
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        raise YamlFileError(file, mark.line + 1 if mark else None, str(exc.problem)) from None
    finally:
        loader.dispose()
    return root, data


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
