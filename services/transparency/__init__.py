"""What the command center owes the town: an audit trail of who looked, and a sensor register."""
