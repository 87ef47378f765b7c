"""Customers: their rules and records, their schemas, and the substring search index."""
