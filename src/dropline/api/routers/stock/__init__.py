"""Stock: bucket levels per SKU and the append-only movement ledger."""
