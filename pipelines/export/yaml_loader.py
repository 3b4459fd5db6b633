"""The YAML reading of the exports file: plain values, and a duplicate key is an error.

PyYAML's safe loader turns `2026-11-01` into a date while parsing, so an impossible date
fails inside the parser with no hint of where; here it stays a string and the exports
schema reports it with its key path. It also keeps the last of two equal keys silently: two
`records:` exports would become one.
"""

from typing import Any, TextIO

import yaml
from yaml.nodes import MappingNode

TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A mapping in the document has the same key twice."""


class ExportsYamlLoader(yaml.SafeLoader):
    """SafeLoader without implicit timestamps, refusing duplicate keys."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        # Merge keys (`<<: *defaults`) first, as SafeLoader does; what they bring in may be
        # overridden, so only the keys written in this mapping itself must be unique.
        self.flatten_mapping(node)
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                repeated = key in seen
            except TypeError:
                raise yaml.constructor.ConstructorError(
                    None, None, f"a key must be a plain value, not {key!r}", key_node.start_mark
                ) from None
            if repeated:
                raise DuplicateKeyError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


ExportsYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != TIMESTAMP_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def parse_yaml(text: str | TextIO) -> Any:
    """The document in `text` (or an open file, whose name errors then show); raises
    `yaml.YAMLError`, with the line, on any problem."""
    # A SafeLoader subclass: plain data only, never arbitrary Python objects.
    return yaml.load(text, Loader=ExportsYamlLoader)
