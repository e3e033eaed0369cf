"""Fleet insight, computed from plain values: failure categories and fingerprints, failure
groups, delivery metrics (DORA) and the columns of the audit export. Pure."""
