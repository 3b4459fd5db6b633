"""Splitting a window into chunks that each fit in one answer of the Query API.

The API truncates silently at `limit` rows, so a chunk must hold fewer than `limit` rows to
be trusted. The planner asks the server for a histogram of the window, packs adjacent
buckets greedily into chunks, and refines any bucket that is too dense on its own: first by
counting each distinct timestamp, then (if even that answer would be truncated) by a finer
histogram. A single microsecond with `limit` rows or more becomes a *tie* chunk, which the
fetcher pages by keyset.

The chunks tile the window exactly: no gap, no overlap, every boundary half-open.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from pipelines.export.window import MICROSECOND

# `count_buckets(start, end, width_us)` returns `(bucket_start, rows)` for the non-empty
# buckets of `[start, end)`, sorted; `width_us=None` means one bucket per distinct timestamp.
BucketCounter = Callable[[datetime, datetime, int | None], list[tuple[datetime, int]]]


@dataclass(frozen=True)
class Bucket:
    start: datetime
    end: datetime
    rows: int


@dataclass(frozen=True)
class Chunk:
    """`[start, end)`, expected to hold `expected_rows` when planned.

    A `tie` chunk is one microsecond holding at least `limit` rows; it is paged by keyset.
    """

    start: datetime
    end: datetime
    expected_rows: int
    tie: bool = False


class ChunkPlanner:
    """Plans chunks from the server's counts; one instance per export window."""

    def __init__(self, count_buckets: BucketCounter, *, limit: int) -> None:
        if limit < 2:
            raise ValueError(f"the row limit must be at least 2, got {limit}")
        self._count_buckets = count_buckets
        self.limit = limit

    def plan(self, start: datetime, end: datetime) -> list[Chunk]:
        """Chunks tiling `[start, end)`, each expected to hold fewer than `limit` rows."""
        return _pack(start, end, self._histogram(start, end), self.limit)

    def _histogram(self, start: datetime, end: datetime) -> list[Bucket]:
        # As many buckets as one answer can hold: a full answer is then known to be complete,
        # and buckets this fine waste little when they are packed into chunks (each chunk
        # falls short of the limit by less than one bucket).
        width_us = max(1, -(-_micros(end - start) // self.limit))
        width = timedelta(microseconds=width_us)
        buckets: list[Bucket] = []
        for bucket_start, rows in self._count_buckets(start, end, width_us):
            bucket = Bucket(max(bucket_start, start), min(bucket_start + width, end), rows)
            if rows < self.limit or bucket.end - bucket.start <= MICROSECOND:
                buckets.append(bucket)
            else:
                buckets.extend(self._refine(bucket))
        return buckets

    def _refine(self, bucket: Bucket) -> list[Bucket]:
        """Split a bucket that holds too many rows for one chunk."""
        per_timestamp = self._count_buckets(bucket.start, bucket.end, None)
        if len(per_timestamp) < self.limit:
            return [Bucket(moment, moment + MICROSECOND, rows) for moment, rows in per_timestamp]
        # Too many distinct timestamps to list in one answer: a finer histogram instead.
        return self._histogram(bucket.start, bucket.end)


def _pack(start: datetime, end: datetime, buckets: list[Bucket], limit: int) -> list[Chunk]:
    """Greedily merge adjacent buckets (and the empty gaps between them) into chunks."""
    chunks: list[Chunk] = []
    chunk_start, chunk_rows = start, 0
    for bucket in buckets:
        if bucket.rows >= limit:
            # Only a single microsecond can still hold `limit` rows: page it on its own.
            if chunk_rows == 0 and chunks and not chunks[-1].tie:
                # An empty gap before the tie joins the previous chunk: no request for it.
                last = chunks.pop()
                chunks.append(Chunk(last.start, bucket.start, last.expected_rows))
            elif chunk_start < bucket.start:
                chunks.append(Chunk(chunk_start, bucket.start, chunk_rows))
            chunks.append(Chunk(bucket.start, bucket.end, bucket.rows, tie=True))
            chunk_start, chunk_rows = bucket.end, 0
        elif chunk_rows + bucket.rows >= limit:
            chunks.append(Chunk(chunk_start, bucket.start, chunk_rows))
            chunk_start, chunk_rows = bucket.start, bucket.rows
        else:
            chunk_rows += bucket.rows
    if chunk_start < end:
        if chunk_rows == 0 and chunks and not chunks[-1].tie:
            # A trailing empty stretch joins the previous chunk rather than cost a request.
            last = chunks.pop()
            chunks.append(Chunk(last.start, end, last.expected_rows))
        else:
            chunks.append(Chunk(chunk_start, end, chunk_rows))
    return chunks


def _micros(delta: timedelta) -> int:
    return delta // MICROSECOND
