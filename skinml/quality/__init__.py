"""How good generated images are: realism measures, and whether they help a classifier as extra data."""
