"""The transactional outbox: work for the workers, written with the change that causes it."""
