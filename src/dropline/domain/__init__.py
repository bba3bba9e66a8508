"""Pure rules and value types, the standard library only: no I/O, no framework."""
