// SPDX-License-Identifier: GPL-2.0
//! Character devices: a region of minors, a class, and one node per device, each released
//! when dropped.
//!
//! A [`Region`] is a range of device numbers under a name (the name `/proc/devices` lists)
//! together with the file operations of every node in it, whose `owner` is the module: an
//! open file pins the module, and so the region, which lives until module exit. A [`Class`]
//! makes the nodes appear in `/dev`; a [`Node`] is one `cdev` plus its device in the class.

use super::file::{self, FileOps};
use super::sys;
use core::marker::PhantomData;
use core::ptr::NonNull;
use kernel::error::code::{EINVAL, ENOMEM};
use kernel::error::{from_err_ptr, to_result};
use kernel::prelude::*;
use kernel::str::CString;

/// Minors of a region are the low 20 bits of a device number.
const MINOR_BITS: u32 = 20;

/// What a region's nodes point to: their file operations, and the context `open` gets.
#[repr(C)]
struct Shared<F: FileOps> {
    fops: sys::file_operations,
    ctx: F::Context,
}

/// The context of the region whose table is `fops`.
///
/// # Safety
///
/// `fops` must be the table of a live `Region<F>`.
pub(crate) unsafe fn context_of<'a, F: FileOps>(
    fops: *const sys::file_operations,
) -> &'a F::Context {
    // SAFETY: `fops` is the first field of the `#[repr(C)]` `Shared<F>` of a live region.
    unsafe { &(*fops.cast::<Shared<F>>()).ctx }
}

/// The minor of device number `devt`.
pub fn minor_of(devt: u32) -> u32 {
    devt & ((1 << MINOR_BITS) - 1)
}

/// A region of `count` minors whose nodes have `F`'s file operations.
///
/// # Invariants
///
/// `[first, first + count)` is allocated to this object until drop; `shared.fops` is a
/// complete table with the module as owner.
pub struct Region<F: FileOps> {
    first: u32,
    count: u32,
    shared: KBox<Shared<F>>,
    _ops: PhantomData<F>,
}

// SAFETY: the region is only released, from whichever task drops it.
unsafe impl<F: FileOps> Send for Region<F> {}
// SAFETY: shared references only read the numbers.
unsafe impl<F: FileOps> Sync for Region<F> {}

impl<F: FileOps> Region<F> {
    /// Allocates `count` minors under `name` for `module`; the files' `open` gets `ctx`.
    pub fn new(
        name: &'static core::ffi::CStr,
        count: u32,
        module: &'static ThisModule,
        ctx: F::Context,
    ) -> Result<Self> {
        let shared = KBox::new(
            Shared {
                fops: file::table::<F>(module),
                ctx,
            },
            GFP_KERNEL,
        )?;
        let mut first = 0u32;
        // SAFETY: `name` outlives the region; `first` is writable.
        to_result(unsafe { sys::alloc_chrdev_region(&mut first, 0, count, name.as_ptr().cast()) })?;
        // INVARIANT: allocated just now.
        Ok(Self {
            first,
            count,
            shared,
            _ops: PhantomData,
        })
    }

    /// The device number of `minor`, if it is in the region.
    pub fn devt(&self, minor: u32) -> Option<u32> {
        (minor < self.count).then(|| self.first + minor)
    }

    /// The context the files' `open` gets.
    pub fn context(&self) -> &F::Context {
        &self.shared.ctx
    }
}

impl<F: FileOps> Drop for Region<F> {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` (invariant); its nodes are gone (each is dropped before
        // the driver that owns the region), and open files pin the module.
        unsafe { sys::unregister_chrdev_region(self.first, self.count) };
    }
}

/// A device class (`/sys/class/<name>`), under which nodes appear in `/dev`.
///
/// # Invariants
///
/// `raw` is a class this object created and destroys once.
pub struct Class {
    raw: NonNull<sys::class>,
}

// SAFETY: classes may be used from any task.
unsafe impl Send for Class {}
// SAFETY: as above.
unsafe impl Sync for Class {}

impl Class {
    /// Creates class `name`.
    pub fn new(name: &'static core::ffi::CStr) -> Result<Self> {
        // SAFETY: `name` outlives the class.
        let raw = from_err_ptr(unsafe { sys::class_create(name.as_ptr().cast()) })?;
        // INVARIANT: created just now.
        Ok(Self {
            raw: NonNull::new(raw).ok_or(ENOMEM)?,
        })
    }
}

impl Drop for Class {
    fn drop(&mut self) {
        // SAFETY: created in `new` (invariant); its nodes are gone.
        unsafe { sys::class_destroy(self.raw.as_ptr()) };
    }
}

/// One character device node: a `cdev` for one minor and its device in a class.
///
/// # Invariants
///
/// `cdev` is added for `devt`, and the class device for `devt` exists in `class`, until drop.
/// The class outlives the node (both belong to the driver, which drops nodes first).
pub struct Node {
    cdev: NonNull<sys::cdev>,
    class: NonNull<sys::class>,
    devt: u32,
}

// SAFETY: nodes may be removed from any task.
unsafe impl Send for Node {}
// SAFETY: shared references allow nothing.
unsafe impl Sync for Node {}

impl Node {
    /// Adds the node for `minor` of `region` in `class`, named `name`, under `parent`.
    pub fn new<F: FileOps>(
        region: &Region<F>,
        class: &Class,
        minor: u32,
        parent: &kernel::device::Device,
        name: core::fmt::Arguments<'_>,
    ) -> Result<Self> {
        let devt = region.devt(minor).ok_or(EINVAL)?;
        let name = CString::try_from_fmt(name)?;
        // SAFETY: a fresh cdev (a kobject reference we own until `cdev_add` takes it over).
        let cdev = NonNull::new(unsafe { sys::cdev_alloc() }).ok_or(ENOMEM)?;
        // SAFETY: the region's table lives until module exit, after every node; the owner
        // makes open files pin the module.
        let added = unsafe {
            let c = cdev.as_ptr();
            (*c).ops = &region.shared.fops;
            (*c).owner = region.shared.fops.owner;
            to_result(sys::cdev_add(c, devt, 1))
        };
        if let Err(e) = added {
            // SAFETY: not added: dropping our reference frees it.
            unsafe { sys::kobject_put(core::ptr::addr_of_mut!((*cdev.as_ptr()).kobj)) };
            return Err(e);
        }
        let parent = core::ptr::from_ref(parent).cast_mut().cast::<sys::device>();
        // SAFETY: the class is live; the name is formatted with "%s" from our string.
        let created = from_err_ptr(unsafe {
            sys::device_create(
                class.raw.as_ptr(),
                parent,
                devt,
                core::ptr::null_mut(),
                c"%s".as_ptr().cast(),
                name.as_char_ptr(),
            )
        });
        if let Err(e) = created {
            // SAFETY: added above; open files keep the cdev alive.
            unsafe { sys::cdev_del(cdev.as_ptr()) };
            return Err(e);
        }
        // INVARIANT: both exist now.
        Ok(Self {
            cdev,
            class: class.raw,
            devt,
        })
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // SAFETY: created in `new` (invariant). New opens fail from here on; files already
        // open keep the cdev (a refcounted kobject) until they close.
        unsafe {
            sys::cdev_del(self.cdev.as_ptr());
            sys::device_destroy(self.class.as_ptr(), self.devt);
        }
    }
}
