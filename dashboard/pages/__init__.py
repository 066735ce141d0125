"""Dash pages of the command center: one file per page, registered with dash.register_page."""
