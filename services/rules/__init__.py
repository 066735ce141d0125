"""Alert rules. This first version ships one starter rule; the rule engine is a later issue."""
