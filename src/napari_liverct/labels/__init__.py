"""Labels and their names: label tables, what a label map is, the one reader of dataset.json."""
