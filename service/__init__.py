"""Train, serve and batch-score the Iris model: the one package the image runs."""
