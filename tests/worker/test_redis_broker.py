"""The Redis transport workaround: a channel closed after a broker outage, still holding
unacknowledged messages, must not crash the worker when it restores them (kombu 5.x raised
``AttributeError: 'NoneType' object has no attribute 'hostname'`` there), and must not lose
them: they stay in Redis's unacked hash for restore_visible."""

from __future__ import annotations

import redis
from kombu import Connection, Exchange, Queue

from shadowgap.config import Settings
from shadowgap.worker.queue import celery_config


def test_restoring_from_a_detached_channel_neither_crashes_nor_loses(redis_url: str) -> None:
    celery_config(Settings(broker_url=redis_url))  # installs the transport, as every app does
    queue = Queue("faults", Exchange("faults"), routing_key="faults")
    connection = Connection(redis_url)
    assert type(connection.transport).__module__ == "shadowgap.worker.redis_broker"
    with connection.Producer() as producer:
        producer.publish({"job": 1}, exchange=queue.exchange, routing_key="faults", declare=[queue])
    channel = connection.channel()
    received: list[object] = []
    consumer = connection.Consumer(
        queue, channel=channel, callbacks=[lambda body, message: received.append(body)]
    )
    consumer.consume()
    connection.drain_events(timeout=5)
    assert received == [{"job": 1}] and len(channel.qos._delivered) == 1

    # What Celery's reconnect leaves behind: the channel's pools dropped, the transport
    # detached from its closed connection, the channel still holding the unacked message.
    channel._disconnect_pools()
    connection._do_close_transport()
    channel.qos.restore_unacked()  # stock kombu: AttributeError ... 'hostname'

    assert len(channel.qos._delivered) == 0
    assert redis.Redis.from_url(redis_url).hlen("unacked") == 1  # kept for restore_visible
