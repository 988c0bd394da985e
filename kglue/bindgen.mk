# SPDX-License-Identifier: GPL-2.0
# Generates $(obj)/kglue/sys_generated.rs, once for every module: raw bindings for the C APIs
# the 6.12 `kernel` crate does not wrap (mdev, virtio, the bus and driver core, our own
# vmdev.h, kglue's helpers). Included by the top-level Kbuild; mirrors rust/Makefile's
# cmd_bindgen so the layout matches what the compiler built.
mod_bindgen_flags := $(shell grep -Ev '^\#|^$$' $(srctree)/rust/bindgen_parameters) \
	--rust-target 1.68 --use-core --with-derive-default --ctypes-prefix ffi \
	--no-layout-tests --no-debug '.*' --enable-function-attribute-detection \
	--allowlist-function '(vmdev_.*|mdev_.*|bus_.*|driver_.*|device_.*|put_device|get_device|dev_set_name|ida_.*|register_virtio_device|unregister_virtio_device|virtio_.*|vring_.*|virtqueue_.*|sysfs_emit|sysfs_create_groups|sysfs_remove_groups|__platform_driver_register|platform_.*|add_uevent_var|debugfs_create_dir|debugfs_create_file|debugfs_remove|simple_open|simple_read_from_buffer|alloc_chrdev_region|unregister_chrdev_region|cdev_.*|class_create|class_destroy|device_create|device_destroy|eventfd_.*|fput|add_wait_queue|remove_wait_queue|nonseekable_open|kobject_put|destroy_workqueue|cancel_work_sync|get_random_bytes|mac_pton|kstrtou16)' \
	--allowlist-type '(vmdev_.*|mdev_.*|virtio_.*|virtqueue.*|vring.*|bus_type|device_driver|device_attribute|attribute_group|platform_.*|kobj_uevent_env|work_struct|workqueue_struct|file_operations|cdev|class|file|inode|eventfd_ctx|poll_table_struct|wait_queue_entry|wait_queue_head|mm_struct|vm_area_struct)' \
	--allowlist-var '(VMDEV_.*|VIRTIO_.*|VRING_.*|RUST_CONST_HELPER_.*)'

quiet_cmd_mod_bindgen = BINDGEN $@
      cmd_mod_bindgen = $(BINDGEN) $< $(mod_bindgen_flags) -o $@ -- \
		$(c_flags) -fno-builtin -D__BINDGEN__ -DMODULE; \
		sed -Ei 's/pub const RUST_CONST_HELPER_([a-zA-Z0-9_]*)/pub const \1/g' $@

$(obj)/kglue/sys_generated.rs: $(src)/kglue/sys_helper.h $(src)/transport/vmdev.h $(src)/kglue/helpers.h $(srctree)/rust/bindgen_parameters FORCE
	$(call if_changed_dep,mod_bindgen)

targets += kglue/sys_generated.rs
clean-files += kglue/sys_generated.rs
