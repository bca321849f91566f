"""The Omniglot tasks built on the model: one-shot classification (more to come)."""
