"""Database mechanics shared by the audit store, the key store and idempotency: engine, models, migrations."""
