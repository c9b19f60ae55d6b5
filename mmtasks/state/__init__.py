"""Symbol state in Redis: the key schema, the fenced lock, and the atomic commit."""
