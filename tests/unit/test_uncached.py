import ctypes
import errno
import io
import mmap
import os
from pathlib import Path

import pytest

from kkimage import uncached
from kkimage.uncached import ALIGN, BLOCK, UncachedFile
from tests.helpers import resident_in_memory, resident_pages

SIZES = [0, 1, ALIGN - 1, ALIGN, ALIGN + 1, BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK + 123]


def write_in_pieces(path, data: bytes, piece: int) -> None:
    """`data` into a new UncachedFile, delivered at most `piece` bytes at a time."""
    source = io.BytesIO(data)
    with UncachedFile(path) as handle:
        handle.write_from(lambda buffer: source.readinto(buffer[:piece]))
        handle.flush()


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("piece", [1000, BLOCK, 5 * BLOCK])
def test_every_byte_arrives_whatever_the_sizes(tmp_path, size, piece):
    data = os.urandom(size)
    write_in_pieces(tmp_path / "blob", data, piece)
    assert (tmp_path / "blob").read_bytes() == data


def test_whole_blocks_do_not_fill_the_page_cache(tmp_path):
    """A blob pulled is written around the cache: only its last partial page may be there."""
    path = tmp_path / "blob"
    write_in_pieces(path, os.urandom(4 * BLOCK + 100), BLOCK)
    try:
        os.close(os.open(tmp_path / "probe", os.O_WRONLY | os.O_CREAT | os.O_DIRECT))
    except OSError:
        pytest.skip("this file system refuses O_DIRECT")
    assert resident_pages(path) <= 1
    cached = tmp_path / "cached"
    cached.write_bytes(os.urandom(4 * BLOCK + 100))
    assert resident_pages(cached) > 1000  # the measure sees a cached file for what it is


def einval() -> OSError:
    return OSError(errno.EINVAL, os.strerror(errno.EINVAL))


def written_despite(tmp_path, monkeypatch, name: str, refusing) -> None:
    """A blob written whole while `os.<name>`, replaced by `refusing`, turns O_DIRECT down."""
    monkeypatch.setattr(uncached.os, name, refusing)
    data = os.urandom(2 * BLOCK + 5)
    write_in_pieces(tmp_path / "blob", data, BLOCK)
    monkeypatch.undo()
    assert (tmp_path / "blob").read_bytes() == data


def test_a_file_system_refusing_o_direct_gets_cached_writes(tmp_path, monkeypatch):
    real_open = os.open

    def refusing(path, flags, mode=0o777):
        if flags & os.O_DIRECT:
            raise einval()
        return real_open(path, flags, mode)

    written_despite(tmp_path, monkeypatch, "open", refusing)


def test_a_direct_write_refused_midway_goes_on_through_the_cache(tmp_path, monkeypatch):
    """Some file systems open with O_DIRECT and refuse the write (EINVAL)."""
    real_write = os.write

    def refusing(fd, data):
        if uncached.fcntl.fcntl(fd, uncached.fcntl.F_GETFL) & os.O_DIRECT:
            raise einval()
        return real_write(fd, data)

    written_despite(tmp_path, monkeypatch, "write", refusing)


def test_other_write_errors_are_raised(tmp_path, monkeypatch):
    def full(fd, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(uncached.os, "write", full)
    with pytest.raises(OSError, match="No space"):
        write_in_pieces(tmp_path / "blob", b"x" * BLOCK, BLOCK)


def test_an_existing_file_is_refused(tmp_path):
    (tmp_path / "blob").write_bytes(b"old")
    with pytest.raises(FileExistsError):
        UncachedFile(tmp_path / "blob")
    assert (tmp_path / "blob").read_bytes() == b"old"


def test_a_closed_file_gives_its_block_to_the_next_once(tmp_path):
    first = UncachedFile(tmp_path / "a")
    first.close()
    first.close()
    second, third = UncachedFile(tmp_path / "b"), UncachedFile(tmp_path / "c")
    assert second._block is not third._block
    second.close()
    third.close()


def test_a_new_block_is_private_memory_resident_from_the_start():
    """A shared anonymous mapping (mmap's default) would fault in shmem for every page."""
    block = uncached._take_block()
    start = ctypes.addressof(ctypes.c_char.from_buffer(block))
    for line in Path("/proc/self/maps").read_text().splitlines():
        low, high = (int(end, 16) for end in line.split()[0].split("-"))
        if low <= start < high:
            assert line.split()[1] == "rw-p"
            break
    else:
        raise AssertionError("the block is not mapped")
    assert resident_in_memory(start, BLOCK) == BLOCK // mmap.PAGESIZE
