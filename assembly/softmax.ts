// Kernel family 'softmax': being written.
