// SPDX-License-Identifier: GPL-2.0
//! sysfs attributes of devices, as safe callbacks.
//!
//! An attribute is a type implementing [`Attribute`]: its name, whether it is writable, and
//! `show`/`store` functions that receive the object the attribute belongs to (its
//! [`AttrTarget`]) instead of a raw `struct device`, write their output into a bounded
//! [`Page`] with `write!`, and read their input as a byte slice. [`attribute_group!`] builds
//! the static C tables (`struct device_attribute`, the NULL-terminated `attrs` array and the
//! `struct attribute_group`) from a list of such types, and [`attribute_groups!`] the
//! NULL-terminated list of groups a device or bus takes.
//!
//! Groups are typed by their target: only the layer that installs a group on devices (the
//! transport's bus, the vendor registration) knows what those devices are, and it accepts only
//! groups of the matching target type, which is what makes [`AttrTarget::from_device`] sound.
//!
//! [`attribute_group!`]: crate::attribute_group
//! [`attribute_groups!`]: crate::attribute_groups

use super::cstatic::{zeroed, CStatic};
use super::sys;
use core::fmt;
use core::marker::PhantomData;
use kernel::error::code::{EACCES, EINVAL, ENODEV};
use kernel::ffi::c_char;
use kernel::page::PAGE_SIZE;
use kernel::prelude::*;

/// What attributes of a group are attached to.
///
/// # Safety
///
/// Implementers guarantee that groups of `AttributeGroup<Self>` are only ever installed on
/// devices for which `from_device` is sound while one of the group's callbacks runs.
pub unsafe trait AttrTarget: Sync {
    /// The object behind `dev`, or `None` if it is going away.
    ///
    /// # Safety
    ///
    /// `dev` must be a device carrying a group of `AttributeGroup<Self>` whose attribute
    /// callback is running; the result is used only during that callback.
    unsafe fn from_device<'a>(dev: *mut sys::device) -> Option<&'a Self>;
}

/// One attribute file.
pub trait Attribute: 'static {
    /// What the attribute belongs to.
    type Target: AttrTarget + ?Sized;
    /// The file name.
    const NAME: &'static core::ffi::CStr;
    /// Whether root may write it (mode 0644 instead of 0444).
    const WRITABLE: bool = false;
    /// Writes the attribute's text into `page`.
    fn show(target: &Self::Target, page: &mut Page<'_>) -> Result;
    /// Takes a write of `input` (the user's bytes, a trailing newline included).
    fn store(_target: &Self::Target, _input: &[u8]) -> Result {
        Err(EACCES)
    }
}

/// The output buffer of a `show` callback (a page); `write!` into it.
pub type Page<'a> = Cursor<'a>;

/// A bounded text buffer for `write!`: output past its end is cut.
pub struct Cursor<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> Cursor<'a> {
    /// An empty cursor over `buf`.
    pub fn new(buf: &'a mut [u8]) -> Self {
        Self { buf, len: 0 }
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Writes `b` (cut at the end of the buffer).
    pub fn bytes(&mut self, b: &[u8]) {
        let n = b.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&b[..n]);
        self.len += n;
    }

    /// Writes `args` and a newline.
    pub fn line(&mut self, args: fmt::Arguments<'_>) -> Result {
        fmt::Write::write_fmt(self, args).map_err(|_| EINVAL)?;
        fmt::Write::write_str(self, "\n").map_err(|_| EINVAL)
    }
}

impl fmt::Write for Cursor<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.bytes(s.as_bytes());
        Ok(())
    }
}

/// The input of a `store` callback without one trailing newline, if it is at most `N - 1`
/// bytes: a NUL-terminated copy for C parsers, and its length.
pub fn input_cstr<const N: usize>(input: &[u8]) -> Option<([u8; N], usize)> {
    let s = input.strip_suffix(b"\n").unwrap_or(input);
    if s.is_empty() || s.len() >= N {
        return None;
    }
    let mut out = [0u8; N];
    out[..s.len()].copy_from_slice(s);
    Some((out, s.len()))
}

/// # Safety
///
/// Called by sysfs for attribute `A` of a device carrying it, with a `PAGE_SIZE` buffer.
unsafe extern "C" fn show_raw<A: Attribute>(
    dev: *mut sys::device,
    _attr: *mut sys::device_attribute,
    buf: *mut c_char,
) -> isize {
    // SAFETY: sysfs passes a PAGE_SIZE buffer that nothing else uses during the call.
    let buf = unsafe { core::slice::from_raw_parts_mut(buf.cast::<u8>(), PAGE_SIZE) };
    // SAFETY: the callback of a group of this target type is running on `dev`.
    let Some(target) = (unsafe { A::Target::from_device(dev) }) else {
        return ENODEV.to_errno() as isize;
    };
    let mut page = Page::new(buf);
    match A::show(target, &mut page) {
        Ok(()) => page.len() as isize,
        Err(e) => e.to_errno() as isize,
    }
}

/// # Safety
///
/// Called by sysfs for attribute `A` of a device carrying it, with `count` bytes at `buf`.
unsafe extern "C" fn store_raw<A: Attribute>(
    dev: *mut sys::device,
    _attr: *mut sys::device_attribute,
    buf: *const c_char,
    count: usize,
) -> isize {
    // SAFETY: sysfs passes `count` readable bytes (at most a page).
    let input = unsafe { core::slice::from_raw_parts(buf.cast::<u8>(), count) };
    // SAFETY: as in `show_raw`.
    let Some(target) = (unsafe { A::Target::from_device(dev) }) else {
        return ENODEV.to_errno() as isize;
    };
    match A::store(target, input) {
        Ok(()) => count as isize,
        Err(e) => e.to_errno() as isize,
    }
}

/// The C table entry of attribute `A` of a group of target `T`.
// `struct attribute` has lockdep fields only with CONFIG_DEBUG_LOCK_ALLOC.
#[allow(clippy::needless_update)]
pub const fn attribute<T: AttrTarget + ?Sized, A: Attribute<Target = T>>() -> sys::device_attribute
{
    sys::device_attribute {
        attr: sys::attribute {
            name: A::NAME.as_ptr().cast(),
            mode: if A::WRITABLE { 0o644 } else { 0o444 },
            // SAFETY: the remaining fields (lockdep keys) are valid zeroed.
            ..unsafe { zeroed() }
        },
        show: Some(show_raw::<A>),
        store: if A::WRITABLE {
            Some(store_raw::<A>)
        } else {
            None
        },
    }
}

/// The NULL-terminated `attrs` array of `N` attributes (`M` = `N + 1`).
pub const fn attribute_pointers<const N: usize, const M: usize>(
    attrs: *mut [sys::device_attribute; N],
) -> [*mut sys::attribute; M] {
    assert!(M == N + 1);
    let mut out = [core::ptr::null_mut(); M];
    let mut i = 0;
    while i < N {
        // `attr` is the first field of `struct device_attribute`.
        out[i] = attrs.cast::<sys::device_attribute>().wrapping_add(i).cast();
        i += 1;
    }
    out
}

/// A `struct attribute_group` whose attributes all belong to a `T`.
#[repr(transparent)]
pub struct AttributeGroup<T: ?Sized> {
    raw: CStatic<sys::attribute_group>,
    _target: PhantomData<fn(&T)>,
}

impl<T: AttrTarget + ?Sized> AttributeGroup<T> {
    /// A group of the NULL-terminated `attrs`, in a subdirectory `name` if there is one; use
    /// [`attribute_group!`](crate::attribute_group).
    ///
    /// # Safety
    ///
    /// Every entry of `attrs` must be a `struct device_attribute` made by [`attribute`] for
    /// target `T`, and `attrs` must live forever.
    pub const unsafe fn new(
        name: Option<&'static core::ffi::CStr>,
        attrs: *mut *mut sys::attribute,
    ) -> Self {
        Self {
            raw: CStatic::new(sys::attribute_group {
                name: match name {
                    Some(n) => n.as_ptr().cast(),
                    None => core::ptr::null(),
                },
                attrs,
                // SAFETY: the remaining fields are optional and valid zeroed.
                ..unsafe { zeroed() }
            }),
            _target: PhantomData,
        }
    }

    /// The group, for C.
    pub const fn as_ptr(&self) -> *const sys::attribute_group {
        self.raw.get().cast_const()
    }
}

/// A NULL-terminated list of groups of target `T` (`M` = number of groups + 1).
#[repr(transparent)]
pub struct AttributeGroups<T: ?Sized, const M: usize> {
    raw: CStatic<[*const sys::attribute_group; M]>,
    _target: PhantomData<fn(&T)>,
}

impl<T: AttrTarget + ?Sized, const M: usize> AttributeGroups<T, M> {
    /// The list of `groups`, which must hold `M - 1` groups.
    pub const fn new(groups: [&'static AttributeGroup<T>; M]) -> Self {
        assert!(M >= 2, "a list of at least one group");
        // `groups` has a dummy last element; it is replaced by the terminating NULL.
        let mut raw = [core::ptr::null(); M];
        let mut i = 0;
        while i + 1 < M {
            raw[i] = groups[i].as_ptr();
            i += 1;
        }
        Self {
            raw: CStatic::new(raw),
            _target: PhantomData,
        }
    }

    /// The list, for the layer that installs it.
    pub const fn list(&'static self) -> GroupList<T> {
        GroupList {
            raw: self.raw.get().cast(),
            _target: PhantomData,
        }
    }
}

/// A NULL-terminated list of groups of target `T`, as a device's `groups` takes it.
pub struct GroupList<T: ?Sized> {
    raw: *mut *const sys::attribute_group,
    _target: PhantomData<fn(&T)>,
}

impl<T: ?Sized> Clone for GroupList<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: ?Sized> Copy for GroupList<T> {}

impl<T: ?Sized> GroupList<T> {
    /// The list, for C.
    pub const fn as_ptr(self) -> *mut *const sys::attribute_group {
        self.raw
    }
}

/// Declares a read-only attribute `$name` of `$target` whose file shows `$value` (anything
/// `Display`), computed from the target `$t`, and a newline.
#[macro_export]
macro_rules! show_attribute {
    ($vis:vis $name:ident: $target:ty, $file:literal, |$t:ident| $value:expr) => {
        $vis struct $name;
        impl $crate::kglue::sysfs::Attribute for $name {
            type Target = $target;
            const NAME: &'static ::core::ffi::CStr = $file;
            fn show($t: &$target, page: &mut $crate::kglue::sysfs::Page<'_>) -> ::kernel::error::Result {
                page.line(::core::format_args!("{}", $value))
            }
        }
    };
}

/// Declares a static [`AttributeGroup`] of target type `T` from attribute types.
///
/// ```ignore
/// attribute_group!(static STATS: AttributeGroup<Instance<SimParent>> = (Some(c"stats")) [RxPackets, TxPackets]);
/// ```
#[macro_export]
macro_rules! attribute_group {
    ($vis:vis static $group:ident: AttributeGroup<$target:ty> = ($name:expr) [$($attr:ty),+ $(,)?];) => {
        $vis static $group: $crate::kglue::sysfs::AttributeGroup<$target> = {
            const N: usize = [$(stringify!($attr)),+].len();
            static ATTRS: $crate::kglue::cstatic::CStatic<[$crate::kglue::sys::device_attribute; N]> =
                $crate::kglue::cstatic::CStatic::new([
                    $($crate::kglue::sysfs::attribute::<$target, $attr>()),+
                ]);
            static PTRS: $crate::kglue::cstatic::CStatic<[*mut $crate::kglue::sys::attribute; N + 1]> =
                $crate::kglue::cstatic::CStatic::new(
                    $crate::kglue::sysfs::attribute_pointers::<N, { N + 1 }>(ATTRS.get()),
                );
            let name = $name;
            // SAFETY: `PTRS` lists the attributes of `ATTRS`, each made for the group's
            // target; both are statics.
            unsafe { $crate::kglue::sysfs::AttributeGroup::new(name, PTRS.get().cast()) }
        };
    };
}

/// Declares a static NULL-terminated [`AttributeGroups`] list of groups of one target type.
#[macro_export]
macro_rules! attribute_groups {
    ($vis:vis static $list:ident: AttributeGroups<$target:ty> = [$($group:expr),+ $(,)?];) => {
        $vis static $list: $crate::kglue::sysfs::AttributeGroups<
            $target,
            { [$(stringify!($group)),+].len() + 1 },
        > = $crate::kglue::sysfs::AttributeGroups::new([$(&$group),+, [$(&$group),+][0]]);
    };
}
