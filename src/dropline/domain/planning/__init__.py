"""Planning: launches before money is spent: scorecard, first-run scenarios, timeline."""
