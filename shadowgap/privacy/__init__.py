"""Privacy: PII redaction before storage, short-lived originals for the flagship and judge,
retention of prompt/answer text, and purges by segment or user."""
