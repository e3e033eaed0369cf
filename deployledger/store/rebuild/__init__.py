"""Rebuilding the read model: events staged and folded inside the database (set-based), the
failure fields computed beside it, then verified and switched in atomically (`bluegreen`)."""
