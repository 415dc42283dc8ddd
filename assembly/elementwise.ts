// Kernel family 'elementwise': being written.
