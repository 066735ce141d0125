"""The Aqkol situation room: a Dash app that reads only the API."""
