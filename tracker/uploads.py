"""Files from outside, checked before any parser sees them.

An XLSX file is a zip archive of XML parts. `check_zip` reads what the parts unpack to from the
archive's central directory alone (no byte is decompressed, so it costs the same for a bomb as
for a letter) and refuses, before a job exists, an archive past the caps: parts, one part's size,
all parts' size, one part's compression ratio, a method other than deflate.

The directory can lie. `GuardedZipFile` reads a part at most up to the size its entry declares
(which `check_zip` capped), decompressing `READ_STEP` at a time: a part whose entry understates
it comes out truncated (a CRC or XML error), never larger. A bare `zipfile.ZipFile.read()`
decompresses the whole part in one call and only then cuts it to the declared size.
"""

from __future__ import annotations

import struct
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import IO

from tracker.errors import ValidationFailed

READ_STEP = 1 << 20
# Entries of a part are ~50 bytes plus its name: a directory larger than this per allowed part
# is refused before zipfile reads it (it would build an object per entry).
DIRECTORY_BYTES_PER_MEMBER = 512
# A part smaller than this cannot cost much whatever its ratio (tiny XML parts compress well).
RATIO_GRACE_BYTES = 1 << 20
_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
_END = struct.Struct("<4s4H2LH")
_END64_LOCATOR = struct.Struct("<4sLQL")
_END64 = struct.Struct("<4sQ2H2L4Q")


class FileRefused(ValidationFailed):
    """A file refused before it is parsed: 422, the reason under `fields["file"]`."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"file: {reason}", fields={"file": [reason]})
        self.reason = reason


class NotAZip(FileRefused):
    """Not a zip archive at all, or a broken one."""

    def __init__(self) -> None:
        super().__init__("not a readable zip archive")


class FileTooLarge(FileRefused):
    """Bytes, or what they unpack to, over a size cap: 413."""

    status = 413
    code = "payload_too_large"


@dataclass(frozen=True)
class ZipLimits:
    """The caps of an uploaded archive (README, "Files from outside")."""

    members: int
    member_bytes: int
    total_bytes: int
    ratio: int

    @classmethod
    def from_config(cls, config: Mapping) -> ZipLimits:
        return cls(
            members=config["UPLOAD_MAX_MEMBERS"],
            member_bytes=config["UPLOAD_MAX_MEMBER_BYTES"],
            total_bytes=config["UPLOAD_MAX_UNCOMPRESSED_BYTES"],
            ratio=config["UPLOAD_MAX_RATIO"],
        )


def check_zip(stream: IO[bytes], limits: ZipLimits) -> list[zipfile.ZipInfo]:
    """The archive's entries, from its central directory only. Raises FileRefused (not a zip,
    too many parts, encrypted, compression ratio, method) or FileTooLarge (a part's or all parts'
    unpacked size). Leaves `stream` open, at an undefined position."""
    count, directory_bytes = _directory_size(stream)
    if count > limits.members or directory_bytes > limits.members * DIRECTORY_BYTES_PER_MEMBER:
        raise _too_many_parts(limits)
    try:
        stream.seek(0)
        with zipfile.ZipFile(stream) as archive:
            entries = archive.infolist()
    except Exception:  # any failure on an untrusted file means the same
        raise NotAZip() from None
    if len(entries) > limits.members:
        raise _too_many_parts(limits)
    total = 0
    for entry in entries:
        if entry.file_size > limits.member_bytes:
            raise FileTooLarge(
                f"part {shown(entry.filename)} unpacks to {format_bytes(entry.file_size)}, more "
                f"than {format_bytes(limits.member_bytes)} (UPLOAD_MAX_MEMBER_BYTES)"
            )
        total += entry.file_size
        if total > limits.total_bytes:
            raise FileTooLarge(
                f"the archive unpacks to more than {format_bytes(limits.total_bytes)} "
                "(UPLOAD_MAX_UNCOMPRESSED_BYTES)"
            )
    for entry in entries:
        _check_entry(entry, limits)
    return entries


def _too_many_parts(limits: ZipLimits) -> FileRefused:
    return FileRefused(f"more than {limits.members} parts in the archive (UPLOAD_MAX_MEMBERS)")


def _check_entry(entry: zipfile.ZipInfo, limits: ZipLimits) -> None:
    name = shown(entry.filename)
    if entry.flag_bits & 0x1:
        raise FileRefused(f"part {name} is encrypted")
    if entry.compress_type not in _METHODS:
        # bzip2 and lzma decompress without a bound on what one call returns.
        raise FileRefused(f"part {name} is compressed with method {entry.compress_type}")
    if entry.file_size > RATIO_GRACE_BYTES and (
        entry.file_size > limits.ratio * entry.compress_size
    ):
        ratio = entry.file_size // max(entry.compress_size, 1)
        raise FileRefused(
            f"part {name} unpacks to {ratio} times its compressed size, more than "
            f"{limits.ratio} (UPLOAD_MAX_RATIO)"
        )


def _directory_size(stream: IO[bytes]) -> tuple[int, int]:
    """(entries, bytes) of the central directory as the end record declares them (read from
    the last 64 KiB at most, as zipfile finds it)."""
    stream.seek(0, 2)
    size = stream.tell()
    start = max(0, size - _END.size - 0xFFFF)
    stream.seek(start)
    tail = stream.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < _END.size:
        raise NotAZip()
    *_, count, directory_bytes, _offset, _comment = _END.unpack_from(tail, at)
    if count != 0xFFFF and directory_bytes != 0xFFFFFFFF:
        return count, directory_bytes
    # Zip64: the record the locator (just before the end record) points at has the real sizes.
    locator = at - _END64_LOCATOR.size
    if locator < 0:
        raise NotAZip()
    signature, _, offset, _ = _END64_LOCATOR.unpack_from(tail, locator)
    if signature != b"PK\x06\x07" or offset > size - _END64.size:
        raise NotAZip()
    stream.seek(offset)
    record = stream.read(_END64.size)
    signature, *_, count, directory_bytes, _offset = _END64.unpack(record)
    if signature != b"PK\x06\x06":
        raise NotAZip()
    return count, directory_bytes


class GuardedZipFile(zipfile.ZipFile):
    """A checked archive (`check_zip` on opening) whose parts never yield more than their
    entries declare, decompressed READ_STEP at a time. Read only."""

    def __init__(self, file: IO[bytes], limits: ZipLimits) -> None:
        check_zip(file, limits)
        file.seek(0)
        super().__init__(file)

    def open(self, name, mode="r", pwd=None, *, force_zip64=False):
        if mode != "r":
            raise ValueError("a guarded archive is read only")
        member = super().open(name, mode, pwd)
        # read() without a size otherwise inflates all that is left in one call.
        member.MAX_N = READ_STEP
        return member

    def read(self, name, pwd=None) -> bytes:
        with self.open(name, "r", pwd) as member:
            return b"".join(iter(partial(member.read, READ_STEP), b""))


def format_bytes(count: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= size:
            return f"{count / size:.1f}".removesuffix(".0") + f" {unit}"
    return f"{count} bytes"


def shown(name: str, limit: int = 80) -> str:
    """A name from the file, fit for a message: printable, not too long."""
    printable = "".join(ch if ch.isprintable() else "?" for ch in name[: limit + 1])
    return printable if len(printable) <= limit else printable[: limit - 1] + "…"
