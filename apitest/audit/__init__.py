"""The audit log: capture, redaction, the async buffer and writer, the store and its queries."""
