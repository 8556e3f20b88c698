"""Expected-side loaders. For now, files and standard input in any list format."""
