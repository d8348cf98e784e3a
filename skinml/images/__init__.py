"""Images: upload rules, decoding at a model's size, the tf.data and NumPy pipelines, augmentation, packs."""
