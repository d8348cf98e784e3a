"""GANs: the thesis's DCGAN and our generators, their training step (TensorFlow and JAX), runs, latent space."""
