"""Warning classes of qtheory."""

__all__ = ["QuadratureWarning"]


class QuadratureWarning(UserWarning):
    """A numerical integral did not reach the requested tolerance; the message gives the
    achieved error."""
