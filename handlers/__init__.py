"""From a registry's notification to the common event: one module per payload format, the
common event record, the parser table and image references. Pure: no I/O."""
