"""Background jobs: what the worker (``customer-flow worker``, a huey consumer) could not do
even after its retries, kept for admins to see (``failures``)."""
