"""kombu's Redis transport, made to survive a broker restart under a busy worker.

The failure (kombu 5.x, seen with 5.7.0): when the connection to Redis is lost, Celery closes
the worker's kombu ``Connection``; closing it detaches the transport from it
(``transport.client = None``, kombu/connection.py ``_do_close_transport``), and a Redis channel
that closes drops its connection pool first (``_disconnect_pools``). A channel that still holds
unacknowledged messages then restores them (``QoS.restore_unacked``, on close or from its
``Finalize`` hook), which must build a new pool from ``channel.connection.client``; that is
None, so it raises ``AttributeError: 'NoneType' object has no attribute 'hostname'``
(kombu/transport/redis.py ``_connparams``). When that happens on the consumer's restart path
the worker logs ``Unrecoverable error`` and stops consuming for good.

The workaround: a channel with no usable connection does not try to restore. Nothing is lost
by skipping: each unacknowledged message is still in Redis's ``unacked`` hash (written when it
was delivered), and ``restore_visible`` puts it back on its queue after the visibility timeout;
when Redis restarted empty, the messages are gone either way, and shadowgap's sweeps re-send
the jobs from the database (``SHADOWGAP_JOB_LOST_AFTER_SECONDS``). A restore that fails because
Redis is down is skipped for the same reason instead of escaping from ``close()``.
"""

from __future__ import annotations

import logging
from typing import Any

from kombu.transport import TRANSPORT_ALIASES, redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)


class QoS(redis.QoS):  # type: ignore[misc]
    def restore_unacked(self, client: Any = None) -> None:
        transport = self.channel.connection
        delivered: Any = self._delivered  # kombu declares it None at class level
        if client is None and (transport is None or transport.client is None):
            log.warning(
                "not restoring %d unacknowledged message(s) of a closed channel: they stay in "
                "Redis's unacked hash and return after the visibility timeout",
                len(delivered),
            )
            delivered.clear()
            return
        try:
            super().restore_unacked(client)
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            log.warning(
                "could not restore %d unacknowledged message(s) (%s): they stay in Redis's "
                "unacked hash and return after the visibility timeout",
                len(delivered),
                type(exc).__name__,
            )
            delivered.clear()


class Channel(redis.Channel):  # type: ignore[misc]
    QoS = QoS


class Transport(redis.Transport):  # type: ignore[misc]
    Channel = Channel


def install() -> None:
    """Make ``redis://`` and ``rediss://`` broker URLs use this transport (this process only),
    as :func:`shadowgap.worker.sqlite_broker.install` does for the embedded broker."""
    TRANSPORT_ALIASES["redis"] = f"{__name__}:Transport"
    TRANSPORT_ALIASES["rediss"] = f"{__name__}:Transport"
