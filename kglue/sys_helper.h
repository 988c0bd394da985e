/* SPDX-License-Identifier: GPL-2.0 */
/* What bindgen reads for each module's sys_generated.rs. */
#include <linux/cdev.h>
#include <linux/debugfs.h>
#include <linux/eventfd.h>
#include <linux/file.h>
#include <linux/poll.h>
#include <linux/wait.h>
#include <linux/device.h>
#include <linux/fs.h>
#include <linux/dma-mapping.h>
#include <linux/etherdevice.h>
#include <linux/idr.h>
#include <linux/kobject.h>
#include <linux/mdev.h>
#include <linux/platform_device.h>
#include <linux/random.h>
#include <linux/string.h>
#include <linux/slab.h>
#include <linux/sysfs.h>
#include <linux/uuid.h>
#include <linux/virtio.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include <linux/workqueue.h>
#include "../transport/vmdev.h"
#include "helpers.h"

const gfp_t RUST_CONST_HELPER_GFP_KERNEL = GFP_KERNEL;
const unsigned long RUST_CONST_HELPER_PAGE_SIZE = PAGE_SIZE;
