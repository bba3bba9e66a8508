"""Supply: manufacturers, production runs and milestones, pre-orders, QC."""
