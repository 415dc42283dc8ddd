// Kernel family 'batchnorm': being written.
