#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""qmp.py SOCKET COMMAND [ARGUMENTS-JSON]: runs one QMP command on a QEMU's QMP unix socket
and prints its "return" value as JSON; exits 1 with the error if QEMU answers one.

As a module: command(SOCKET, COMMAND, ARGUMENTS, TIMEOUT) returns the "return" value and
raises QmpError with QEMU's error."""
import json
import socket
import sys


class QmpError(Exception):
    pass


def command(path, cmd, args=None, timeout=60):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
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
        f.write(json.dumps({"execute": cmd, "arguments": args or {}}) + "\n")
        f.flush()
        msg = answer()
    if "error" in msg:
        raise QmpError(json.dumps(msg["error"]))
    return msg["return"]


def main():
    args = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
    try:
        ret = command(sys.argv[1], sys.argv[2], args)
    except QmpError as e:
        print(e, file=sys.stderr)
        return 1
    print(json.dumps(ret))
    return 0


if __name__ == "__main__":
    sys.exit(main())
