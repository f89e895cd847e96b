"""A small cursor codec for the TLS presentation language (RFC 8446 section 3).

:class:`Reader` walks a ``memoryview`` without copying; every read checks the
length against what remains and raises :class:`~siotls.core.errors.DecodeError`
(the ``decode_error`` alert) when the peer's bytes run short. Length-prefixed
vectors are read with ``with r.block(2):`` which also insists that the block is
consumed exactly. :class:`Writer` appends to a ``bytearray`` and back-patches
length prefixes with ``with w.block(2):``.

The hottest parsers spell a block out as ``outer = r.begin(2)`` ...
``r.finish(outer)`` (``w.begin``/``w.finish`` when writing): the same checks,
without a context manager object per vector. Either way, an exception inside a
block leaves the cursor as it is: the message is abandoned.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from types import TracebackType

from siotls.core.errors import DecodeError, IllegalParameter


class Reader:
    __slots__ = ("_data", "_end", "pos")

    def __init__(self, data: bytes | bytearray | memoryview) -> None:
        self._data = memoryview(data)
        self.pos = 0
        self._end = len(self._data)

    def remaining(self) -> int:
        return self._end - self.pos

    def at_end(self) -> bool:
        return self.pos == self._end

    def expect_end(self, what: str = "message") -> None:
        if self.pos != self._end:
            raise DecodeError(f"{self._end - self.pos} trailing bytes at the end of the {what}")

    # Each read checks what remains inline (one frame per read); _short names the
    # shortfall. The hot parsers run these a few dozen times per handshake.
    def _short(self, n: int, pos: int) -> DecodeError:
        return DecodeError(f"needed {n} bytes, {self._end - pos} remain")

    def _take(self, n: int) -> int:
        pos = self.pos
        if n > self._end - pos:
            raise self._short(n, pos)
        self.pos = pos + n
        return pos

    def _uint(self, n: int) -> int:
        pos = self.pos
        if n > self._end - pos:
            raise self._short(n, pos)
        self.pos = pos + n
        return int.from_bytes(self._data[pos : pos + n], "big")

    def u8(self) -> int:
        pos = self.pos
        if pos >= self._end:
            raise self._short(1, pos)
        self.pos = pos + 1
        return self._data[pos]

    def u16(self) -> int:
        pos = self.pos
        if self._end - pos < 2:
            raise self._short(2, pos)
        self.pos = pos + 2
        return int.from_bytes(self._data[pos : pos + 2], "big")

    def u24(self) -> int:
        return self._uint(3)

    def u32(self) -> int:
        return self._uint(4)

    def bytes(self, n: int) -> builtins.bytes:
        pos = self.pos
        if n > self._end - pos:
            raise self._short(n, pos)
        self.pos = pos + n
        return builtins.bytes(self._data[pos : pos + n])

    def view(self, n: int) -> memoryview:
        pos = self._take(n)
        return self._data[pos : pos + n]

    def opaque(self, prefix: int, minimum: int = 0, maximum: int | None = None
               ) -> builtins.bytes:
        """``opaque x<minimum..maximum>`` with a ``prefix``-byte length."""
        n = self._uint(prefix)
        if n < minimum or (maximum is not None and n > maximum):
            raise DecodeError(f"vector of {n} bytes, outside <{minimum}..{maximum}>")
        pos = self.pos
        if n > self._end - pos:
            raise self._short(n, pos)
        self.pos = pos + n
        return builtins.bytes(self._data[pos : pos + n])

    def block(self, prefix: int, minimum: int = 0) -> _ReaderBlock:
        """Read a vector's length and confine the reads inside it to it."""
        return _ReaderBlock(self, self.begin(prefix, minimum))

    def begin(self, prefix: int, minimum: int = 0) -> int:
        """Read a vector's length, confine the next reads to it; the end to give
        :meth:`finish` (the outer one)."""
        n = self._uint(prefix)
        if n < minimum:
            raise DecodeError(f"vector of {n} bytes, shorter than {minimum}")
        outer_end = self._end
        if n > outer_end - self.pos:
            raise DecodeError(f"vector of {n} bytes, {outer_end - self.pos} remain")
        self._end = self.pos + n
        return outer_end

    def finish(self, outer_end: int) -> None:
        """The vector :meth:`begin` opened must be consumed exactly; back to ``outer_end``."""
        if self.pos != self._end:
            raise DecodeError(f"{self._end - self.pos} trailing bytes at the end of a vector")
        self._end = outer_end

    def opaque_list(self, prefix: int, item_prefix: int) -> tuple[builtins.bytes, ...]:
        """``opaque x<1..2^M-1>`` items in a ``prefix``-byte vector (a certificate chain)."""
        items: list[builtins.bytes] = []
        with self.block(prefix):
            while not self.at_end():
                items.append(self.opaque(item_prefix, minimum=1))
        return tuple(items)

    def u16_list(self, prefix: int, minimum: int = 0) -> list[int]:
        """``uint16 x<minimum..2^N-1>``: a vector of 16-bit values."""
        n = self._uint(prefix)
        if n % 2 or n < minimum:
            raise DecodeError(f"a vector of uint16 of {n} bytes")
        pos = self._take(n)
        data = self._data
        return [int.from_bytes(data[i : i + 2], "big") for i in range(pos, pos + n, 2)]

    def typed_opaques(self) -> dict[int, builtins.bytes]:
        """``struct { uint16 type; opaque data<0..2^16-1>; }`` until the end, by type.

        The Extension struct; the same reads as ``(r.u16(), r.opaque(2))`` in a
        loop, with the same bounds checks, in one frame (a ClientHello has a dozen).
        A type seen twice is ``illegal_parameter`` (RFC 8446 4.2: one extension of a
        type per block), raised where it is met, as the reads' own errors are.
        """
        data, pos, end = self._data, self.pos, self._end
        items: dict[int, builtins.bytes] = {}
        while pos < end:
            if end - pos < 4:
                self.pos = pos
                raise DecodeError(f"needed 4 bytes, {end - pos} remain")
            kind = (data[pos] << 8) | data[pos + 1]
            n = (data[pos + 2] << 8) | data[pos + 3]
            pos += 4
            if n > end - pos:
                self.pos = pos
                raise DecodeError(f"needed {n} bytes, {end - pos} remain")
            if kind in items:
                self.pos = pos
                raise IllegalParameter(f"extension {kind} appears twice")
            items[kind] = builtins.bytes(data[pos : pos + n])
            pos += n
        self.pos = pos
        return items


class _ReaderBlock:
    """``with r.block(n):``: :meth:`Reader.begin` done, :meth:`Reader.finish` on exit."""

    __slots__ = ("outer_end", "reader")

    def __init__(self, reader: Reader, outer_end: int) -> None:
        self.reader = reader
        self.outer_end = outer_end

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.reader.finish(self.outer_end)


class Writer:
    __slots__ = ("buf",)

    def __init__(self) -> None:
        self.buf = bytearray()

    def u8(self, value: int) -> None:
        self.buf.append(value)

    def u16(self, value: int) -> None:
        self.buf += value.to_bytes(2, "big")

    def u24(self, value: int) -> None:
        self.buf += value.to_bytes(3, "big")

    def u32(self, value: int) -> None:
        self.buf += value.to_bytes(4, "big")

    def bytes(self, value: builtins.bytes | bytearray | memoryview) -> None:
        self.buf += value

    def opaque(self, prefix: int, value: builtins.bytes | bytearray | memoryview) -> None:
        self.buf += len(value).to_bytes(prefix, "big")
        self.buf += value

    def opaque_list(self, prefix: int, item_prefix: int,
                    values: Sequence[builtins.bytes]) -> None:
        """The inverse of :meth:`Reader.opaque_list`."""
        with self.block(prefix):
            for value in values:
                self.opaque(item_prefix, value)

    def u16_list(self, prefix: int, values: Sequence[int]) -> None:
        self.buf += (2 * len(values)).to_bytes(prefix, "big")
        for value in values:
            self.buf += value.to_bytes(2, "big")

    def block(self, prefix: int) -> _WriterBlock:
        """Write a vector: reserve the length, let the caller fill it, back-patch it."""
        return _WriterBlock(self, self.begin(prefix), prefix)

    def begin(self, prefix: int) -> int:
        """Reserve a ``prefix``-byte length; where it is, for :meth:`finish`."""
        start = len(self.buf)
        self.buf += _ZEROS[prefix]
        return start

    def finish(self, start: int, prefix: int) -> None:
        """Back-patch the length :meth:`begin` reserved at ``start``."""
        length = len(self.buf) - start - prefix
        if length >= 1 << (8 * prefix):
            raise ValueError(f"vector of {length} bytes does not fit a {prefix}-byte length")
        self.buf[start : start + prefix] = length.to_bytes(prefix, "big")

    def getvalue(self) -> builtins.bytes:
        return builtins.bytes(self.buf)


_ZEROS = (b"", b"\x00", b"\x00\x00", b"\x00\x00\x00")


class _WriterBlock:
    """``with w.block(n):``: :meth:`Writer.begin` done, :meth:`Writer.finish` on exit."""

    __slots__ = ("prefix", "start", "writer")

    def __init__(self, writer: Writer, start: int, prefix: int) -> None:
        self.writer = writer
        self.start = start
        self.prefix = prefix

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.writer.finish(self.start, self.prefix)
