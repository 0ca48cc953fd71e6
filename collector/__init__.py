"""HTTP in: validate canonical events, deduplicate on (source, id), quarantine bad input, append durably."""
