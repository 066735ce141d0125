"""Accounts, roles and login: who may call which endpoint of the command center."""
