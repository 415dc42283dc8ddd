// Kernel family 'noise': being written.
