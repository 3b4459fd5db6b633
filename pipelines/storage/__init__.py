"""Where exported partitions are written, and how they are committed."""
