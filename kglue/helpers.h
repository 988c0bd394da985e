/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C helpers for `static inline` functions and macros that Rust cannot call directly. Built
 * once, into vmdev.ko (kglue/helpers.c), and exported to the other modules.
 */
#ifndef _VMDEV_KGLUE_HELPERS_H
#define _VMDEV_KGLUE_HELPERS_H
#include <linux/types.h>

struct device;
struct mdev_device;
struct mdev_type;
struct spinlock;
struct work_struct;
struct workqueue_struct;
struct virtqueue;
struct virtio_device;

struct device *vmdev_helper_mdev_dev(struct mdev_device *mdev);
struct mdev_type *vmdev_helper_mdev_type(struct mdev_device *mdev);
void *vmdev_helper_dev_get_drvdata(const struct device *dev);
void vmdev_helper_dev_set_drvdata(struct device *dev, void *data);
void vmdev_helper_spin_lock_bh(struct spinlock *lock);
void vmdev_helper_spin_unlock_bh(struct spinlock *lock);
bool vmdev_helper_queue_work(struct workqueue_struct *wq, struct work_struct *work);
struct workqueue_struct *vmdev_helper_alloc_workqueue(const char *name);
void *vmdev_helper_phys_to_virt(u64 phys);
void vmdev_helper_might_sleep(void);
struct ida;
const char *vmdev_helper_dev_name(const struct device *dev);
int vmdev_helper_dma_set_mask_and_coherent(struct device *dev, u64 mask);
void vmdev_helper_ida_init(struct ida *ida);
void vmdev_helper_device_lock(struct device *dev);
void vmdev_helper_device_unlock(struct device *dev);
struct attribute;
unsigned int vmdev_helper_memalloc_noio_save(void);
void vmdev_helper_memalloc_noio_restore(unsigned int flags);
void vmdev_helper_sysfs_attr_init(struct attribute *attr, const char *name, umode_t mode);
struct module;
bool vmdev_helper_try_module_get(struct module *m);
void vmdev_helper_module_put(struct module *m);

/* vhost_mdev: the owner's mm, pinned-page accounting, pinning, and eventfd polling. */
struct mm_struct;
struct file;
struct poll_table_struct;
struct wait_queue_entry;
struct wait_queue_head;
struct mm_struct *vmdev_helper_current_mm(void);
void vmdev_helper_mmgrab(struct mm_struct *mm);
void vmdev_helper_mmdrop(struct mm_struct *mm);
u64 vmdev_helper_memlock_limit_pages(void);
bool vmdev_helper_fatal_signal_pending(void);
void vmdev_helper_cond_resched(void);
void vmdev_helper_pinned_vm_add(struct mm_struct *mm, s64 pages);
bool vmdev_helper_pinned_vm_try_add(struct mm_struct *mm, s64 pages, u64 limit);
long vmdev_helper_pin_user_pfns(unsigned long start, unsigned long npages, bool write, u64 *pfns);
void vmdev_helper_unpin_pfns(u64 pfn, u64 npages, bool dirty);
void vmdev_helper_init_poll_funcptr(struct poll_table_struct *pt,
				    void (*qproc)(struct file *, struct wait_queue_head *,
						  struct poll_table_struct *));
unsigned int vmdev_helper_vfs_poll(struct file *file, struct poll_table_struct *pt);
void vmdev_helper_init_waitqueue_func_entry(struct wait_queue_entry *wq,
					    int (*func)(struct wait_queue_entry *, unsigned int,
							int, void *));
/* vmdev.ko only: its test-only module parameter (Documentation/testing.rst). */
int vmdev_test_fail_init(void);
#endif
