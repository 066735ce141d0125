"""Attacks: what an analyst holding the stored data can learn, one module each."""
