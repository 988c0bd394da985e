// SPDX-License-Identifier: GPL-2.0
//! Workqueues and work items whose lifetimes Rust owns.
//!
//! A [`Queue`] is a workqueue of the module's own, destroyed (after draining) when dropped. A
//! [`Work`] is a work item embedded in a pinned object; queueing it runs
//! [`WorkHandler::run`] on that object in process context. The owner's drop calls
//! [`Work::cancel_sync`] before anything else, which waits for a run in progress, so the
//! handler never runs on a half-dropped object (fields drop in declaration order, so the
//! [`Work`]'s own drop, which cancels too, would come too late for the fields before it).
//! Objects that queue themselves from their handler are fine too, since
//! `cancel_work_sync()` also stops a work item that requeues itself.
//!
//! Unlike the `kernel` crate's `workqueue`, queueing does not move a reference into the queue:
//! the object's owner decides when it goes away, and the drop waits for the work. That is the
//! shape a device needs, whose lifetime its parent's `destroy` decides.

use super::sys;
use core::marker::PhantomData;
use core::pin::Pin;
use core::ptr::NonNull;
use kernel::error::code::ENOMEM;
use kernel::prelude::*;
use kernel::types::Opaque;

/// A workqueue (`alloc_workqueue(WQ_UNBOUND | WQ_MEM_RECLAIM)`), destroyed on drop.
///
/// # Invariants
///
/// `raw` is a workqueue this object allocated and destroys once.
pub struct Queue {
    raw: NonNull<sys::workqueue_struct>,
}

// SAFETY: workqueues may be used and destroyed from any task.
unsafe impl Send for Queue {}
// SAFETY: `queue_work()` is thread-safe.
unsafe impl Sync for Queue {}

impl Queue {
    /// An unbound workqueue named `name`: its work runs on whichever CPU is free, in
    /// parallel with other work items.
    pub fn new_unbound(name: &'static core::ffi::CStr) -> Result<Self> {
        // SAFETY: `name` is a NUL-terminated string that outlives the queue.
        let raw = unsafe { sys::vmdev_helper_alloc_workqueue(name.as_ptr().cast()) };
        // INVARIANT: a fresh workqueue, or an error.
        Ok(Self {
            raw: NonNull::new(raw).ok_or(ENOMEM)?,
        })
    }

    /// Queues `work` unless it is queued already; returns whether this call queued it.
    pub fn enqueue<T: WorkHandler>(&self, work: &Work<T>) -> bool {
        // SAFETY: `raw` is live (invariant); `work` was initialised by `Work::new` and is
        // pinned, and its drop cancels it before the memory goes.
        unsafe { sys::vmdev_helper_queue_work(self.raw.as_ptr(), work.raw.get().cast()) }
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` (invariant); `destroy_workqueue()` drains it first.
        unsafe { sys::destroy_workqueue(self.raw.as_ptr()) };
    }
}

/// What runs when a [`Work`] of `Self` is queued.
///
/// # Safety
///
/// `WORK_OFFSET` must be the offset of a `Work<Self>` field inside `Self` (use
/// [`impl_has_work!`](crate::impl_has_work)), and `Self`'s drop must cancel it
/// ([`Work::cancel_sync`]) before it drops anything the handler uses.
pub unsafe trait HasWork: Sized {
    /// Offset of the [`Work`] field in `Self`.
    const WORK_OFFSET: usize;
}

/// The handler of a [`Work`] embedded in `Self`.
pub trait WorkHandler: HasWork + Send + Sync {
    /// Runs in process context, once per queueing (several queueings before a run make one).
    fn run(&self);
}

/// Implements [`HasWork`] for a type with a [`Work`] field:
/// `impl_has_work!([generics] Type, field)`. The type's drop must cancel the work first (see
/// [`HasWork`]).
#[macro_export]
macro_rules! impl_has_work {
    ([$($gen:tt)*] $ty:ty, $field:ident) => {
        // SAFETY: `offset_of!` gives the offset of the named `Work<Self>` field (the closure
        // below checks its type); the caller's drop cancels it first, as the macro's
        // documentation requires.
        unsafe impl<$($gen)*> $crate::kglue::workqueue::HasWork for $ty {
            const WORK_OFFSET: usize = {
                let _check: for<'a> fn(&'a $ty) -> &'a $crate::kglue::workqueue::Work<$ty> =
                    |s| &s.$field;
                ::core::mem::offset_of!($ty, $field)
            };
        }
    };
}

/// A work item embedded in a pinned `T`.
///
/// # Invariants
///
/// `raw` was initialised by [`Work::new`] with [`Work::run_raw`] as its function, inside a
/// `T` at `T::WORK_OFFSET`; it is never moved (the containing object is pinned), and it is
/// neither queued nor running once `cancel_sync` or `drop` returns.
#[pin_data(PinnedDrop)]
#[repr(transparent)]
pub struct Work<T> {
    #[pin]
    raw: Opaque<kernel::bindings::work_struct>,
    _owner: PhantomData<T>,
}

// SAFETY: a work item may be queued and cancelled from any task.
unsafe impl<T> Send for Work<T> {}
// SAFETY: as above.
unsafe impl<T> Sync for Work<T> {}

impl<T> Work<T> {
    /// Cancels the work and waits for a run in progress; it can be queued again afterwards.
    pub fn cancel_sync(&self) {
        // SAFETY: initialised in `new` (invariant).
        unsafe { sys::cancel_work_sync(self.raw.get().cast()) };
    }
}

impl<T: WorkHandler> Work<T> {
    /// A work item initialiser; `name` and `key` name its lockdep class (see [`new_work!`]).
    ///
    /// # Safety
    ///
    /// The initialiser must initialise the field at `T::WORK_OFFSET` of a `T` (the handler
    /// finds its `T` from the work item's address).
    pub unsafe fn new(
        name: &'static CStr,
        key: &'static kernel::sync::LockClassKey,
    ) -> impl PinInit<Self> {
        // A `LockClassKey` is a transparent `lock_class_key`; the kernel crate keeps its
        // pointer accessor private.
        let key = core::ptr::from_ref(key).cast_mut().cast();
        pin_init!(Self {
            // SAFETY: initialises the work item in place, with a name and key that live
            // forever; `run_raw` is only ever called for this work item.
            raw <- Opaque::ffi_init(|slot| unsafe {
                kernel::bindings::init_work_with_key(
                    slot,
                    Some(Self::run_raw),
                    false,
                    name.as_char_ptr(),
                    key,
                )
            }),
            _owner: PhantomData,
        })
    }

    /// The workqueue's entry point.
    ///
    /// # Safety
    ///
    /// Called by the workqueue for a work item initialised by [`Work::new`].
    unsafe extern "C" fn run_raw(work: *mut kernel::bindings::work_struct) {
        // SAFETY: `work` is the `raw` field (at offset 0 of the transparent `Opaque`) of a
        // `Work<T>` at `T::WORK_OFFSET` in a live `T`: dropping the `T` drops the `Work`,
        // which waits for this call to return.
        let owner = unsafe { &*work.cast::<u8>().sub(T::WORK_OFFSET).cast::<T>() };
        owner.run();
    }
}

#[pinned_drop]
impl<T> PinnedDrop for Work<T> {
    fn drop(self: Pin<&mut Self>) {
        self.cancel_sync();
    }
}

/// Creates a [`Work`] initialiser with a lockdep class of its own, for the `Work` field of a
/// type that implements [`HasWork`] for it (`work <- new_work!("name")` in its initialiser).
#[macro_export]
macro_rules! new_work {
    ($($name:literal)?) => {{
        let name = ::kernel::optional_name!($($name)?);
        let key = ::kernel::static_lock_class!();
        // SAFETY: used as the initialiser of the `Work` field that the owner's `HasWork`
        // implementation names (this macro's contract).
        unsafe { $crate::kglue::workqueue::Work::new(name, key) }
    }};
}

/// One item of a [`WorkArray`]: the work item and its place in the array.
#[repr(C)]
struct IndexedWork {
    raw: kernel::bindings::work_struct,
    index: usize,
}

/// `N` work items embedded in a pinned `T`; queueing item `i` runs
/// [`WorkArrayHandler::run_item`]`(i)` on that object, in parallel with the other items.
///
/// A device with several independent workers (a simulated NIC's queue pairs) embeds one
/// array instead of one [`Work`] per worker, which would each need a type of their own to
/// find their owner.
///
/// # Invariants
///
/// Every item was initialised by [`WorkArray::new`] with [`WorkArray::run_raw`] as its
/// function and its own index, inside a `T` at `T::WORK_ARRAY_OFFSET`; the array is never
/// moved (the containing object is pinned), and no item is queued or running once
/// `cancel_sync` or `drop` returns.
#[pin_data(PinnedDrop)]
#[repr(transparent)]
pub struct WorkArray<T, const N: usize> {
    #[pin]
    raw: Opaque<[IndexedWork; N]>,
    _owner: PhantomData<T>,
}

// SAFETY: work items may be queued and cancelled from any task.
unsafe impl<T, const N: usize> Send for WorkArray<T, N> {}
// SAFETY: as above.
unsafe impl<T, const N: usize> Sync for WorkArray<T, N> {}

/// What runs when an item of a [`WorkArray`] of `Self` is queued.
///
/// # Safety
///
/// `WORK_ARRAY_OFFSET` must be the offset of a `WorkArray<Self, N>` field inside `Self` (use
/// [`impl_has_work_array!`](crate::impl_has_work_array)), and `Self`'s drop must cancel it
/// ([`WorkArray::cancel_sync`]) before it drops anything the handler uses.
pub unsafe trait HasWorkArray<const N: usize>: Sized {
    /// Offset of the [`WorkArray`] field in `Self`.
    const WORK_ARRAY_OFFSET: usize;
}

/// The handler of the items of a [`WorkArray`] embedded in `Self`.
pub trait WorkArrayHandler<const N: usize>: HasWorkArray<N> + Send + Sync {
    /// Runs item `index` (below `N`) in process context, once per queueing of that item.
    fn run_item(&self, index: usize);
}

/// Implements [`HasWorkArray`] for a type with a [`WorkArray`] field:
/// `impl_has_work_array!([generics] Type, field, N)`. The type's drop must cancel the items
/// first (see [`HasWorkArray`]).
#[macro_export]
macro_rules! impl_has_work_array {
    ([$($gen:tt)*] $ty:ty, $field:ident, $n:expr) => {
        // SAFETY: `offset_of!` gives the offset of the named `WorkArray<Self, N>` field (the
        // closure below checks its type); the caller's drop cancels it first, as the macro's
        // documentation requires.
        unsafe impl<$($gen)*> $crate::kglue::workqueue::HasWorkArray<{ $n }> for $ty {
            const WORK_ARRAY_OFFSET: usize = {
                let _check: for<'a> fn(
                    &'a $ty,
                ) -> &'a $crate::kglue::workqueue::WorkArray<$ty, { $n }> = |s| &s.$field;
                ::core::mem::offset_of!($ty, $field)
            };
        }
    };
}

impl<T, const N: usize> WorkArray<T, N> {
    /// Cancels every item and waits for the runs in progress.
    pub fn cancel_sync(&self) {
        let base = self.raw.get().cast::<IndexedWork>();
        for i in 0..N {
            // SAFETY: item `i` of the initialised array (invariant).
            unsafe { sys::cancel_work_sync(core::ptr::addr_of_mut!((*base.add(i)).raw).cast()) };
        }
    }
}

impl<T: WorkArrayHandler<N>, const N: usize> WorkArray<T, N> {
    /// An initialiser of `N` work items, which share the lockdep class `key` named `name` (see
    /// [`new_work_array!`]).
    ///
    /// # Safety
    ///
    /// The initialiser must initialise the field at `T::WORK_ARRAY_OFFSET` of a `T` (the
    /// handler finds its `T` from the items' addresses).
    pub unsafe fn new(
        name: &'static CStr,
        key: &'static kernel::sync::LockClassKey,
    ) -> impl PinInit<Self> {
        let key = core::ptr::from_ref(key).cast_mut().cast();
        pin_init!(Self {
            // SAFETY: initialises each item in place, with a name and key that live forever;
            // `run_raw` is only ever called for these items.
            raw <- Opaque::ffi_init(|slot: *mut [IndexedWork; N]| unsafe {
                let base = slot.cast::<IndexedWork>();
                for i in 0..N {
                    let item = base.add(i);
                    core::ptr::addr_of_mut!((*item).index).write(i);
                    kernel::bindings::init_work_with_key(
                        core::ptr::addr_of_mut!((*item).raw),
                        Some(Self::run_raw),
                        false,
                        name.as_char_ptr(),
                        key,
                    );
                }
            }),
            _owner: PhantomData,
        })
    }

    /// Queues item `index` on `queue` unless it is queued already; returns whether this call
    /// queued it. An index past the end queues nothing.
    pub fn enqueue(&self, queue: &Queue, index: usize) -> bool {
        if index >= N {
            return false;
        }
        // SAFETY: item `index` of the initialised array (invariant), which the owner's drop
        // cancels before the memory goes.
        unsafe {
            let item = self.raw.get().cast::<IndexedWork>().add(index);
            sys::vmdev_helper_queue_work(
                queue.raw.as_ptr(),
                core::ptr::addr_of_mut!((*item).raw).cast(),
            )
        }
    }

    /// The workqueue's entry point.
    ///
    /// # Safety
    ///
    /// Called by the workqueue for an item initialised by [`WorkArray::new`].
    unsafe extern "C" fn run_raw(work: *mut kernel::bindings::work_struct) {
        // SAFETY: `work` is the first field of the `repr(C)` item whose `index` says where it
        // sits in the array, which is at `T::WORK_ARRAY_OFFSET` in a live `T` (the transparent
        // `Opaque` and `WorkArray` add no offset): dropping the `T` cancels every item, which
        // waits for this call to return.
        let (owner, index) = unsafe {
            let item = work.cast::<IndexedWork>();
            let index = (*item).index;
            let array = item.sub(index).cast::<u8>();
            (&*array.sub(T::WORK_ARRAY_OFFSET).cast::<T>(), index)
        };
        owner.run_item(index);
    }
}

#[pinned_drop]
impl<T, const N: usize> PinnedDrop for WorkArray<T, N> {
    fn drop(self: Pin<&mut Self>) {
        self.cancel_sync();
    }
}

/// Creates a [`WorkArray`] initialiser whose items share a lockdep class of their own, for the
/// `WorkArray` field of a type that implements [`HasWorkArray`] for it.
#[macro_export]
macro_rules! new_work_array {
    ($($name:literal)?) => {{
        let name = ::kernel::optional_name!($($name)?);
        let key = ::kernel::static_lock_class!();
        // SAFETY: used as the initialiser of the `WorkArray` field that the owner's
        // `HasWorkArray` implementation names (this macro's contract).
        unsafe { $crate::kglue::workqueue::WorkArray::new(name, key) }
    }};
}
