"""Stock commands: receive, adjust and count units; levels and the movement ledger; bins
and count sessions."""
