"""The one error type whose message is meant for the person who caused it."""


class CoopError(Exception):
    """A rule was broken; the message is friendly and goes privately to the actor."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class StoreUnavailable(Exception):
    """The database is busy or unreachable for now (a held lock, a dropped connection):
    the work is retried, never reported to anyone as a failure."""
