"""Members of zip and tar archives, and the file inside a gzip, bzip2 or xz stream, within
limits on depth, count, size and ratio.

Nothing is ever written to disk; every size is checked before a member is read, and a member
that would pass the limits is read with a bound anyway (a zip can lie about its sizes).
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import tarfile
import zipfile
from collections.abc import Iterator
from typing import IO

from gateway.extract.limits import Limits, Unreadable


def _bounded_read(stream: IO[bytes] | io.BufferedIOBase, bound: int) -> bytes:
    data = stream.read(bound + 1)
    if len(data) > bound:
        raise Unreadable("limit")
    return data


def zip_members(data: bytes, limits: Limits) -> Iterator[tuple[str, bytes]]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as e:
        raise Unreadable("malformed") from e
    with archive:
        infos = [i for i in archive.infolist() if not i.is_dir()]
        if len(infos) > limits.max_files:
            raise Unreadable("limit")
        if any(info.flag_bits & 0x1 for info in infos):
            raise Unreadable("encrypted")
        total = sum(info.file_size for info in infos)
        packed = max(1, sum(info.compress_size for info in infos))
        if total > limits.max_expanded or total / packed > limits.max_ratio:
            raise Unreadable("limit")
        budget = limits.max_expanded
        for info in infos:
            try:
                with archive.open(info) as member:
                    content = _bounded_read(member, min(budget, info.file_size))
            except (zipfile.BadZipFile, NotImplementedError, OSError) as e:
                raise Unreadable("malformed") from e
            budget -= len(content)
            yield info.filename, content


def tar_members(data: bytes, limits: Limits) -> Iterator[tuple[str, bytes]]:
    try:
        archive = tarfile.open(fileobj=io.BytesIO(data), mode="r:*")
    except (tarfile.TarError, EOFError, OSError) as e:
        raise Unreadable("malformed") from e
    with archive:
        budget, count = limits.max_expanded, 0
        try:
            for member in archive:
                count += 1
                if count > limits.max_files:
                    raise Unreadable("limit")
                if not member.isfile():
                    continue
                if member.size > budget:
                    raise Unreadable("limit")
                stream = archive.extractfile(member)
                if stream is None:
                    continue
                content = _bounded_read(stream, member.size)
                budget -= len(content)
                yield member.name, content
        except (tarfile.TarError, EOFError, OSError) as e:
            raise Unreadable("malformed") from e


COMPRESSED = {
    "application/gzip": ".gz",
    "application/x-gzip": ".gz",
    "application/x-bzip2": ".bz2",
    "application/x-xz": ".xz",
}
"""Single-file compressors, by sniffed type, and the suffix their files carry."""


def compressed_member(data: bytes, limits: Limits, kind: str) -> bytes:
    """The one file a gzip, bzip2 or xz stream holds, within the size and ratio limits."""
    packed = io.BytesIO(data)
    stream: gzip.GzipFile | bz2.BZ2File | lzma.LZMAFile
    try:
        if kind == "application/x-bzip2":
            stream = bz2.BZ2File(packed)
        elif kind == "application/x-xz":
            stream = lzma.LZMAFile(packed)
        else:
            stream = gzip.GzipFile(fileobj=packed)
        with stream:
            content = _bounded_read(stream, limits.max_expanded)
    except (OSError, EOFError, lzma.LZMAError, ValueError) as e:
        raise Unreadable("malformed") from e
    if len(content) > max(1, len(data)) * limits.max_ratio:
        raise Unreadable("limit")
    return content
