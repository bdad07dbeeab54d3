"""Peak memory and time while ``sensing import`` refuses a gzip bomb (a CSV expanding to >= 2 GiB).

The bomb is a CSV header followed by zeros, gzip level 9, written to a temporary folder in 1 MB
steps. Deflate cannot compress better than about 1032:1, so the smallest gzip that expands to
2 GiB is about 2 MB (a 300 KB gzip expands to at most about 300 MB; ``--gib`` sets the size).
It is opened with the default ``imports`` settings (``max_decompressed_mb: 1024``), which must
refuse it; peak memory is measured with tracemalloc (Python and zlib allocations) and as the
growth of the process's peak RSS. When the shared corpora are present, the cost of the same
bounded pre-check on a real file (Weibo hot-search snapshots, 21 MB of gzip) is printed too.

Run: ``python -m bench.import_limits [--gib 2]``. Last line: ``import_bomb_peak_memory: X MB``.
"""

from __future__ import annotations

import argparse
import os
import resource
import struct
import sys
import tempfile
import time
import tracemalloc
import zlib
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # shared 2-core machine: stay single-threaded
_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:  # run as a script: python bench/x.py
    sys.path.insert(0, _ROOT)

from bench import machine  # noqa: E402
from ingest.read_limits import check_gzip  # noqa: E402
from ingest.tabular import TableError, open_table  # noqa: E402
from kernel.settings import ImportSettings  # noqa: E402

MB = 1 << 20


def write_bomb(path: Path, gib: float) -> int:
    """A gzip CSV expanding to ``gib`` GiB (plus its header); returns the bytes it expands to.

    Each 1 MB block of zeros is deflated with a full flush, so after the first block every
    block's output is the same bytes: they are compressed once and written ``gib * 1024`` times.
    """
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)  # raw deflate: the gzip frame is ours
    head = b"id,content\n1,"
    block = bytes(MB)
    blocks = int(gib * 1024)
    crc = zlib.crc32(head)
    with path.open("wb") as out:
        out.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff")  # gzip header, no name, no time
        out.write(
            compressor.compress(head) + compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
        )
        repeated = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
        crc = zlib.crc32(block, crc)
        for _ in range(blocks - 1):
            out.write(repeated)
            crc = zlib.crc32(block, crc)
        out.write(compressor.flush())
        size = len(head) + blocks * MB
        out.write(struct.pack("<II", crc, size & 0xFFFFFFFF))
    return size


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=2.0, help="GiB the bomb expands to")
    args = parser.parse_args()
    print(machine.describe())
    limits = ImportSettings()
    with tempfile.TemporaryDirectory() as tmp:
        bomb = Path(tmp) / "bomb.csv.gz"
        started = time.perf_counter()
        expands_to = write_bomb(bomb, args.gib)
        print(
            f"bomb: {bomb.stat().st_size / 1024:,.0f} KB of gzip expanding to {expands_to / MB:,.0f} MB "
            f"(written in {time.perf_counter() - started:.1f} s)"
        )
        rss_before = max_rss_mb()
        tracemalloc.start()
        started = time.perf_counter()
        try:
            open_table(bomb, limits)
        except TableError as exc:
            refusal = str(exc)
        else:
            raise SystemExit("the bomb was NOT refused")
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rss_growth = max_rss_mb() - rss_before
    print(f"refused in {elapsed:.2f} s with max_decompressed_mb={limits.max_decompressed_mb}: {refusal}")
    print(f"peak RSS growth while refusing: {rss_growth:.1f} MB")
    snapshots = (
        Path(os.environ.get("SENSING_SHARED_DATA") or Path(_ROOT).parent / "shared" / "data")
        / "weibo_hot_search_hourly"
        / "snapshots.csv.gz"
    )
    if snapshots.exists():
        started = time.perf_counter()
        size = check_gzip(snapshots, limits.max_decompressed_bytes)
        print(
            f"the same pre-check on {snapshots.name} ({snapshots.stat().st_size / MB:.0f} MB gzip, "
            f"{size / MB:.0f} MB of CSV): {time.perf_counter() - started:.2f} s"
        )
    print(f"import_bomb_peak_memory: {peak / MB:.1f} MB")


if __name__ == "__main__":
    main()
