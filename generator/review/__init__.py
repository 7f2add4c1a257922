"""Review: per-OU, IAM-aware diffs of org roles for the people who approve them."""
