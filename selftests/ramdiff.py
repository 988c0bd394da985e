#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""ramdiff.py SIZE QMP_A QMP_B: compares the guest RAM of two stopped QEMUs page by page.

Both QEMUs save their guest physical memory (QMP pmemsave) to files beside their QMP
sockets at the same time, a slice of CHUNK bytes at a time, which are compared and deleted
before the next slice, so the test VM never holds more than two slices. Prints how many
4 KiB pages differ and the first few of them; exits 0 whatever the count (the caller judges
it), 2 if a QEMU could not save its memory."""
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qmp  # noqa: E402

PAGE = 4096
BLOCK = 1 << 20     # compared whole first; page by page only where it differs
CHUNK = 64 << 20    # saved at a time by each QEMU


def save(sock, start, size, path, errors):
    args = {"val": start, "size": size, "filename": path}
    try:
        qmp.command(sock, "pmemsave", args, timeout=600)
    except (qmp.QmpError, OSError) as e:
        errors.append(f"pmemsave on {sock}: {e}")


def differing_pages(path_a, path_b, start, size):
    differ = []
    with open(path_a, "rb") as fa, open(path_b, "rb") as fb:
        for off in range(0, size, BLOCK):
            a, b = fa.read(BLOCK), fb.read(BLOCK)
            if len(a) != min(BLOCK, size - off) or len(b) != len(a):
                sys.exit(f"ramdiff: a saved slice at {start + off:#x} is short")
            if a == b:
                continue
            ma, mb = memoryview(a), memoryview(b)
            differ += [(start + off + p) // PAGE for p in range(0, len(a), PAGE)
                       if ma[p:p + PAGE] != mb[p:p + PAGE]]
    return differ


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    size = int(sys.argv[1])
    socks = sys.argv[2:4]
    paths = [s + ".ram" for s in socks]
    differ = []
    try:
        for start in range(0, size, CHUNK):
            n = min(CHUNK, size - start)
            errors = []
            savers = [threading.Thread(target=save, args=(s, start, n, p, errors))
                      for s, p in zip(socks, paths)]
            for t in savers:
                t.start()
            for t in savers:
                t.join()
            if errors:
                sys.exit("ramdiff: " + "; ".join(errors))
            differ += differing_pages(paths[0], paths[1], start, n)
    finally:
        for p in paths:
            if os.path.exists(p):
                os.unlink(p)
    pages = (size + PAGE - 1) // PAGE
    first = " ".join(f"{i * PAGE:#x}" for i in differ[:8])
    print(f"{len(differ)} of {pages} pages differ{': ' + first if differ else ''}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SystemExit as e:
        if isinstance(e.code, str):
            print(e.code, file=sys.stderr)
            sys.exit(2)
        raise
