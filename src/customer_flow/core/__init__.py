"""Below everything: settings, the error tree, shared schemas, paging cursors and instants."""
