// Kernel family 'bayes': being written.
