// Kernel family 'pool': being written.
