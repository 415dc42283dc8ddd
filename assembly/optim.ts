// Kernel family 'optim': being written.
