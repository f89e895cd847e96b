"""What a read costs asyncio's plain protocols: ``recv(256 KiB)`` against ``recv_into``.

    python bench/bench_recv_alloc.py            # about 5 s
    MALLOC_MMAP_THRESHOLD_=4194304 python bench/bench_recv_alloc.py

asyncio's selector transports read ``sock.recv(256 KiB)`` for a ``Protocol``
(``data_received``) and ``sock.recv_into(buffer)`` for a ``BufferedProtocol``
(``get_buffer``/``buffer_updated``), which is what ``sslproto`` is. The first
allocates a 256 KiB ``bytes`` per read and shrinks it to what arrived. With
glibc's malloc a 256 KiB block is above the default mmap threshold (128 KiB),
so each read is an ``mmap``, page faults on the pages the kernel writes, an
``mremap`` to shrink it and a ``munmap``; glibc raises its threshold only when
a *large* mmapped block is freed, which the shrunk block never is. The cost
therefore depends on the process's history: once anything frees a large
mmapped block (a 256 KiB read that filled the buffer, a big join), the
threshold rises and the same reads come from the heap, cheaper. siotls's asyncio
adapter read this way until it became a buffered protocol.

Measured here on a socket pair, one process, CPU time per send + read of one
message (1 byte, 64 KiB), medians of 5 interleaved rounds: in the fresh
process, then after one 1 MiB block was allocated and freed.
"""

from __future__ import annotations

import os
import socket
import statistics
import time

READ_SIZE = 256 * 1024
ROUNDS = 5
MESSAGES = 2000


def main() -> None:
    a, b = socket.socketpair()
    b.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    buffer = memoryview(bytearray(READ_SIZE))

    def read_bytes() -> int:
        return len(b.recv(READ_SIZE))

    def read_into() -> int:
        return b.recv_into(buffer)

    print(f"CPU us per message (send + read), medians of {ROUNDS} rounds of {MESSAGES}; "
          f"MALLOC_MMAP_THRESHOLD_={os.environ.get('MALLOC_MMAP_THRESHOLD_', 'default')}")
    for history in ("fresh process", "after one 1 MiB block was freed"):
        if history != "fresh process":
            block = bytes(2**20)  # mmapped; freeing it raises glibc's threshold to 1 MiB
            del block
        print(history)
        for size in (1, 2**16):
            payload = os.urandom(size)
            samples: dict[str, list[float]] = {"recv(256 KiB)": [], "recv_into": []}
            for _ in range(ROUNDS):
                for name, read in (("recv(256 KiB)", read_bytes), ("recv_into", read_into)):
                    start = time.process_time()
                    for _ in range(MESSAGES):
                        a.sendall(payload)
                        got = 0
                        while got < size:
                            got += read()
                    samples[name].append((time.process_time() - start) / MESSAGES * 1e6)
            medians = {name: statistics.median(values) for name, values in samples.items()}
            print(f"  {size:>6} B: " + ", ".join(f"{name} {value:.1f}" for name, value in
                                                  medians.items()))
    a.close()
    b.close()


if __name__ == "__main__":
    main()
