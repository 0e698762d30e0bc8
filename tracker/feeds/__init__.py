"""Status feeds from the post (tracking events) and from agencies (decisions)."""
