"""Stock commands: bins, count sessions and stock levels."""
