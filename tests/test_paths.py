"""engage.paths: content hashes that tell videos apart by every byte."""

from __future__ import annotations

import hashlib
from pathlib import Path

from engage.paths import file_sha256


def test_the_content_hash_covers_every_byte_of_a_large_file(tmp_path: Path):
    # Larger than the read chunk (4 MiB) and every test clip, identical up to the last byte.
    head = bytes(range(256)) * (5 * 4096 + 7)
    first, second = tmp_path / "a.mp4", tmp_path / "b.mp4"
    first.write_bytes(head + b"\x00")
    second.write_bytes(head + b"\x01")
    assert len(head) > 5 * (1 << 20)
    assert file_sha256(first) != file_sha256(second)
    assert file_sha256(first) == hashlib.sha256(first.read_bytes()).hexdigest()
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert file_sha256(empty) == hashlib.sha256(b"").hexdigest()
