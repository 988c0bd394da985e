/* SPDX-License-Identifier: GPL-2.0 */
/*
 * virtio-mdev transport: the vendor API and the driver API.
 *
 * A vendor registers a parent device with its mdev types. Each instance an administrator
 * creates through mdev sysfs becomes a `struct vmdev_device` on the "vmdev" bus, where a
 * personality driver (virtio_mdev, vhost_mdev) binds by device class. Drivers reach the device
 * only through the register window (vmdev_read/vmdev_write/vmdev_config_*), which the
 * transport checks against the register map (Documentation/register-map.rst) before the
 * device sees an access. Devices report interrupts with vmdev_vq_interrupt() and
 * vmdev_config_changed(), which the transport hands to the bound driver.
 */
#ifndef _VMDEV_H
#define _VMDEV_H

#include <linux/types.h>
#include <linux/device.h>

struct device;
struct attribute_group;
struct module;
struct vmdev_device;
struct vmdev_parent;

/* Register offsets: the authoritative table is crates/vmdev_regs (map.rs). */
#define VMDEV_MAGIC_VALUE		0x000
#define VMDEV_VERSION			0x004
#define VMDEV_DEVICE_ID			0x008
#define VMDEV_VENDOR_ID			0x00c
#define VMDEV_DEVICE_FEATURES		0x010
#define VMDEV_DEVICE_FEATURES_SEL	0x014
#define VMDEV_LOG_BASE_LOW		0x018
#define VMDEV_LOG_BASE_HIGH		0x01c
#define VMDEV_DRIVER_FEATURES		0x020
#define VMDEV_DRIVER_FEATURES_SEL	0x024
#define VMDEV_LOG_SIZE_LOW		0x028
#define VMDEV_LOG_SIZE_HIGH		0x02c
#define VMDEV_QUEUE_SEL			0x030
#define VMDEV_QUEUE_NUM_MAX		0x034
#define VMDEV_QUEUE_NUM			0x038
#define VMDEV_QUEUE_READY		0x044
#define VMDEV_QUEUE_ALIGN		0x048
#define VMDEV_QUEUE_NOTIFY		0x050
#define VMDEV_LOG_CTRL			0x054
#define VMDEV_LOG_STATUS		0x058
#define VMDEV_STATUS			0x060
#define VMDEV_NUM_GROUPS		0x064
#define VMDEV_NUM_AS			0x068
#define VMDEV_QUEUE_GROUP		0x06c
#define VMDEV_GROUP_SEL			0x070
#define VMDEV_GROUP_ASID		0x074
#define VMDEV_DMA_ASID			0x078
#define VMDEV_QUEUE_DESC_LOW		0x080
#define VMDEV_QUEUE_DESC_HIGH		0x084
#define VMDEV_QUEUE_AVAIL_LOW		0x090
#define VMDEV_QUEUE_AVAIL_HIGH		0x094
#define VMDEV_QUEUE_USED_LOW		0x0a0
#define VMDEV_QUEUE_USED_HIGH		0x0a4
#define VMDEV_QUEUE_USED_LOG_LOW	0x0a8
#define VMDEV_QUEUE_USED_LOG_HIGH	0x0ac
#define VMDEV_QUEUE_AVAIL_STATE		0x0b0
#define VMDEV_QUEUE_USED_STATE		0x0b4
#define VMDEV_DEVICE_CAPS		0x0b8
#define VMDEV_SUSPEND			0x0bc
#define VMDEV_NUM_QUEUES		0x0c4
#define VMDEV_CONFIG_SIZE		0x0c8
#define VMDEV_DMA_IOVA_LOW		0x0d0
#define VMDEV_DMA_IOVA_HIGH		0x0d4
#define VMDEV_DMA_SIZE_LOW		0x0d8
#define VMDEV_DMA_SIZE_HIGH		0x0dc
#define VMDEV_DMA_ADDR_LOW		0x0e0
#define VMDEV_DMA_ADDR_HIGH		0x0e4
#define VMDEV_DMA_PERM			0x0e8
#define VMDEV_DMA_CMD			0x0ec
#define VMDEV_DMA_MAX_ENTRIES		0x0f0
#define VMDEV_CONFIG_GENERATION		0x0fc
#define VMDEV_CONFIG			0x100

#define VMDEV_MAGIC			0x74726976 /* "virt" */

/* VMDEV_DMA_CMD commands and results (Documentation/register-map.rst, "DMA translation"). */
#define VMDEV_DMA_CMD_MAP		1
#define VMDEV_DMA_CMD_UNMAP		2
#define VMDEV_DMA_CMD_TRANSLATE_ON	3
#define VMDEV_DMA_CMD_TRANSLATE_OFF	4
#define VMDEV_DMA_OK			0
#define VMDEV_DMA_ERR_INVAL		1
#define VMDEV_DMA_ERR_EXIST		2
#define VMDEV_DMA_ERR_NOSPC		3
#define VMDEV_DMA_ERR_NOMEM		4
#define VMDEV_DMA_ERR_NOTSUPP		5
#define VMDEV_DMA_ERR_OFF		6
#define VMDEV_CAP_SUSPEND		1
#define VMDEV_CAP_DIRTY_LOG		2
/* Dirty logging (Documentation/register-map.rst, "Dirty page logging"). */
#define VMDEV_LOG_ALL			1
#define VMDEV_LOG_STATUS_OVERFLOW	1
#define VMDEV_LOG_QUEUE_USED		1
#define VMDEV_LOG_ASID			0x8000
#define VMDEV_DMA_PERM_READ		1
#define VMDEV_DMA_PERM_WRITE		2
/* DMA_ADDR and DMA_IOVA of a map have the same offset in a page of this size. */
#define VMDEV_DMA_PAGE_SIZE		4096

/**
 * struct vmdev_device_ops - what a device instance implements
 * @reg_read: read a 32-bit register below VMDEV_CONFIG. The transport has checked the offset,
 *            width and direction; the device never sees a refused access.
 * @reg_write: write a 32-bit register. Except for VMDEV_QUEUE_NOTIFY, called in process
 *             context. A write of 0 to VMDEV_STATUS resets the device: when it returns, the
 *             device has stopped using every queue and reads and writes no driver memory.
 *             VMDEV_QUEUE_NOTIFY may be written from any context, including with bottom
 *             halves disabled, and must not sleep.
 * @config_read: read @len (1, 2, 4 or 8) bytes of config space at @offset (relative to
 *               VMDEV_CONFIG), already checked against VMDEV_CONFIG_SIZE. Process context.
 * @config_write: write config space, same rules as @config_read.
 */
struct vmdev_device_ops {
	u32 (*reg_read)(struct vmdev_device *vdev, u32 offset);
	void (*reg_write)(struct vmdev_device *vdev, u32 offset, u32 value);
	void (*config_read)(struct vmdev_device *vdev, u32 offset, void *buf, u32 len);
	void (*config_write)(struct vmdev_device *vdev, u32 offset, const void *buf, u32 len);
};

/**
 * struct vmdev_type - an mdev type a parent offers
 * @sysfs_name: the type's name; the mdev type directory is "<parent driver>-<sysfs_name>"
 * @pretty_name: the type's description (mdev "name" attribute)
 * @device_id: the virtio device id of instances of this type (1 = net)
 * @max_instances: how many instances of this type may exist at once
 */
struct vmdev_type {
	const char *sysfs_name;
	const char *pretty_name;
	u32 device_id;
	u32 max_instances;
};

/**
 * struct vmdev_parent_ops - what a vendor implements for its parent
 * @create: make a new instance of types[@type_index]: allocate its state, attach it with
 *          vmdev_set_drvdata() and return its ops in *@ops. Process context; may sleep. The
 *          instance is not visible to drivers yet.
 * @destroy: free an instance. No driver is bound and no op will be called again.
 * @dev_groups: optional sysfs attribute groups for each instance's vmdev device (vendor
 *              settings such as a MAC address). Their callbacks find the instance with
 *              vmdev_from_dev(). The transport mirrors them on the instance's mdev device,
 *              where mdevctl writes a device's attributes: a write there reaches the vendor's
 *              store with the vmdev device; if the store returns -EBUSY (a setting the
 *              device does not take while a driver runs it) and the bound driver has
 *              VMDEV_DRIVER_REBIND_FOR_SETTINGS (virtio_mdev), that driver is unbound, which
 *              resets the device, the store is called again, and the same driver is bound
 *              again after. Groups must not use is_visible or bin_attrs, and top-level
 *              names must not be those of the mdev device's own files (personality,
 *              remove, mdev_type, ...): registration fails with -EINVAL otherwise.
 */
struct vmdev_parent_ops {
	int (*create)(struct vmdev_parent *parent, unsigned int type_index,
		      struct vmdev_device *vdev, const struct vmdev_device_ops **ops);
	void (*destroy)(struct vmdev_parent *parent, struct vmdev_device *vdev);
	const struct attribute_group **dev_groups;
};

/*
 * Vendor side.
 *
 * vmdev_register_parent() makes @dev (which must have a driver bound, whose name prefixes the
 * mdev type directories) an mdev parent offering @types. @types and @ops must stay valid until
 * vmdev_unregister_parent(), which removes every remaining instance first and waits for
 * creations in flight, so the vendor module needs no reference of its own: call it from the
 * vendor's remove or exit path. Returns the parent or an ERR_PTR().
 */
struct vmdev_parent *vmdev_register_parent(struct device *dev,
					   const struct vmdev_type *types, unsigned int nr_types,
					   const struct vmdev_parent_ops *ops, void *drvdata);
void vmdev_unregister_parent(struct vmdev_parent *parent);
void *vmdev_parent_drvdata(struct vmdev_parent *parent);

void vmdev_set_drvdata(struct vmdev_device *vdev, void *data);
void *vmdev_get_drvdata(struct vmdev_device *vdev);
struct device *vmdev_to_dev(struct vmdev_device *vdev);
/* The instance behind a struct device of the vmdev bus, or NULL. */
struct vmdev_device *vmdev_from_dev(struct device *dev);

/*
 * Interrupts. Process or softirq context, not hardirq: the driver's handler runs with bottom
 * halves disabled. A device should raise none for a queue after the reset that stops it (see
 * @reg_write); one that does anyway (an asynchronous reset) is safe: from a write of 0 to
 * VMDEV_STATUS until the next non-zero status, the transport drops the device's interrupts,
 * and after a driver is unbound it delivers none to it.
 */
void vmdev_vq_interrupt(struct vmdev_device *vdev, u32 queue);
void vmdev_config_changed(struct vmdev_device *vdev);

/*
 * Driver side.
 */
struct vmdev_device_id {
	u32 device_id;		/* virtio device id, or VMDEV_ANY_ID */
};
#define VMDEV_ANY_ID 0xffffffff

/**
 * struct vmdev_driver - a personality driver on the vmdev bus
 * @name: driver name (also the name driver_override matches)
 * @id_table: device classes the driver handles, ended by an entry with device_id 0
 * @probe: bind to a device. The transport delivers the device's interrupts to the driver from
 *         the moment it publishes its state with vmdev_set_driver_data(), so a driver sets its
 *         state first and starts the device after; a failing probe leaves its state to
 *         @release.
 * @remove: unbind: stop the device and leave it reset. Interrupts still reach the driver
 *          until this returns.
 * @release: optional: free the state published with vmdev_set_driver_data(), called once
 *           the transport delivers no interrupt to it any more (after @remove, or after a
 *           failed @probe).
 * @vq_interrupt: a used-buffer notification for queue @queue, with the published state
 *                (bottom halves disabled)
 * @config_changed: the device changed its config space (bottom halves disabled)
 * @flags: VMDEV_DRIVER_* below
 */
/*
 * A kernel driver that reads the device's settings at probe only: a settings write on the
 * instance's mdev device rebinds it (see @dev_groups of struct vmdev_parent_ops).
 */
#define VMDEV_DRIVER_REBIND_FOR_SETTINGS	(1U << 0)

struct vmdev_driver {
	const char *name;
	const struct vmdev_device_id *id_table;
	int (*probe)(struct vmdev_device *vdev);
	void (*remove)(struct vmdev_device *vdev);
	void (*release)(struct vmdev_device *vdev, void *driver_data);
	void (*vq_interrupt)(struct vmdev_device *vdev, void *driver_data, u32 queue);
	void (*config_changed)(struct vmdev_device *vdev, void *driver_data);
	unsigned int flags;
	struct device_driver driver; /* the transport's */
};

int vmdev_register_driver(struct vmdev_driver *drv, struct module *owner);
void vmdev_unregister_driver(struct vmdev_driver *drv);

/*
 * Register window accesses, checked against the register map: 0 or -EINVAL/-ERANGE, or
 * -ENODEV once the instance is destroyed.
 */
int vmdev_read(struct vmdev_device *vdev, u32 offset, u32 *value);
int vmdev_write(struct vmdev_device *vdev, u32 offset, u32 value);
int vmdev_config_read(struct vmdev_device *vdev, u32 offset, void *buf, u32 len);
int vmdev_config_write(struct vmdev_device *vdev, u32 offset, const void *buf, u32 len);
/* The bound driver's state, passed to its interrupt callbacks. */
void vmdev_set_driver_data(struct vmdev_device *vdev, void *data);
void *vmdev_get_driver_data(struct vmdev_device *vdev);
/* Waits until no interrupt callback of @vdev is running (for a driver about to free a queue). */
void vmdev_synchronize_callbacks(struct vmdev_device *vdev);

#endif /* _VMDEV_H */
