// SPDX-License-Identifier: GPL-2.0
//! The command language of the transport's debugfs register file.
//!
//! One command per write: `r OFF` reads a register, `w OFF VALUE` writes one, `c OFF LEN`
//! reads `LEN` bytes of config space. Numbers are decimal or `0x` hexadecimal. The transport
//! performs the access through the same checked path drivers use, so this is how tests reach
//! its refusals from userspace.

/// A parsed command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Read the register at this offset.
    Read(u32),
    /// Write a value to the register at this offset.
    Write(u32, u32),
    /// Read config space: offset, length.
    Config(u32, u32),
}

fn number(tok: &[u8]) -> Option<u32> {
    let (digits, radix) = match tok {
        [b'0', b'x' | b'X', rest @ ..] => (rest, 16),
        _ => (tok, 10),
    };
    if digits.is_empty() {
        return None;
    }
    let mut v: u32 = 0;
    for &c in digits {
        let d = (c as char).to_digit(radix)?;
        v = v.checked_mul(radix)?.checked_add(d)?;
    }
    Some(v)
}

/// Parses one command; `None` for anything malformed (the write then fails with -EINVAL).
pub fn parse(input: &[u8]) -> Option<Command> {
    let mut toks = input
        .split(|c| c.is_ascii_whitespace())
        .filter(|t| !t.is_empty());
    let op = toks.next()?;
    let a = number(toks.next()?)?;
    let cmd = match op {
        b"r" => Command::Read(a),
        b"w" => Command::Write(a, number(toks.next()?)?),
        b"c" => Command::Config(a, number(toks.next()?)?),
        _ => return None,
    };
    toks.next().is_none().then_some(cmd)
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Formats a register value as `0x%08x\n` into `out`; returns the length.
pub fn format_u32(v: u32, out: &mut [u8; 64]) -> usize {
    out[0] = b'0';
    out[1] = b'x';
    for i in 0..8 {
        out[2 + i] = HEX[((v >> (28 - 4 * i)) & 0xf) as usize];
    }
    out[10] = b'\n';
    11
}

/// Formats up to 8 config bytes as space-separated hex pairs and a newline; returns the length.
pub fn format_bytes(bytes: &[u8], out: &mut [u8; 64]) -> usize {
    let mut n = 0;
    for (i, &b) in bytes.iter().take(8).enumerate() {
        if i > 0 {
            out[n] = b' ';
            n += 1;
        }
        out[n] = HEX[usize::from(b >> 4)];
        out[n + 1] = HEX[usize::from(b & 0xf)];
        n += 2;
    }
    out[n] = b'\n';
    n + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands() {
        assert_eq!(parse(b"r 0x0\n"), Some(Command::Read(0)));
        assert_eq!(parse(b"  r   96 "), Some(Command::Read(96)));
        assert_eq!(parse(b"w 0x060 0x0f\n"), Some(Command::Write(0x60, 15)));
        assert_eq!(parse(b"c 10 2"), Some(Command::Config(10, 2)));
        assert_eq!(
            parse(b"w 0xffffffff 4294967295"),
            Some(Command::Write(u32::MAX, u32::MAX))
        );
    }

    #[test]
    fn formatting() {
        let mut out = [0u8; 64];
        let n = format_u32(0x7472_6976, &mut out);
        assert_eq!(&out[..n], b"0x74726976\n");
        let n = format_u32(0, &mut out);
        assert_eq!(&out[..n], b"0x00000000\n");
        let n = format_bytes(&[0x02, 0xab, 0xff], &mut out);
        assert_eq!(&out[..n], b"02 ab ff\n");
        let n = format_bytes(&[1; 20], &mut out);
        assert_eq!(n, 8 * 3);
    }

    #[test]
    fn malformed() {
        for bad in [
            &b""[..],
            b"r",
            b"x 1",
            b"r 0x",
            b"r 12a",
            b"r 0x100000000",
            b"r 4294967296",
            b"w 1",
            b"c 1",
            b"r 1 2",
            b"w 1 2 3",
            b"r -1",
            b"\xff\xfe",
        ] {
            assert_eq!(parse(bad), None, "{:?}", bad);
        }
    }
}
