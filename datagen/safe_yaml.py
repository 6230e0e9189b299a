"""YAML that datagen reads from a file it did not write itself (a manifest, a dataset folder's `manifest.yaml`).

`yaml.safe_load` already refuses Python tags, but not size: PyYAML shares an aliased node instead of copying it,
so 561 bytes of nested aliases ("billion laughs") load instantly and expand to gigabytes the moment anything walks
the result (the audit renders it, `datagen filter` copies it). So the bytes are capped before parsing, and the
node count *with aliases expanded* is computed on the shared graph (without expanding it) and capped before any
Python object is built; nesting depth and recursive aliases are refused too. Every refusal is a `yaml.YAMLError`,
so callers handle it like any other unreadable YAML.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

__all__ = ["MAX_YAML_BYTES", "MAX_YAML_DEPTH", "MAX_YAML_NODES", "YAMLRefusedError", "load_yaml", "read_yaml"]

MAX_YAML_BYTES = 1 << 20  # a manifest is a few KB; a dataset's resolved manifest.yaml a few more
MAX_YAML_NODES = 100_000  # scalars + collections after alias expansion
MAX_YAML_DEPTH = 64


class YAMLRefusedError(yaml.YAMLError):
    """Valid YAML, perhaps, but larger, deeper or more self-referential than any manifest datagen accepts."""


def read_yaml(path: Path, *, max_bytes: int = MAX_YAML_BYTES) -> Any:
    """The YAML document in `path`; OSError when it cannot be read, YAMLError when it is invalid or refused."""
    with open(path, "rb") as f:
        raw = f.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise YAMLRefusedError(f"larger than {max_bytes} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise YAMLRefusedError(f"not UTF-8 text ({err.reason} at byte {err.start})") from None
    return load_yaml(text, max_bytes=max_bytes)


def load_yaml(text: str, *, max_bytes: int = MAX_YAML_BYTES) -> Any:
    """`yaml.safe_load(text)` within the caps above."""
    if len(text) > max_bytes:
        raise YAMLRefusedError(f"larger than {max_bytes} characters")
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expanded_size(node)
        return loader.construct_document(node)
    except RecursionError:
        raise YAMLRefusedError(f"nested deeper than {MAX_YAML_DEPTH} levels") from None
    except (ValueError, TypeError, OverflowError) as err:  # e.g. a 5,000-digit integer
        raise YAMLRefusedError(f"a value cannot be read: {str(err)[:200]}") from None
    finally:
        loader.dispose()


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _check_expanded_size(root: yaml.Node) -> None:
    """Count nodes as if every alias were copied, memoized per shared node (iterative: no recursion limit)."""
    size: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, children_done = stack.pop()
        key = id(node)
        if children_done:
            on_path.discard(key)
            size[key] = 1 + sum(size[id(c)] for c in _children(node))
            if size[key] > MAX_YAML_NODES:
                raise YAMLRefusedError(f"more than {MAX_YAML_NODES} values once its aliases (*name) are expanded")
            continue
        if key in size:
            continue
        if key in on_path:
            raise YAMLRefusedError("an alias (*name) refers to a collection that contains it")
        if depth > MAX_YAML_DEPTH:
            raise YAMLRefusedError(f"nested deeper than {MAX_YAML_DEPTH} levels")
        on_path.add(key)
        stack.append((node, depth, True))
        stack.extend((child, depth + 1, False) for child in _children(node))
