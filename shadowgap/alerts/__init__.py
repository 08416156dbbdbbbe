"""Alert lifecycle (open / renotify / resolve), evidence, notifiers and delivery.

``lifecycle`` turns drift events into alerts and Delivery rows; ``delivery`` sends those rows
through the notifier of their channel (``slack``, ``pagerduty``, ``webhook``, ``outbox``).
Nothing here commits: the caller (a task shell or a route) owns the transaction.
"""
