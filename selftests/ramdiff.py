#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""ramdiff.py SIZE QMP_A QMP_B: compares the guest RAM of two stopped QEMUs page by page.

Each QEMU saves its guest physical memory 0..SIZE (QMP pmemsave) to a file beside its QMP
socket, which is hashed one 4 KiB page at a time and deleted, so only one copy is ever held.
Prints how many pages differ and the first few of them; exits 0 whatever the count (the
caller judges it), 2 if a QEMU could not save its memory."""
import hashlib
import os
import subprocess
import sys

PAGE = 4096


def page_hashes(sock, size):
    path = sock + ".ram"
    qmp = os.path.join(os.path.dirname(os.path.abspath(__file__)), "qmp.py")
    args = '{"val": 0, "size": %d, "filename": "%s"}' % (size, path)
    r = subprocess.run([sys.executable, qmp, sock, "pmemsave", args], capture_output=True,
                       text=True)
    if r.returncode != 0:
        sys.exit(f"ramdiff: pmemsave on {sock}: {r.stderr.strip()}")
    hashes = []
    try:
        with open(path, "rb") as f:
            while True:
                page = f.read(PAGE)
                if not page:
                    break
                hashes.append(hashlib.blake2b(page, digest_size=16).digest())
    finally:
        os.unlink(path)
    if len(hashes) * PAGE < size:
        sys.exit(f"ramdiff: {sock} saved {len(hashes)} pages, not {size // PAGE}")
    return hashes


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    size = int(sys.argv[1])
    a = page_hashes(sys.argv[2], size)
    b = page_hashes(sys.argv[3], size)
    differ = [i for i, (x, y) in enumerate(zip(a, b)) if x != y]
    first = " ".join(f"{i * PAGE:#x}" for i in differ[:8])
    print(f"{len(differ)} of {len(a)} pages differ{': ' + first if differ else ''}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SystemExit as e:
        if isinstance(e.code, str):
            print(e.code, file=sys.stderr)
            sys.exit(2)
        raise
