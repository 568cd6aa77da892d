"""Matrix-free linear operators: dense, conv2d, the discrete gradient, and norm estimates."""
