"""Planning commands: launches, their timeline, scorecard and first-run scenarios."""
