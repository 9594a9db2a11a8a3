"""The dynamic partitions: one per training run (proxy, validation, online) and one per dataset domain."""

import dagster as dg

PROXY_PARTITIONS = dg.DynamicPartitionsDefinition(name="proxy_runs")
VALIDATION_PARTITIONS = dg.DynamicPartitionsDefinition(name="validation_runs")
ONLINE_PARTITIONS = dg.DynamicPartitionsDefinition(name="online_runs")
DATASET_PARTITIONS = dg.DynamicPartitionsDefinition(name="dataset_domains")
TRAINING_PARTITIONS = {"proxy": PROXY_PARTITIONS, "validation": VALIDATION_PARTITIONS, "online": ONLINE_PARTITIONS}


def register(context, partitions: dg.DynamicPartitionsDefinition, keys: list[str]) -> list[str]:
    """Add the keys the instance does not know yet; returns them."""
    known = set(context.instance.get_dynamic_partitions(partitions.name))
    new = [k for k in dict.fromkeys(keys) if k not in known]
    if new:
        context.instance.add_dynamic_partitions(partitions.name, new)
    return new
