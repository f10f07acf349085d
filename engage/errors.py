"""The one exception type the CLI turns into a one-line message and a non-zero exit."""


class EngageError(Exception):
    """A problem the user can fix (bad input, missing file, bad config); its message is one line."""

    exit_code = 1
