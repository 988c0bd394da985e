// SPDX-License-Identifier: GPL-2.0
/*
 * The transport's C ABI (vmdev.h), implemented in Rust, and the C helpers every module of the
 * project calls (kglue/helpers.c), exported from vmdev.ko so that they are built once.
 */
#include <linux/export.h>
#include <linux/moduleparam.h>
#include "vmdev.h"
#include "../kglue/helpers.h"

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
EXPORT_SYMBOL_GPL(vmdev_synchronize_callbacks);

/*
 * Test-only (Documentation/testing.rst): fail module init after step N (1: debugfs, 2: the
 * bus), to check that a failed init leaves nothing behind. Off (0) by default.
 */
static int test_fail_init;
module_param(test_fail_init, int, 0444);
MODULE_PARM_DESC(test_fail_init, "test only: fail init after step N");

int vmdev_test_fail_init(void)
{
	return test_fail_init;
}
