// SPDX-License-Identifier: GPL-2.0
//! Thin, checked wrappers over the system calls the client needs: the vhost device fd and its
//! ioctls and IOTLB writes, memfd-backed shared memory, eventfds, pipes and poll.
//!
//! Every wrapper returns the positive errno on failure, so callers can compare it with the
//! values of `vhost_uapi::errno`.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{fence, Ordering};

use vhost_uapi::errno::ENOTSUPP;
use vhost_uapi::{
    encode_msg_v2, ioc_size, IotlbMsg, IovaRange, VdpaConfigHeader, VringAddr, VringFile,
    VringState, VHOST_ACCESS_RW, VHOST_IOTLB_BATCH_BEGIN, VHOST_IOTLB_BATCH_END,
    VHOST_IOTLB_INVALIDATE, VHOST_IOTLB_UPDATE, VHOST_SET_VRING_ADDR, VHOST_VDPA_GET_CONFIG,
    VHOST_VDPA_GET_IOVA_RANGE, VHOST_VDPA_SET_CONFIG,
};

/// A positive errno value, as read from `errno`.
pub(crate) type Errno = i32;

/// The calling thread's current errno.
pub(crate) fn last_errno() -> Errno {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// The symbolic name of an errno value ("OK" for 0), for stable, comparable output.
pub(crate) fn errno_name(e: Errno) -> String {
    let name = match e {
        0 => "OK",
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::ESRCH => "ESRCH",
        libc::EINTR => "EINTR",
        libc::EIO => "EIO",
        libc::ENXIO => "ENXIO",
        libc::E2BIG => "E2BIG",
        libc::EBADF => "EBADF",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::ENODEV => "ENODEV",
        libc::EINVAL => "EINVAL",
        libc::ENOTTY => "ENOTTY",
        libc::ENOSPC => "ENOSPC",
        libc::ERANGE => "ERANGE",
        libc::ENOSYS => "ENOSYS",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::ENOBUFS => "ENOBUFS",
        libc::ETIMEDOUT => "ETIMEDOUT",
        x if x == ENOTSUPP => "ENOTSUPP",
        x => return format!("E{x}"),
    };
    name.to_string()
}

/// "OK" or the errno name of an ioctl-like result.
pub(crate) fn outcome<T>(r: &Result<T, Errno>) -> String {
    match r {
        Ok(_) => "OK".to_string(),
        Err(e) => errno_name(*e),
    }
}

/// The byte count of a successful `write()`, or the errno name.
pub(crate) fn wrote(r: &Result<usize, Errno>) -> String {
    match r {
        Ok(n) => n.to_string(),
        Err(e) => errno_name(*e),
    }
}

/// Turns an errno result into an error message naming the failed step.
pub(crate) fn step<T>(what: &str, r: Result<T, Errno>) -> Result<T, String> {
    r.map_err(|e| format!("{what} failed: {}", errno_name(e)))
}

/// Wraps a freshly returned file descriptor, or returns errno.
fn own_fd(fd: RawFd) -> Result<OwnedFd, Errno> {
    if fd < 0 {
        return Err(last_errno());
    }
    // SAFETY: `fd` was just returned by a successful system call and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Size of the scratch buffer every fixed-size ioctl argument is passed in. It is larger than
/// any vhost argument (the largest is 40 bytes), so a backend that writes more than the encoded
/// size still writes into our buffer rather than over other data.
const SCRATCH: usize = 64;

/// An open vhost device node (`/dev/vhost-vdpa-N` or `/dev/vhost-mdev-N`).
pub(crate) struct Dev {
    fd: OwnedFd,
}

impl Dev {
    /// `open(path, O_RDWR | O_CLOEXEC)`.
    pub(crate) fn open(path: &str) -> Result<Dev, Errno> {
        let c = CString::new(path).map_err(|_| libc::EINVAL)?;
        // SAFETY: `c` is a NUL-terminated path that outlives the call.
        let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
        Ok(Dev { fd: own_fd(fd)? })
    }

    /// Takes over descriptor `fd`, inherited across `exec()`, if it is open.
    pub(crate) fn inherit(fd: RawFd) -> Result<Dev, Errno> {
        // SAFETY: F_GETFD only inspects the descriptor table.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
            return Err(last_errno());
        }
        Ok(Dev { fd: own_fd(fd)? })
    }

    /// The raw descriptor (for `fork()` children and diagnostics).
    pub(crate) fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// An ioctl whose argument is a plain integer (or no argument at all: pass 0). A NULL or
    /// otherwise invalid pointer value is how some error cases are provoked; the kernel
    /// validates user pointers, so no memory of this process can be touched through them
    /// except at addresses the caller deliberately passes.
    pub(crate) fn ioctl_val(&self, cmd: u32, arg: libc::c_ulong) -> Result<i32, Errno> {
        // SAFETY: the argument is passed by value; the commands used with this helper either
        // take no argument or are given a deliberately invalid (NULL) pointer.
        let r = unsafe { libc::ioctl(self.raw(), cmd as libc::Ioctl, arg) };
        if r < 0 {
            Err(last_errno())
        } else {
            Ok(r)
        }
    }

    /// An ioctl with a fixed-size argument: `arg` is copied into a zeroed scratch buffer of
    /// [`SCRATCH`] bytes, passed to the kernel, and copied back (for `_IOR`/`_IOWR`).
    pub(crate) fn ioctl_buf(&self, cmd: u32, arg: &mut [u8]) -> Result<i32, Errno> {
        let mut scratch = [0u8; SCRATCH];
        let n = arg.len().min(SCRATCH);
        scratch[..n].copy_from_slice(&arg[..n]);
        debug_assert!(ioc_size(cmd) as usize <= SCRATCH);
        // SAFETY: `scratch` is a valid, writable buffer of SCRATCH bytes, at least the
        // argument size encoded in `cmd`, and lives until the call returns.
        let r = unsafe { libc::ioctl(self.raw(), cmd as libc::Ioctl, scratch.as_mut_ptr()) };
        arg[..n].copy_from_slice(&scratch[..n]);
        if r < 0 {
            Err(last_errno())
        } else {
            Ok(r)
        }
    }

    /// An ioctl without an argument.
    pub(crate) fn ioctl_none(&self, cmd: u32) -> Result<(), Errno> {
        self.ioctl_val(cmd, 0).map(drop)
    }

    /// Reads a `u64` argument.
    pub(crate) fn get_u64(&self, cmd: u32) -> Result<u64, Errno> {
        let mut b = [0u8; 8];
        self.ioctl_buf(cmd, &mut b)?;
        Ok(u64::from_ne_bytes(b))
    }

    /// Reads a `u32` argument.
    pub(crate) fn get_u32(&self, cmd: u32) -> Result<u32, Errno> {
        let mut b = [0u8; 4];
        self.ioctl_buf(cmd, &mut b)?;
        Ok(u32::from_ne_bytes(b))
    }

    /// Reads a `u16` argument.
    pub(crate) fn get_u16(&self, cmd: u32) -> Result<u16, Errno> {
        let mut b = [0u8; 2];
        self.ioctl_buf(cmd, &mut b)?;
        Ok(u16::from_ne_bytes(b))
    }

    /// Reads a `u8` argument.
    pub(crate) fn get_u8(&self, cmd: u32) -> Result<u8, Errno> {
        let mut b = [0u8; 1];
        self.ioctl_buf(cmd, &mut b)?;
        Ok(b[0])
    }

    /// Writes a `u64` argument.
    pub(crate) fn set_u64(&self, cmd: u32, v: u64) -> Result<(), Errno> {
        self.ioctl_buf(cmd, &mut v.to_ne_bytes()).map(drop)
    }

    /// Writes a `u8` argument.
    pub(crate) fn set_u8(&self, cmd: u32, v: u8) -> Result<(), Errno> {
        self.ioctl_buf(cmd, &mut [v]).map(drop)
    }

    /// Writes an `int` argument (an fd).
    pub(crate) fn set_i32(&self, cmd: u32, v: i32) -> Result<(), Errno> {
        self.ioctl_buf(cmd, &mut v.to_ne_bytes()).map(drop)
    }

    /// Writes a `struct vhost_vring_state`.
    pub(crate) fn set_state(&self, cmd: u32, index: u32, num: u32) -> Result<(), Errno> {
        self.ioctl_buf(cmd, &mut VringState { index, num }.to_bytes())
            .map(drop)
    }

    /// Passes a `struct vhost_vring_state` in both directions; returns the `num` written back.
    pub(crate) fn get_state(&self, cmd: u32, index: u32) -> Result<u32, Errno> {
        let mut b = VringState { index, num: 0 }.to_bytes();
        self.ioctl_buf(cmd, &mut b)?;
        Ok(VringState::from_bytes(&b).num)
    }

    /// Writes a `struct vhost_vring_file`.
    pub(crate) fn set_file(&self, cmd: u32, index: u32, fd: i32) -> Result<(), Errno> {
        self.ioctl_buf(cmd, &mut VringFile { index, fd }.to_bytes())
            .map(drop)
    }

    /// `VHOST_SET_VRING_ADDR`.
    pub(crate) fn set_addr(&self, a: &VringAddr) -> Result<(), Errno> {
        self.ioctl_buf(VHOST_SET_VRING_ADDR, &mut a.to_bytes())
            .map(drop)
    }

    /// `VHOST_VDPA_GET_IOVA_RANGE`.
    pub(crate) fn iova_range(&self) -> Result<IovaRange, Errno> {
        let mut b = [0u8; IovaRange::SIZE];
        self.ioctl_buf(VHOST_VDPA_GET_IOVA_RANGE, &mut b)?;
        Ok(IovaRange::from_bytes(&b))
    }

    /// `VHOST_VDPA_GET_CONFIG{off, len}`: returns the `len` bytes read.
    ///
    /// The header and payload sit at the end of a page that is followed by an inaccessible
    /// guard page, so a backend that writes more than `len` bytes (or honours an absurd `len`
    /// it should have refused) faults (EFAULT) instead of corrupting this process.
    pub(crate) fn get_config(&self, off: u32, len: u32) -> Result<Vec<u8>, Errno> {
        let g = Guarded::new()?;
        let at = g.place(off, len);
        // SAFETY: `at` points into the accessible page of `g`, which lives until the call
        // returns; anything past the page faults in the kernel's copy instead of corrupting
        // memory.
        let r = unsafe { libc::ioctl(self.raw(), VHOST_VDPA_GET_CONFIG as libc::Ioctl, at) };
        if r < 0 {
            return Err(last_errno());
        }
        Ok(g.payload(len))
    }

    /// `VHOST_VDPA_SET_CONFIG{off, len}` with `data` as the first bytes of the payload (the
    /// rest zero). Guarded like [`Dev::get_config`].
    pub(crate) fn set_config(&self, off: u32, len: u32, data: &[u8]) -> Result<(), Errno> {
        let g = Guarded::new()?;
        let at = g.place(off, len);
        g.fill_payload(len, data);
        // SAFETY: as in `get_config`.
        let r = unsafe { libc::ioctl(self.raw(), VHOST_VDPA_SET_CONFIG as libc::Ioctl, at) };
        if r < 0 {
            Err(last_errno())
        } else {
            Ok(())
        }
    }

    /// `write()` of raw bytes (an IOTLB message or a deliberately malformed one).
    pub(crate) fn write(&self, buf: &[u8]) -> Result<usize, Errno> {
        // SAFETY: `buf` is valid for reads of `buf.len()` bytes.
        let r = unsafe { libc::write(self.raw(), buf.as_ptr().cast(), buf.len()) };
        if r < 0 {
            Err(last_errno())
        } else {
            Ok(r as usize)
        }
    }

    /// `read()` into a scratch buffer of `len` bytes.
    pub(crate) fn read(&self, len: usize) -> Result<usize, Errno> {
        let mut buf = vec![0u8; len];
        // SAFETY: `buf` is valid for writes of `buf.len()` bytes.
        let r = unsafe { libc::read(self.raw(), buf.as_mut_ptr().cast(), buf.len()) };
        if r < 0 {
            Err(last_errno())
        } else {
            Ok(r as usize)
        }
    }

    /// Writes one IOTLB message as a 72-byte `vhost_msg_v2` with asid 0; returns what
    /// `write()` returned (72 on success).
    pub(crate) fn iotlb(&self, msg: &IotlbMsg) -> Result<usize, Errno> {
        self.write(&encode_msg_v2(0, msg))
    }

    /// Writes one V2 IOTLB message for address space `asid`.
    pub(crate) fn iotlb_in(&self, asid: u32, msg: &IotlbMsg) -> Result<usize, Errno> {
        self.write(&encode_msg_v2(asid, msg))
    }
}

/// An IOTLB UPDATE of `size` bytes at `iova` backed by `uaddr`, read-write.
pub(crate) fn update(iova: u64, size: u64, uaddr: u64) -> IotlbMsg {
    IotlbMsg {
        iova,
        size,
        uaddr,
        perm: VHOST_ACCESS_RW,
        kind: VHOST_IOTLB_UPDATE,
    }
}

/// An IOTLB INVALIDATE of `[iova, iova + size - 1]`.
pub(crate) fn invalidate(iova: u64, size: u64) -> IotlbMsg {
    IotlbMsg {
        iova,
        size,
        kind: VHOST_IOTLB_INVALIDATE,
        ..IotlbMsg::default()
    }
}

/// `BATCH_BEGIN` (`begin == true`) or `BATCH_END`.
pub(crate) fn batch(begin: bool) -> IotlbMsg {
    IotlbMsg {
        kind: if begin {
            VHOST_IOTLB_BATCH_BEGIN
        } else {
            VHOST_IOTLB_BATCH_END
        },
        ..IotlbMsg::default()
    }
}

/// Two anonymous pages, the second inaccessible: config payloads are placed so that they end
/// at the guard.
struct Guarded {
    base: *mut u8,
    page: usize,
}

impl Guarded {
    fn new() -> Result<Guarded, Errno> {
        let page = page_size();
        // SAFETY: a fresh anonymous private mapping; no existing memory is affected.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                2 * page,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(last_errno());
        }
        let g = Guarded {
            base: p.cast(),
            page,
        };
        // SAFETY: the second page belongs to the mapping just created.
        let r = unsafe { libc::mprotect(g.base.add(page).cast(), page, libc::PROT_NONE) };
        if r < 0 {
            return Err(last_errno());
        }
        Ok(g)
    }

    /// Bytes of payload that fit before the guard page after the 8-byte header.
    fn room(&self, len: u32) -> usize {
        (len as usize).min(self.page - VdpaConfigHeader::SIZE)
    }

    /// Writes the header so that the payload ends at the guard page; returns its address.
    fn place(&self, off: u32, len: u32) -> *mut u8 {
        let start = self.page - VdpaConfigHeader::SIZE - self.room(len);
        let hdr = VdpaConfigHeader { off, len }.to_bytes();
        // SAFETY: `start + 8 <= page`, inside the accessible first page.
        unsafe {
            let at = self.base.add(start);
            std::ptr::copy_nonoverlapping(hdr.as_ptr(), at, hdr.len());
            at
        }
    }

    /// The payload bytes after a [`Guarded::place`] with the same `len`.
    fn payload(&self, len: u32) -> Vec<u8> {
        let room = self.room(len);
        let mut out = vec![0u8; room];
        // SAFETY: the payload is the last `room` bytes of the accessible first page.
        unsafe {
            std::ptr::copy_nonoverlapping(self.base.add(self.page - room), out.as_mut_ptr(), room);
        }
        out
    }

    /// Copies `data` (truncated to the payload) into the payload after a `place`.
    fn fill_payload(&self, len: u32, data: &[u8]) {
        let room = self.room(len);
        let n = data.len().min(room);
        // SAFETY: the payload is the last `room` bytes of the accessible first page, and
        // `n <= room`.
        unsafe {
            std::ptr::copy_nonoverlapping(data.as_ptr(), self.base.add(self.page - room), n);
        }
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping created in `new`.
        unsafe { libc::munmap(self.base.cast(), 2 * self.page) };
    }
}

/// The system page size.
pub(crate) fn page_size() -> usize {
    // SAFETY: sysconf has no memory-safety preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 {
        p as usize
    } else {
        4096
    }
}

/// Raises `RLIMIT_MEMLOCK` to unlimited: backends that pin pages (vdpa_sim `use_va=0`, real
/// hardware) charge the whole map against it, with no CAP_IPC_LOCK bypass.
pub(crate) fn raise_memlock() -> Result<(), Errno> {
    let lim = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: `lim` is a valid rlimit for the duration of the call.
    let r = unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &lim) };
    if r < 0 {
        Err(last_errno())
    } else {
        Ok(())
    }
}

/// Memory shared with a device: `len` bytes of a memfd, touched so that pinning finds every
/// page, after raising `RLIMIT_MEMLOCK` (a warning if that fails: root may not need it).
pub(crate) fn shared_region(len: usize) -> Result<Region, String> {
    if let Err(e) = raise_memlock() {
        eprintln!(
            "vhost_client: warning: setrlimit(RLIMIT_MEMLOCK) failed: {}",
            errno_name(e)
        );
    }
    let mem = Region::new(len).map_err(|e| format!("memfd region: {}", errno_name(e)))?;
    mem.touch();
    Ok(mem)
}

/// Shared memory for rings and buffers: a memfd mapped `MAP_SHARED`, which every backend can
/// use (pinned in PA mode, looked up through the VMA's file in VA mode).
///
/// All accesses go through volatile reads and writes at checked offsets, because the device
/// reads and writes the same memory concurrently.
pub(crate) struct Region {
    ptr: *mut u8,
    len: usize,
    _fd: OwnedFd,
}

impl Region {
    /// Creates and maps `len` bytes (a multiple of the page size), zero-filled.
    pub(crate) fn new(len: usize) -> Result<Region, Errno> {
        let name = c"vhost_client";
        // SAFETY: `name` is NUL-terminated.
        let fd = own_fd(unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) })?;
        // SAFETY: plain call on our fd.
        if unsafe { libc::ftruncate(fd.as_raw_fd(), len as libc::off_t) } < 0 {
            return Err(last_errno());
        }
        // SAFETY: a fresh shared mapping of our memfd; no existing memory is affected.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(last_errno());
        }
        Ok(Region {
            ptr: p.cast(),
            len,
            _fd: fd,
        })
    }

    /// Makes `len` bytes at `off` inaccessible (`PROT_NONE`), so that pinning them fails.
    pub(crate) fn protect_none(&self, off: usize, len: usize) -> Result<(), Errno> {
        self.check(off, len, 1);
        // SAFETY: the range lies inside our own mapping (checked); afterwards nothing in this
        // program touches it.
        if unsafe { libc::mprotect(self.ptr.add(off).cast(), len, libc::PROT_NONE) } < 0 {
            return Err(last_errno());
        }
        Ok(())
    }

    /// The process virtual address of byte 0.
    pub(crate) fn va(&self) -> u64 {
        self.ptr as u64
    }

    /// The size in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Panics unless `[off, off + n)` lies inside the region and `off` is aligned to `align`.
    fn check(&self, off: usize, n: usize, align: usize) {
        let end = off.checked_add(n);
        assert!(
            end.is_some_and(|e| e <= self.len) && off.is_multiple_of(align),
            "region access {off:#x}+{n} outside {:#x} bytes or misaligned",
            self.len
        );
    }

    /// Writes every page once so that the memory exists before it is mapped.
    pub(crate) fn touch(&self) {
        let page = page_size();
        for off in (0..self.len).step_by(page) {
            self.w8(off, 0);
        }
    }

    /// Volatile byte read.
    pub(crate) fn r8(&self, off: usize) -> u8 {
        self.check(off, 1, 1);
        // SAFETY: in bounds (checked); the mapping lives as long as `self`.
        unsafe { self.ptr.add(off).read_volatile() }
    }

    /// Volatile byte write.
    pub(crate) fn w8(&self, off: usize, v: u8) {
        self.check(off, 1, 1);
        // SAFETY: in bounds (checked); the mapping lives as long as `self`.
        unsafe { self.ptr.add(off).write_volatile(v) }
    }

    /// Volatile little-endian `u16` read at an aligned offset.
    pub(crate) fn r16(&self, off: usize) -> u16 {
        self.check(off, 2, 2);
        // SAFETY: in bounds and aligned (checked); the mapping is page-aligned.
        u16::from_le(unsafe { self.ptr.add(off).cast::<u16>().read_volatile() })
    }

    /// Volatile little-endian `u16` write at an aligned offset.
    pub(crate) fn w16(&self, off: usize, v: u16) {
        self.check(off, 2, 2);
        // SAFETY: in bounds and aligned (checked); the mapping is page-aligned.
        unsafe { self.ptr.add(off).cast::<u16>().write_volatile(v.to_le()) }
    }

    /// Volatile little-endian `u32` read at an aligned offset.
    pub(crate) fn r32(&self, off: usize) -> u32 {
        self.check(off, 4, 4);
        // SAFETY: in bounds and aligned (checked); the mapping is page-aligned.
        u32::from_le(unsafe { self.ptr.add(off).cast::<u32>().read_volatile() })
    }

    /// Volatile little-endian `u32` write at an aligned offset.
    pub(crate) fn w32(&self, off: usize, v: u32) {
        self.check(off, 4, 4);
        // SAFETY: in bounds and aligned (checked); the mapping is page-aligned.
        unsafe { self.ptr.add(off).cast::<u32>().write_volatile(v.to_le()) }
    }

    /// Volatile little-endian `u64` write at an aligned offset.
    pub(crate) fn w64(&self, off: usize, v: u64) {
        self.check(off, 8, 8);
        // SAFETY: in bounds and aligned (checked); the mapping is page-aligned.
        unsafe { self.ptr.add(off).cast::<u64>().write_volatile(v.to_le()) }
    }

    /// Atomically exchanges the little-endian `u64` at an aligned offset: how a VMM reads
    /// and clears its dirty log while the device sets bits in it.
    pub(crate) fn swap64(&self, off: usize, v: u64) -> u64 {
        self.check(off, 8, 8);
        // SAFETY: in bounds and aligned (checked); the mapping lives as long as `self`, and
        // every access to the word (ours and the device's) is atomic.
        let w = unsafe { std::sync::atomic::AtomicU64::from_ptr(self.ptr.add(off).cast::<u64>()) };
        u64::from_le(w.swap(v.to_le(), Ordering::AcqRel))
    }

    /// Copies `data` in at `off`, byte by byte (volatile).
    pub(crate) fn write_bytes(&self, off: usize, data: &[u8]) {
        self.check(off, data.len(), 1);
        for (i, b) in data.iter().enumerate() {
            self.w8(off + i, *b);
        }
    }

    /// Copies `n` bytes out from `off` (volatile), after an acquire fence.
    pub(crate) fn read_bytes(&self, off: usize, n: usize) -> Vec<u8> {
        self.check(off, n, 1);
        fence(Ordering::Acquire);
        (0..n).map(|i| self.r8(off + i)).collect()
    }
}

// SAFETY: every access is a volatile read or write (or an atomic) at a checked offset, never
// a reference into the mapping, so threads that share a region race only as the device and
// the driver already do; the mapping lives until the region is dropped.
unsafe impl Sync for Region {}
// SAFETY: the mapping and the fd belong to the process, not to a thread.
unsafe impl Send for Region {}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping created in `new`; no references into it remain.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

/// An eventfd used as a kick (written by us) or call (written by the device) notifier.
pub(crate) struct EventFd {
    fd: OwnedFd,
}

impl EventFd {
    /// A non-blocking, close-on-exec eventfd with counter 0.
    pub(crate) fn new() -> Result<EventFd, Errno> {
        // SAFETY: plain eventfd creation.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        Ok(EventFd { fd: own_fd(fd)? })
    }

    /// The raw descriptor, to hand to the device.
    pub(crate) fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Adds 1 to the counter: a kick.
    pub(crate) fn signal(&self) -> Result<(), Errno> {
        let one = 1u64.to_ne_bytes();
        // SAFETY: `one` is valid for reads of 8 bytes.
        let r = unsafe { libc::write(self.raw(), one.as_ptr().cast(), 8) };
        if r == 8 {
            Ok(())
        } else if r < 0 {
            Err(last_errno())
        } else {
            Err(libc::EIO)
        }
    }

    /// Reads and resets the counter; 0 if it was not signalled.
    pub(crate) fn drain(&self) -> Result<u64, Errno> {
        let mut b = [0u8; 8];
        // SAFETY: `b` is valid for writes of 8 bytes.
        let r = unsafe { libc::read(self.raw(), b.as_mut_ptr().cast(), 8) };
        if r == 8 {
            Ok(u64::from_ne_bytes(b))
        } else if r < 0 && last_errno() == libc::EAGAIN {
            Ok(0)
        } else if r < 0 {
            Err(last_errno())
        } else {
            Err(libc::EIO)
        }
    }
}

/// `poll()` for readability on `fds` for at most `timeout_ms`, retrying on EINTR. Returns which
/// descriptors are readable (all false on timeout).
pub(crate) fn poll_readable(fds: &[RawFd], timeout_ms: i32) -> Result<Vec<bool>, Errno> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    loop {
        // SAFETY: `pfds` is a valid array of `pfds.len()` pollfds.
        let r = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, timeout_ms) };
        if r >= 0 {
            return Ok(pfds.iter().map(|p| p.revents & libc::POLLIN != 0).collect());
        }
        let e = last_errno();
        if e != libc::EINTR {
            return Err(e);
        }
    }
}

/// A pipe: (read end, write end).
pub(crate) fn pipe() -> Result<(OwnedFd, OwnedFd), Errno> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: `fds` is valid for writes of two ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(last_errno());
    }
    Ok((own_fd(fds[0])?, own_fd(fds[1])?))
}

/// A descriptor number that is not open right now (an eventfd's number, just closed).
pub(crate) fn closed_fd() -> Result<RawFd, Errno> {
    let e = EventFd::new()?;
    let n = e.raw();
    drop(e);
    Ok(n)
}

/// The `VmPin:` line of `/proc/self/status` (pages pinned by this process), or a note.
pub(crate) fn vm_pin_line() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmPin:"))
                .map(str::to_string)
        })
        .unwrap_or_else(|| "VmPin: unavailable".to_string())
}
