"""
Event intake: DAM webhooks (verified, then stored) and broker consumers (RabbitMQ, NATS).

Nothing here writes to the PIM: events go into the inbox (``daemon.store``), and the consumer
(``daemon.engine.inbox_consumer``) re-reads the assets from the DAM and writes them.
"""
