"""Every error whose message is meant for the user, in one place.

The command line prints any :class:`UserError` as one line (``matinv-bench: error: ...``) and
exits with status 2 (1 for :class:`NoCellSucceeded`); anything else is a bug and keeps its traceback.
Library code raises the
most specific subclass, so that callers can catch what they can handle.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem with what the user asked for: printed as one line, exit status 2."""


class SpecError(UserError, ValueError):
    """A spec string or parameter that cannot be parsed, names nothing known, or is out of range."""


class OptionError(UserError, ValueError):
    """A command-line option whose value is out of range, or options that exclude each other."""


class InputError(UserError, ValueError):
    """Input a solver cannot take: wrong shape or dtype, NaN or Inf entries."""


class DataFileError(UserError, ValueError):
    """A data file or folder that is missing or malformed. The message names the file."""


class TooLargeError(UserError, MemoryError):
    """A request that would not fit in this machine's memory; the message gives the bytes."""


class NoCellSucceeded(UserError):
    """A run in which no cell succeeded: nothing to analyse or compare. One line, exit status 1
    (the run itself worked: its rows say why each cell failed or was skipped)."""

    exit_status = 1


class ManifestError(UserError):
    """results/manifest.toml is missing or malformed, or names a set it does not list."""


class DirtyTreeError(UserError):
    """A write into a committed result set from a work tree with uncommitted changes."""


class ReportError(DataFileError):
    """A results file the report needs is missing or malformed. The message names the file."""


class ClusterError(UserError, ValueError):
    """A Dask cluster that cannot be used (the extra is missing, the scheduler is unreachable)."""
