"""The errors the command line prints as one line (``nobptt: error: ...``) instead of a traceback.

Each carries a message that names the file, field or value at fault and what to do about it.
Every layer raises these; only ``nobptt.cli`` catches them.
"""
from __future__ import annotations


class NobpttError(Exception):
    """Base class: an error whose message is meant for the user, not a bug."""


class ConfigError(NobpttError, ValueError):
    """A config file, override or command-line value that cannot be used."""


class DataError(NobpttError, RuntimeError):
    """A data file that is missing, damaged or cannot be fetched."""


class DivergedError(NobpttError, RuntimeError):
    """Training produced a non-finite loss; the last good checkpoint is left untouched."""


class RecordError(NobpttError, ValueError):
    """A results record that is malformed, or cannot be written honestly (e.g. from a dirty tree)."""


class RunFolderError(NobpttError, RuntimeError):
    """A run folder that cannot be used now: another process owns it, or it has nothing left to do."""


class DamagedFileError(NobpttError, RuntimeError):
    """A file of ours (a checkpoint) that is truncated, emptied or altered: its checksum does not match."""
