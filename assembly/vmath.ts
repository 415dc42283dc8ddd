// Kernel family 'vmath': being written.
