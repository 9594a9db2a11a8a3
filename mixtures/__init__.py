"""mixtures: a data mixture optimizer for language-model pretraining.

The library imports no Dagster; it is usable from a notebook or a script.
"""

__version__ = "0.1.0"
