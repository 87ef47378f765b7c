"""Customer files: read, map, clean, validate, check for duplicates, load, export."""
