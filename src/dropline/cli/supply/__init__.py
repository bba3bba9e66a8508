"""Supply commands: production runs, quality control, pre-orders."""
