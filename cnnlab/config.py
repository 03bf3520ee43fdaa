"""YAML file -> validated `RunConfig`, remembering the file and line of every key.

Three steps, each keeping locations so that every mistake can be reported where it was made:
`base:` inheritance (deep-merged, relative to the file), `--set a.b.c=value` overrides (nanoGPT's
rule: the key must exist, the value is parsed with `ast.literal_eval`), and pydantic validation.

    >>> cfg = load_config("configs/mnist_baseline.yaml", ["train.epochs=2"])  # doctest: +SKIP
    >>> cfg.train.epochs, cfg.locate(("train", "epochs"))                    # doctest: +SKIP
    (2, ('--set', None))
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import PrivateAttr, ValidationError

from cnnlab.errors import ConfigError, Problem, did_you_mean
from cnnlab.schema import RunConfig, section_fields

Location = tuple[str | None, int | None]  # (file, line); line None for --set overrides
KeyPath = tuple  # keys and list indices, e.g. ("model", "layers", 2, "Conv2D", "filters")


class LocatedConfig(RunConfig):
    """A `RunConfig` that knows where each of its keys was written."""

    _locations: dict[KeyPath, Location] = PrivateAttr(default_factory=dict)
    _source: str | None = PrivateAttr(default=None)

    def locate(self, path: KeyPath) -> Location:
        """(file, line) of the deepest written key on `path`; the config file if none is."""
        return _locate(self._locations, self._source, path)

    def problem(self, path: KeyPath, message: str, hint: str = "") -> Problem:
        """A `Problem` located at `path`, ready to raise as a `ConfigError`."""
        return _problem(self._locations, self._source, path, message, hint)

    def to_yaml(self) -> str:
        """The resolved config as YAML that `cnnlab train` accepts again as it is."""
        data = {
            key: {k: _flow_leaves(v) for k, v in value.items()} if isinstance(value, dict) else value
            for key, value in self.model_dump(mode="json").items()
            if not (key == "search" and value is None)  # only cnnlab tune's configs have one
        }
        return yaml.dump(data, Dumper=_ConfigDumper, sort_keys=False, allow_unicode=True, width=100)


class _FlowDict(dict):
    pass


class _FlowList(list):
    pass


class _ConfigDumper(yaml.SafeDumper):
    """Sections in block style, innermost mappings and lists on one line: `- Dense: {units: 10}`."""


_ConfigDumper.add_representer(_FlowDict, lambda d, v: d.represent_mapping("tag:yaml.org,2002:map", v, flow_style=True))
_ConfigDumper.add_representer(_FlowList, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=True))


def _flow_leaves(value: Any) -> Any:
    if isinstance(value, dict):
        if value and all(not isinstance(v, (dict, list)) for v in value.values()):
            return _FlowDict(value)
        return {k: _flow_leaves(v) for k, v in value.items()}
    if isinstance(value, list):
        if all(not isinstance(v, (dict, list)) for v in value):
            return _FlowList(value)
        return [_flow_leaves(v) for v in value]
    return value


def _locate(locations: dict, source: str | None, path: KeyPath) -> Location:
    for end in range(len(path), -1, -1):
        if path[:end] in locations:
            return locations[path[:end]]
    return (source, None)


def _problem(locations: dict, source: str | None, path: KeyPath, message: str, hint: str) -> Problem:
    file, line = _locate(locations, source, path)
    return Problem(message, key=format_path(path), file=file, line=line, hint=hint)


def format_path(path: KeyPath) -> str:
    """("model", "layers", 2, "Conv2D") -> "model.layers[2].Conv2D"."""
    text = ""
    for key in path:
        text += f"[{key}]" if isinstance(key, int) else (f".{key}" if text else str(key))
    return text


def load_config(source: str | Path | Mapping, overrides: Iterable[str] | Mapping[str, Any] = ()) -> LocatedConfig:
    """Read, merge, override and validate a config; raise `ConfigError` if it is wrong.

    `source` is a YAML file, or a mapping in the YAML's shape (a config written in a notebook),
    whose mistakes are located by their key alone and whose `base:` is a file relative to the
    working folder. `overrides` are `--set` texts ("train.epochs=2", the value read as Python),
    or a mapping of dotted keys to values ({"train.epochs": 2}), both located at "overrides"
    (the argument's name: the shell names its `--set` instead).

    >>> load_config({"name": "x", "model": {"layers": ["Flatten"]}}, {"train.epochs": 2}).train.epochs
    2
    """
    if isinstance(source, Mapping):
        data, locations = _with_base(dict(source), {}, None, ())  # pops base: from the copy only
        origin = None
    else:
        path = Path(source)
        data, locations = _load_with_bases(path, ())
        data.setdefault("name", path.stem)
        origin = str(path)
    config = _validate(data, locations, origin)
    if overrides:
        data = config.model_dump(mode="json")
        for key_path, where in _apply_overrides(data, overrides):
            locations[key_path] = (where, None)
        config = _validate(data, locations, origin)
    return config


def _apply_overrides(data: dict, overrides: Iterable[str] | Mapping[str, Any]) -> Iterator[tuple[KeyPath, str]]:
    """Set each override into `data`; yield its key path and where it was given."""
    if isinstance(overrides, Mapping):
        for key_text, value in overrides.items():

            def fail(message: str, hint: str = "", key=key_text) -> ConfigError:
                return ConfigError(Problem(message, key=key, file="overrides", hint=hint))

            yield _set_key(data, str(key_text), value, fail), "overrides"
        return
    for override in overrides:
        yield _apply_override(data, override)[0], "overrides"


def _validate(data: dict, locations: dict, source: str | None) -> LocatedConfig:
    try:
        config = LocatedConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(_problems(error, data, locations, source)) from None
    config._locations, config._source = locations, source
    return config


def _problems(error: ValidationError, data: dict, locations: dict, source: str | None) -> list[Problem]:
    problems = []
    for item in error.errors():
        path = _data_path(item["loc"], data)
        if item["type"] == "extra_forbidden":
            allowed = section_fields(path[:-1])
            message, hint = "unknown key", did_you_mean(str(path[-1]), allowed)
            if not hint and allowed:
                hint = "allowed: " + ", ".join(allowed)
        elif item["type"] == "missing" and isinstance(item["loc"][-1], int):  # a fixed-length list, too short
            message, hint = f"needs at least {item['loc'][-1] + 1} values (got {item['input']!r})", ""
        elif item["type"] == "missing":
            message, hint = "required key is missing", "add it"
        else:
            message, hint = item["msg"], ""
            if item["type"] not in ("value_error",) and not isinstance(item["input"], (dict, list)):
                message += f" (got {item['input']!r})"
            message = message.removeprefix("Value error, ")
        problems.append(_problem(locations, source, path, message, hint))
    return sorted(problems, key=lambda p: (p.file != source, p.file or "", p.line or 0))


def _data_path(loc: tuple, data: Any) -> KeyPath:
    """Drop pydantic's union and validator tags from `loc`, keeping keys that exist in `data`."""
    path, node = [], data
    for index, key in enumerate(loc):
        if (isinstance(node, dict) and key in node) or (
            isinstance(node, list) and isinstance(key, int) and key < len(node)
        ):
            node = node[key]
        elif not (index == len(loc) - 1 and isinstance(node, dict)):  # a missing last key is the culprit itself
            continue
        path.append(key)
    return tuple(path)


# --- YAML with line numbers -------------------------------------------------------------------


def _load_with_bases(path: Path, chain: tuple[Path, ...]) -> tuple[dict, dict]:
    data, locations = _read_yaml(path)
    return _with_base(data, locations, path, (*chain, path.resolve()))


def _with_base(data: dict, locations: dict, path: Path | None, chain: tuple[Path, ...]) -> tuple[dict, dict]:
    """`data` merged onto its `base:` file, if it names one. `path` is the file `data` was read
    from (None for a mapping: its base is relative to the working folder)."""
    base = data.pop("base", None)
    if base is None:
        return data, locations
    file = None if path is None else str(path)
    base_line = locations.pop(("base",), (file, None))[1]
    if not isinstance(base, str):
        raise ConfigError(
            Problem("must be a file name such as mnist_baseline.yaml", key="base", file=file, line=base_line)
        )
    folder = Path.cwd() if path is None else path.parent
    base_path = folder / base
    if not base_path.is_file():
        hint = did_you_mean(base, (p.name for p in folder.glob("*.y*ml")))
        raise ConfigError(Problem(f"no such file: {base_path}", key="base", file=file, line=base_line, hint=hint))
    if base_path.resolve() in chain:
        cycle = " -> ".join(p.name for p in (*chain, base_path.resolve()))
        raise ConfigError(
            Problem(
                f"base files form a cycle: {cycle}",
                key="base",
                file=file,
                line=base_line,
                hint="remove one of these base: lines",
            )
        )
    base_data, base_locations = _load_with_bases(base_path, chain)
    return _deep_merge(base_data, data), {**base_locations, **locations}


def _deep_merge(base: dict, override: dict) -> dict:
    """Mappings merge key by key at any depth; anything else (lists included) is replaced."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_yaml(path: Path) -> tuple[dict, dict]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            Problem("no such config file", file=str(path), hint="give a path such as configs/mnist_baseline.yaml")
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(Problem(f"cannot read: {error}", file=str(path))) from None
    try:
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as error:
        # The reader refuses control characters before any parsing, with a position, not a line.
        raise ConfigError(
            Problem(
                f"character #x{error.character:04x} is not allowed in YAML",
                file=str(path),
                line=text.count("\n", 0, error.position) + 1,
                hint="remove it; was the file saved from a terminal or a binary tool?",
            )
        ) from None
    try:
        # One parse: the node tree gives the lines, the same nodes give the data.
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except RecursionError:
        raise ConfigError(Problem("nested too deeply to read", file=str(path), hint="is this a config file?")) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        what = " ".join(
            str(part) for part in (getattr(error, "context", None), getattr(error, "problem", None)) if part
        )
        raise ConfigError(
            Problem(
                f"YAML syntax error: {what or error}",
                file=str(path),
                line=mark.line + 1 if mark else None,
                hint="check the indentation and the colons",
            )
        ) from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise ConfigError(
            Problem(
                "a config must be a YAML mapping of sections (name, data, model, train, ...)",
                file=str(path),
                line=node.start_mark.line + 1 if node else None,
            )
        )
    locations: dict[KeyPath, Location] = {}
    _collect_lines(node, (), str(path), locations)
    return data, locations


def _collect_lines(node: yaml.Node, path: KeyPath, file: str, out: dict) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            if (*path, key) in out:
                raise ConfigError(
                    Problem(
                        "duplicate key (YAML would keep only the last one)",
                        key=format_path((*path, key)),
                        file=file,
                        line=key_node.start_mark.line + 1,
                    )
                )
            out[(*path, key)] = (file, key_node.start_mark.line + 1)
            _collect_lines(value_node, (*path, key), file, out)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            out[(*path, index)] = (file, item.start_mark.line + 1)
            _collect_lines(item, (*path, index), file, out)


# --- --set overrides --------------------------------------------------------------------------


def parse_key_path(text: str) -> KeyPath:
    """ "model.layers.4.Dense.units" or "model.layers[4].Dense.units" -> a key path."""
    parts = re.split(r"\.|\[(\d+)\]", text)
    return tuple(int(p) if p.isdigit() else p for p in parts if p)


def with_values(cfg: LocatedConfig, values: dict[str, Any], where: KeyPath) -> LocatedConfig:
    """`cfg` with each dotted key of `values` set (as --set would) and validated again; a
    mistake is reported at `where + (key,)`, the line that asked for the value.

    >>> cfg = LocatedConfig.model_validate({"name": "x", "model": {"layers": [{"Dense": {"units": 3}}]}})
    >>> with_values(cfg, {"model.layers.0.Dense.units": 8}, ("search", "space")).model.layers[0].arguments
    {'units': 8}
    """
    data = cfg.model_dump(mode="json")
    locations = dict(cfg._locations)
    for key_text, value in values.items():
        file, line = cfg.locate((*where, key_text))

        def fail(message: str, hint: str = "", key=key_text, file=file, line=line) -> ConfigError:
            return ConfigError(Problem(message, key=key, file=file, line=line, hint=hint))

        locations[_set_key(data, key_text, value, fail)] = (file, line)
    return _validate(data, locations, cfg._source)


def _apply_override(data: dict, override: str) -> tuple[KeyPath, Any]:
    key_text, equals, value_text = override.partition("=")
    key_text = key_text.strip()
    if not equals or not key_text:
        raise ConfigError(
            Problem(f"expected KEY=VALUE, got {override!r}", file="overrides", hint="for example train.epochs=2")
        )

    def fail(message: str, hint: str = "") -> ConfigError:
        return ConfigError(Problem(message, key=key_text, file="overrides", hint=hint))

    value = _parse_value(value_text.strip())
    return _set_key(data, key_text, value, fail), value


def _set_key(data: dict, key_text: str, value: Any, fail) -> KeyPath:
    """Set the dotted key in the config's data; the key must exist (or be an argument of an
    open mapping). `fail(message, hint)` makes the error, located where the key was given."""
    path = parse_key_path(key_text)
    node: Any = data
    for depth, key in enumerate(path[:-1]):
        node = _step(node, key, path[: depth + 1], fail)
    last = path[-1]
    if isinstance(node, list):
        _step(node, last, path, fail)
    elif not isinstance(node, dict):
        raise fail(f"{format_path(path[:-1])} is a value, not a section")
    elif last not in node and not _is_open_mapping(path[:-1]):
        allowed = section_fields(path[:-1])
        if last not in allowed:  # a section the file left out (None) still has its keys
            raise fail("unknown key", did_you_mean(str(last), allowed))
    node[last] = value
    return path


def _step(node: Any, key: Any, path: KeyPath, fail) -> Any:
    if isinstance(node, list):
        if not isinstance(key, int) or not key < len(node):  # key paths hold no negative numbers
            raise fail(f"{format_path(path[:-1])} has {len(node)} items (0 to {len(node) - 1})")
        # A bare layer name (- Flatten) becomes a mapping when an argument is set on it.
        if isinstance(node[key], str):
            node[key] = {node[key]: {}}
        return node[key]
    if isinstance(node, dict) and key in node:
        if node[key] is None:
            node[key] = {}
        elif path == ("train", "optimizer") and isinstance(node[key], str):
            node[key] = {"name": node[key]}
        return node[key]
    if isinstance(node, dict):
        raise fail(f"unknown key {format_path(path)}", did_you_mean(str(key), node))
    raise fail(f"{format_path(path[:-1])} is a value, not a section")


def _is_open_mapping(path: KeyPath) -> bool:
    """The arguments of a Keras class (a layer, a callback, a learning-rate schedule, the
    optimizer) take any argument Keras takes, checked when the model is built; the search space
    takes any key. New keys may be set there."""
    arguments = len(path) == 4 and (
        path[:2] in (("model", "layers"), ("train", "callbacks")) or path[:3] == ("train", "optimizer", "learning_rate")
    )
    return arguments or path in (("train", "optimizer"), ("search", "space"))


def _parse_value(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    # literal_eval raises TypeError for {[1]: 2} (an unhashable key), RecursionError and
    # MemoryError for deep nesting: none of them is a reason for a traceback.
    except (ValueError, SyntaxError, TypeError, RecursionError, MemoryError):
        lowered = text.lower()
        return {"true": True, "false": False, "null": None, "none": None}.get(lowered, text)
