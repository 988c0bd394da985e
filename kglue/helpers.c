// SPDX-License-Identifier: GPL-2.0
/*
 * Bodies of kglue/helpers.h: the static inline functions and macros of the kernel that Rust
 * cannot call. Built once, into vmdev.ko, and exported to the project's other modules.
 */
#include <linux/device.h>
#include <linux/mutex.h>
#include <linux/module.h>
#include <linux/dma-mapping.h>
#include <linux/etherdevice.h>
#include <linux/mdev.h>
#include <linux/mm.h>
#include <linux/overflow.h>
#include <linux/idr.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/workqueue.h>
#include <linux/poll.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/export.h>
#include "helpers.h"

struct device *vmdev_helper_mdev_dev(struct mdev_device *mdev) { return mdev_dev(mdev); }
EXPORT_SYMBOL_GPL(vmdev_helper_mdev_dev);
struct mdev_type *vmdev_helper_mdev_type(struct mdev_device *mdev) { return mdev->type; }
EXPORT_SYMBOL_GPL(vmdev_helper_mdev_type);
void *vmdev_helper_dev_get_drvdata(const struct device *dev) { return dev_get_drvdata(dev); }
EXPORT_SYMBOL_GPL(vmdev_helper_dev_get_drvdata);
void vmdev_helper_dev_set_drvdata(struct device *dev, void *data) { dev_set_drvdata(dev, data); }
EXPORT_SYMBOL_GPL(vmdev_helper_dev_set_drvdata);

void vmdev_helper_spin_lock_bh(struct spinlock *lock) { spin_lock_bh(lock); }
EXPORT_SYMBOL_GPL(vmdev_helper_spin_lock_bh);
void vmdev_helper_spin_unlock_bh(struct spinlock *lock) { spin_unlock_bh(lock); }
EXPORT_SYMBOL_GPL(vmdev_helper_spin_unlock_bh);

bool vmdev_helper_queue_work(struct workqueue_struct *wq, struct work_struct *work)
{
	return queue_work(wq, work);
}
EXPORT_SYMBOL_GPL(vmdev_helper_queue_work);

struct workqueue_struct *vmdev_helper_alloc_workqueue(const char *name)
{
	return alloc_workqueue("%s", WQ_UNBOUND | WQ_MEM_RECLAIM, 0, name);
}
EXPORT_SYMBOL_GPL(vmdev_helper_alloc_workqueue);

/*
 * The kernel personality's device addresses are DMA addresses of a device with no IOMMU, i.e.
 * physical addresses. Returns the direct-map address of @phys, or NULL if no RAM backs it.
 */
void *vmdev_helper_phys_to_virt(u64 phys)
{
	unsigned long pfn = PHYS_PFN(phys);

	if (!pfn_valid(pfn) || PageReserved(pfn_to_page(pfn)))
		return NULL;
	return page_address(pfn_to_page(pfn)) + offset_in_page(phys);
}
EXPORT_SYMBOL_GPL(vmdev_helper_phys_to_virt);

void vmdev_helper_might_sleep(void) { might_sleep(); }
EXPORT_SYMBOL_GPL(vmdev_helper_might_sleep);
void vmdev_helper_device_lock(struct device *dev) { device_lock(dev); }
EXPORT_SYMBOL_GPL(vmdev_helper_device_lock);

/* A RAM disk's page allocation, in its write path: reclaim must not start I/O. */
unsigned int vmdev_helper_memalloc_noio_save(void) { return memalloc_noio_save(); }
EXPORT_SYMBOL_GPL(vmdev_helper_memalloc_noio_save);
void vmdev_helper_memalloc_noio_restore(unsigned int flags) { memalloc_noio_restore(flags); }
EXPORT_SYMBOL_GPL(vmdev_helper_memalloc_noio_restore);

/* A sysfs attribute built at run time (transport/mdev_settings.rs): lockdep needs a key. */
void vmdev_helper_sysfs_attr_init(struct attribute *attr, const char *name, umode_t mode)
{
	sysfs_attr_init(attr);
	attr->name = name;
	attr->mode = mode;
}

/* A driver to bind again after a settings change (transport/mdev_settings.rs). */
bool vmdev_helper_try_module_get(struct module *m) { return try_module_get(m); }
void vmdev_helper_module_put(struct module *m) { module_put(m); }
void vmdev_helper_device_unlock(struct device *dev) { device_unlock(dev); }
EXPORT_SYMBOL_GPL(vmdev_helper_device_unlock);
void vmdev_helper_ida_init(struct ida *ida) { ida_init(ida); }
EXPORT_SYMBOL_GPL(vmdev_helper_ida_init);
int vmdev_helper_dma_set_mask_and_coherent(struct device *dev, u64 mask) { return dma_set_mask_and_coherent(dev, mask); }
EXPORT_SYMBOL_GPL(vmdev_helper_dma_set_mask_and_coherent);
const char *vmdev_helper_dev_name(const struct device *dev) { return dev_name(dev); }
EXPORT_SYMBOL_GPL(vmdev_helper_dev_name);

struct mm_struct *vmdev_helper_current_mm(void) { return current->mm; }
EXPORT_SYMBOL_GPL(vmdev_helper_current_mm);
void vmdev_helper_mmgrab(struct mm_struct *mm) { mmgrab(mm); }
EXPORT_SYMBOL_GPL(vmdev_helper_mmgrab);
void vmdev_helper_mmdrop(struct mm_struct *mm) { mmdrop(mm); }
EXPORT_SYMBOL_GPL(vmdev_helper_mmdrop);

u64 vmdev_helper_memlock_limit_pages(void)
{
	unsigned long lim = rlimit(RLIMIT_MEMLOCK);

	return lim == RLIM_INFINITY ? U64_MAX : PFN_DOWN(lim);
}
EXPORT_SYMBOL_GPL(vmdev_helper_memlock_limit_pages);

bool vmdev_helper_fatal_signal_pending(void) { return fatal_signal_pending(current); }
EXPORT_SYMBOL_GPL(vmdev_helper_fatal_signal_pending);
void vmdev_helper_cond_resched(void) { cond_resched(); }
EXPORT_SYMBOL_GPL(vmdev_helper_cond_resched);

void vmdev_helper_pinned_vm_add(struct mm_struct *mm, s64 pages) { atomic64_add(pages, &mm->pinned_vm); }
EXPORT_SYMBOL_GPL(vmdev_helper_pinned_vm_add);

/*
 * Adds @pages to @mm's pinned_vm unless that would exceed @limit pages; returns whether it
 * did. One compare-and-exchange, so that two devices of one owner pinning at once cannot
 * both pass the check and exceed the limit together.
 */
bool vmdev_helper_pinned_vm_try_add(struct mm_struct *mm, s64 pages, u64 limit)
{
	s64 old = atomic64_read(&mm->pinned_vm), new;

	do {
		if (pages < 0 || check_add_overflow(old, pages, &new) || new < 0 || (u64)new > limit)
			return false;
	} while (!atomic64_try_cmpxchg(&mm->pinned_vm, &old, new));
	return true;
}
EXPORT_SYMBOL_GPL(vmdev_helper_pinned_vm_try_add);

/*
 * Pins @npages user pages from @start for long-term device access, as vhost-vdpa does, and
 * stores their page frame numbers in @pfns (which doubles as the page pointer array: both
 * are 64 bits). All or nothing: returns @npages or a negative errno, with nothing pinned.
 */
long vmdev_helper_pin_user_pfns(unsigned long start, unsigned long npages, bool write, u64 *pfns)
{
	struct page **pages = (struct page **)pfns;
	unsigned int flags = FOLL_LONGTERM | (write ? FOLL_WRITE : 0);
	long pinned, i;

	BUILD_BUG_ON(sizeof(*pages) != sizeof(*pfns));
	pinned = pin_user_pages_fast(start, npages, flags, pages);
	if (pinned < 0)
		return pinned;
	if (pinned != npages) {
		unpin_user_pages(pages, pinned);
		return -ENOMEM;
	}
	for (i = 0; i < pinned; i++)
		pfns[i] = page_to_pfn(pages[i]);
	return pinned;
}
EXPORT_SYMBOL_GPL(vmdev_helper_pin_user_pfns);

/* Releases pins taken by vmdev_helper_pin_user_pfns(), marking pages the device wrote dirty. */
void vmdev_helper_unpin_pfns(u64 pfn, u64 npages, bool dirty)
{
	u64 i;

	for (i = 0; i < npages; i++) {
		struct page *page = pfn_to_page(pfn + i);

		if (dirty)
			set_page_dirty_lock(page);
		unpin_user_page(page);
	}
}
EXPORT_SYMBOL_GPL(vmdev_helper_unpin_pfns);

void vmdev_helper_init_poll_funcptr(struct poll_table_struct *pt,
				    void (*qproc)(struct file *, struct wait_queue_head *,
						  struct poll_table_struct *))
{
	init_poll_funcptr(pt, qproc);
}
EXPORT_SYMBOL_GPL(vmdev_helper_init_poll_funcptr);

unsigned int vmdev_helper_vfs_poll(struct file *file, struct poll_table_struct *pt)
{
	return (__force unsigned int)vfs_poll(file, pt);
}
EXPORT_SYMBOL_GPL(vmdev_helper_vfs_poll);

void vmdev_helper_init_waitqueue_func_entry(struct wait_queue_entry *wq,
					    int (*func)(struct wait_queue_entry *, unsigned int,
							int, void *))
{
	init_waitqueue_func_entry(wq, func);
}
EXPORT_SYMBOL_GPL(vmdev_helper_init_waitqueue_func_entry);
