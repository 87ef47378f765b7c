"""Duplicate customers: the model, the finder, the fields it compares, merges and undo."""
