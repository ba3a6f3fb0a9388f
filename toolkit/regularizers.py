"""Sparsity penalties (slide 15). Filled in by the autoencoder work."""
