// Kernel family 'conv': being written.
