// SPDX-License-Identifier: GPL-2.0
/* The transport's C ABI (vmdev.h), implemented in transport.rs, exported to other modules. */
#include <linux/export.h>
#include "vmdev.h"

EXPORT_SYMBOL_GPL(vmdev_register_parent);
EXPORT_SYMBOL_GPL(vmdev_unregister_parent);
EXPORT_SYMBOL_GPL(vmdev_parent_drvdata);
EXPORT_SYMBOL_GPL(vmdev_set_drvdata);
EXPORT_SYMBOL_GPL(vmdev_get_drvdata);
EXPORT_SYMBOL_GPL(vmdev_to_dev);
EXPORT_SYMBOL_GPL(vmdev_from_dev);
EXPORT_SYMBOL_GPL(vmdev_vq_interrupt);
EXPORT_SYMBOL_GPL(vmdev_config_changed);
EXPORT_SYMBOL_GPL(vmdev_register_driver);
EXPORT_SYMBOL_GPL(vmdev_unregister_driver);
EXPORT_SYMBOL_GPL(vmdev_read);
EXPORT_SYMBOL_GPL(vmdev_write);
EXPORT_SYMBOL_GPL(vmdev_config_read);
EXPORT_SYMBOL_GPL(vmdev_config_write);
EXPORT_SYMBOL_GPL(vmdev_set_driver_data);
EXPORT_SYMBOL_GPL(vmdev_get_driver_data);
