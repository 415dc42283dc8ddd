// Kernel family 'activation': being written.
