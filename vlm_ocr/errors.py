"""UsageError: bad input from the user; the command line prints its message as one line and exits non-zero."""


class UsageError(Exception):
    """A wrong path, option or input file; the message names it and says how to fix it."""
