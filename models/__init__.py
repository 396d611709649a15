"""pynamodb models: the only code that knows the table layout."""
