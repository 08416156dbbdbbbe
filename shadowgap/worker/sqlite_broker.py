"""kombu's SQLAlchemy transport with a short polling interval, for the embedded default.

The stock transport polls an empty queue once a second and passes every transport option
to ``create_engine`` (so ``polling_interval`` cannot be set as an option). With prefetch 1, a
worker waits out that second between jobs: about one job per second per process. Polling
every 0.05 s costs a few idle SQLite reads and makes the embedded pipeline far faster.
"""

from __future__ import annotations

from kombu.transport import TRANSPORT_ALIASES, sqlalchemy


class Transport(sqlalchemy.Transport):
    polling_interval = 0.05


def install() -> None:
    """Make ``sqla+...`` broker URLs use this transport. kombu only accepts a transport
    class path through its alias table when the transport comes from a URL, so the alias
    is pointed here (in this process only)."""
    TRANSPORT_ALIASES["sqla"] = f"{__name__}:Transport"
