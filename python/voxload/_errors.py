"""voxload's exceptions: one base class, and subclasses that are also the matching built-in."""

import builtins


class Error(Exception):
    """Base class of every error voxload raises; the message names the file, key or value."""


class NotFoundError(Error, FileNotFoundError):
    """A store, array or file that does not exist (or is not a Zarr store)."""


class ArrayKeyError(Error, KeyError):
    """No array of that name in the store; the message lists the arrays there are."""

    def __str__(self) -> str:  # KeyError would show the message quoted
        return str(self.args[0]) if self.args else ""


class ValueError(Error, builtins.ValueError):  # noqa: A001 (voxload.ValueError is a ValueError)
    """A bad argument or configuration value; the message names the key or option."""
