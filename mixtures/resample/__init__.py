"""Materialize the mixed training set: plan draws per domain, DSIR importance resampling,
deterministic shards with a manifest, and exports for training stacks."""
