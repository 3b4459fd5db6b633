"""The chunk planner against an exact in-memory counter."""

from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.export.planner import Chunk, ChunkPlanner

START = datetime(2026, 12, 1, 13, tzinfo=UTC)
END = START + timedelta(hours=1)
US = timedelta(microseconds=1)


class FakeCounter:
    """Counts rows at microsecond offsets from START the way the server's SQL would."""

    def __init__(self, offsets_us: list[int], limit: int) -> None:
        self.counts = Counter(offsets_us)
        self.limit = limit
        self.calls = 0

    def __call__(
        self, start: datetime, end: datetime, width_us: int | None
    ) -> list[tuple[datetime, int]]:
        self.calls += 1
        lo, hi = (start - START) // US, (end - START) // US
        buckets: Counter[int] = Counter()
        for offset, n in self.counts.items():
            if lo <= offset < hi:
                key = offset if width_us is None else lo + (offset - lo) // width_us * width_us
                buckets[key] += n
        rows = sorted(buckets.items())[: self.limit]  # the API truncates at the limit
        return [(START + k * US, n) for k, n in rows]

    def rows_in(self, chunk: Chunk) -> int:
        lo, hi = (chunk.start - START) // US, (chunk.end - START) // US
        return sum(n for offset, n in self.counts.items() if lo <= offset < hi)


def assert_tiles(chunks: list[Chunk], start: datetime, end: datetime) -> None:
    assert chunks[0].start == start
    assert chunks[-1].end == end
    for before, after in pairwise(chunks):
        assert before.end == after.start
        assert before.start < before.end


def plan(offsets: list[int], limit: int) -> tuple[list[Chunk], FakeCounter]:
    counter = FakeCounter(offsets, limit)
    return ChunkPlanner(counter, limit=limit).plan(START, END), counter


def test_empty_window_is_one_chunk() -> None:
    chunks, counter = plan([], limit=100)
    assert chunks == [Chunk(START, END, 0)]
    assert counter.calls == 1


def test_sparse_window_is_one_chunk_after_one_count() -> None:
    chunks, counter = plan([5, 1_000, 3_000_000_000], limit=100)
    assert chunks == [Chunk(START, END, 3)]
    assert counter.calls == 1


def test_dense_window_is_split_under_the_limit() -> None:
    offsets = list(range(0, 3_600_000_000, 14_400))  # 250,000 rows spread over the hour
    chunks, counter = plan(offsets, limit=10_000)
    assert_tiles(chunks, START, END)
    assert all(counter.rows_in(c) < 10_000 for c in chunks)
    assert sum(c.expected_rows for c in chunks) == len(offsets)
    # Greedy packing over fine buckets wastes little: close to the minimum of 25 chunks.
    assert len(chunks) <= 27


def test_a_burst_on_one_microsecond_becomes_a_tie_chunk() -> None:
    offsets = [1_000] * 150 + [2_000, 2_001]
    chunks, _ = plan(offsets, limit=100)
    assert_tiles(chunks, START, END)
    ties = [c for c in chunks if c.tie]
    assert ties == [Chunk(START + 1_000 * US, START + 1_001 * US, 150, tie=True)]


def test_a_dense_bucket_with_many_distinct_timestamps_is_refined_by_histogram() -> None:
    offsets = list(range(0, 400))  # 400 rows on 400 microseconds, one histogram bucket
    chunks, counter = plan(offsets, limit=100)
    assert_tiles(chunks, START, END)
    assert all(counter.rows_in(c) < 100 for c in chunks)
    assert not any(c.tie for c in chunks)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.integers(0, 3_599_999_999),
            st.sampled_from([0, 1, 3_599_999_999, 1_800_000_000]),
        ),
        max_size=400,
    ),
    st.integers(2, 50),
)
def test_chunks_always_tile_the_window_and_fit(offsets: list[int], limit: int) -> None:
    chunks, counter = plan(offsets, limit)
    assert_tiles(chunks, START, END)
    for chunk in chunks:
        if chunk.tie:
            assert chunk.end - chunk.start == US
        else:
            assert counter.rows_in(chunk) < limit
    assert sum(counter.rows_in(c) for c in chunks) == len(offsets)
