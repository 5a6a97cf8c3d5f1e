"""One module per resource: its attribute map as data. ``all_resources`` builds them over the services."""
