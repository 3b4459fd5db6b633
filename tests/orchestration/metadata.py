"""Typed reads of an event's Dagster metadata.

`MetadataValue.value` is typed as the union of everything Dagster can store, so a test that
compares an entry with a number first checks which kind of entry it is. These helpers do that
and fail the test naming the entry when it is of another kind.
"""

from collections.abc import Mapping
from typing import Any, TypeVar

from dagster import (
    IntMetadataValue,
    MetadataValue,
    PathMetadataValue,
    TableSchema,
    TableSchemaMetadataValue,
    TextMetadataValue,
)

Metadata = Mapping[str, MetadataValue[Any]]
Entry = TypeVar("Entry", bound=MetadataValue[Any])


def entry(metadata: Metadata, key: str, kind: type[Entry]) -> Entry:
    value = metadata[key]
    assert isinstance(value, kind), f"metadata {key!r} is {value!r}, not {kind.__name__}"
    return value


def int_entry(metadata: Metadata, key: str) -> int:
    value = entry(metadata, key, IntMetadataValue).value
    assert value is not None, f"metadata {key!r} is an empty int"
    return value


def text_entry(metadata: Metadata, key: str) -> str:
    return entry(metadata, key, TextMetadataValue).value


def path_entry(metadata: Metadata, key: str) -> str:
    return entry(metadata, key, PathMetadataValue).value


def schema_entry(metadata: Metadata, key: str) -> TableSchema:
    return entry(metadata, key, TableSchemaMetadataValue).value
