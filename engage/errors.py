"""engage's exceptions: one small hierarchy, messages without command-line words.

Library code says what went wrong in one line; the CLI and the dashboard turn the type into a hint of
their own ("run `engage sessions` to list them", a link to the sessions page).
"""


class EngageError(Exception):
    """A problem the user can fix (bad input, missing file, bad config); its message is one line."""

    exit_code = 1


class NotFound(EngageError):
    """A session, file or model that does not exist."""


class SessionNotFound(NotFound):
    """No session with that id or name."""


class DatabaseUnavailable(EngageError):
    """The database cannot be used now: locked, read-only, unreachable, corrupt or of another schema."""


class ConfigError(EngageError):
    """A config file or override that is unreadable, unknown or of the wrong type."""


class SourceError(EngageError):
    """A source that cannot be opened: missing path, not a video, no frames, no camera, no stream."""


class SessionBusy(EngageError):
    """The media is being analysed right now by another live process."""
