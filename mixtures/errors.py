"""User-facing errors.

Every refusal the user can fix is a :class:`MixturesError`; its message names the file,
line or field and says what to do. The CLI prints these without a traceback.
"""

from __future__ import annotations


class MixturesError(Exception):
    """Base class for errors caused by the user's input or environment, not by a bug."""


class ConfigError(MixturesError):
    """The project configuration is invalid."""


class CorpusError(MixturesError):
    """A corpus file or domain cannot be read as configured."""


class MixtureError(MixturesError):
    """A mixture (domain -> weight) is invalid."""


class TableError(MixturesError):
    """A proxy-run table (wide format) is invalid."""


class InfeasibleError(MixturesError):
    """Optimization constraints cannot all hold at once."""


class TrainerError(MixturesError):
    """A proxy training run failed (diverged, timed out, crashed)."""


class TrackingError(MixturesError):
    """The MLflow tracking store cannot be reached or used."""
