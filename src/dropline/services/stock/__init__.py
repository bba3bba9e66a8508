"""Stock: bucket levels per SKU, the movement ledger, bins and count sessions."""
