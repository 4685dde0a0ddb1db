"""Outbound webhooks: subscriptions, signed deliveries with retries and a dead-letter state, the delivery log.

- :mod:`~apitest.webhooks.signing`: Standard Webhooks and Stripe-style signatures, made and verified.
- :mod:`~apitest.webhooks.targets`: the allow-list every target URL must pass.
- :mod:`~apitest.webhooks.events`: audit filters of subscriptions and the payloads sent.
- :mod:`~apitest.webhooks.store`: subscriptions, the delivery outbox and its attempts in the database.
- :mod:`~apitest.webhooks.delivery`: one HTTP attempt (httpx) and the retry schedule.
- :mod:`~apitest.webhooks.worker`: the component that polls the audit log and sends due deliveries.
- :mod:`~apitest.webhooks.api`: ``/api/v1/admin/webhooks``.

``docs/webhooks.md`` describes the whole feature.
"""
