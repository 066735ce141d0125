"""Data-minimization policies: the gate between the broker and the disk."""
