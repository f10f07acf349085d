"""engage.paths: content hashes that tell videos apart by every byte; where the shared data is looked for."""

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


def test_engage_data_names_a_folder_or_a_file_in_it_and_a_missing_path_stays_as_given(tmp_path: Path, monkeypatch):
    from engage.paths import shared_data_dir

    data = tmp_path / "data"
    data.mkdir()
    (data / "fer2013.npz").write_bytes(b"")
    monkeypatch.setenv("ENGAGE_DATA", str(data))
    assert shared_data_dir() == data
    monkeypatch.setenv("ENGAGE_DATA", str(data / "fer2013.npz"))
    assert shared_data_dir() == data
    # A typo is reported as typed, not silently replaced by its parent folder.
    monkeypatch.setenv("ENGAGE_DATA", str(data / "missing"))
    assert shared_data_dir() == data / "missing"


def test_a_path_naming_an_unknown_users_home_stays_as_given():
    from engage.paths import expand_user

    assert expand_user("~0/x.mp4") == Path("~0/x.mp4")  # Path.expanduser raises RuntimeError here
    assert expand_user("~/x.mp4") == Path.home() / "x.mp4"
    assert expand_user(Path("a/b")) == Path("a/b")
