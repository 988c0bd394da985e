#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""qmp.py SOCKET COMMAND [ARGUMENTS-JSON]: runs one QMP command on a QEMU's QMP unix socket
and prints its "return" value as JSON; exits 1 with the error if QEMU answers one."""
import json
import socket
import sys


def main():
    path, cmd = sys.argv[1], sys.argv[2]
    args = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(60)
    s.connect(path)
    f = s.makefile("rw")

    def answer():
        while True:
            msg = json.loads(f.readline())
            if "return" in msg or "error" in msg:
                return msg

    json.loads(f.readline())  # the greeting
    f.write(json.dumps({"execute": "qmp_capabilities"}) + "\n")
    f.flush()
    answer()
    f.write(json.dumps({"execute": cmd, "arguments": args}) + "\n")
    f.flush()
    msg = answer()
    if "error" in msg:
        print(json.dumps(msg["error"]), file=sys.stderr)
        return 1
    print(json.dumps(msg["return"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
